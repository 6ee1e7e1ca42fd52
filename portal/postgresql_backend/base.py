"""django-tenants' PostgreSQL backend, made safe behind PgBouncer in transaction pooling.

django-tenants sets the tenant's `search_path` with a session-level `SET` once per connection
(`TENANT_LIMIT_SET_CALLS`). Behind PgBouncer with `pool_mode = transaction`, every transaction
may run on a different server connection, so that `SET` stays behind on a server connection
that the next client's transaction then borrows: one client's queries run in another client's
schema (tests/tenants/test_pgbouncer_leak.py shows it with the stock backend).

With `POOL_MODE = "transaction"` in the DATABASES entry (DATABASE_POOL_MODE), this backend never
issues a session-level `SET search_path`. Instead every statement runs inside a transaction
whose search path is set with `SET LOCAL`, which PostgreSQL forgets at COMMIT/ROLLBACK:

- inside a transaction (`atomic`, ATOMIC_REQUESTS): `SET LOCAL search_path` before the first
  statement, and again after a schema switch or a rollback to a savepoint;
- outside one (autocommit): the statement is wrapped as `BEGIN; SET LOCAL search_path ...;
  <statement>; COMMIT` (two extra round trips; wrap work in `atomic` to pay them once).

Together with server-side cursors off (DISABLE_SERVER_SIDE_CURSORS) and no prepared statements
(`prepare_threshold=None`; PgBouncer 1.18 cannot route them in transaction mode), no state of a
session outlives its transaction.

With any other pool mode this is django-tenants' backend, with one saving: the session-level
`SET search_path` that django-tenants sends on its own when the schema changed travels in the
same message as the statement that needs it (`SET search_path = …;\n<statement>`, PostgreSQL's
simple protocol runs both), one round trip instead of two. Each client group of a webhook drain,
each page and each client of a sync starts with one (on a loaded machine a round trip costs a
wake-up of the database's process and one of ours: the SET was an eighth of a drain's time).
Whatever cannot carry it (executemany, COPY, a cursor's raw handle, a statement PostgreSQL
refuses in a transaction block, a ROLLBACK, an aborted transaction) has it sent first on its
own, as before; a statement that fails sends it again with the next one, since a failed message
takes its SET with it. The query log keeps both statements, as before.
"""

from __future__ import annotations

import re

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.postgresql.base import CursorDebugWrapper as PgCursorDebugWrapper
from django.db.backends.postgresql.operations import DatabaseOperations as PgDatabaseOperations
from django.db.backends.utils import CursorWrapper
from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper
from django_tenants.utils import get_limit_set_calls, quote_schema_name
from psycopg import pq

from portal.postgresql_backend.introspection import DatabaseIntrospection

_ROLLBACK_FROM = {pq.TransactionStatus.INTRANS, pq.TransactionStatus.INERROR}
# Statements PostgreSQL refuses inside a transaction block: sent as they are (none of them
# depends on the search path except an unqualified CREATE INDEX CONCURRENTLY; see README).
_NO_TRANSACTION = re.compile(
    r"^\s*(?:(?:CREATE|DROP)\s+DATABASE|VACUUM|ALTER\s+SYSTEM|(?:CREATE|DROP)\s+INDEX\s+"
    r"CONCURRENTLY|REINDEX\b.*\bCONCURRENTLY)",
    re.IGNORECASE | re.DOTALL,
)
_ROLLBACK = re.compile(r"^\s*ROLLBACK\b", re.IGNORECASE)
# Between the folded SET and the statement (also how the query log tells them apart).
_FOLD_JOIN = ";\n"


class _FoldsSearchPath:
    """A cursor wrapper that sends its connection's pending `SET search_path` with the next
    statement (`DatabaseWrapper._search_path_pending`). Any other use of the psycopg cursor
    (`.cursor`: fetches, COPY, executemany) sends a pending SET first, on its own."""

    db: DatabaseWrapper

    @property
    def cursor(self):
        raw = self.__dict__["_raw_cursor"]
        if self.db._search_path_pending is not None:
            self.db._search_path_flush()
        return raw

    @cursor.setter
    def cursor(self, raw) -> None:
        self.__dict__["_raw_cursor"] = raw

    def _execute(self, sql, params, *ignored_wrapper_args):
        db = self.db
        pending = db._search_path_pending
        raw = self.__dict__["_raw_cursor"]
        if pending is None or not db._search_path_foldable(raw, sql, params):
            return super()._execute(sql, params, *ignored_wrapper_args)
        db._search_path_pending = None
        db._search_path_folded = pending + _FOLD_JOIN
        db._search_path_logged(pending)
        try:
            result = super()._execute(pending + _FOLD_JOIN + sql, params, *ignored_wrapper_args)
        except BaseException:
            # The failed message's SET failed with it (autocommit), or goes with its
            # transaction or savepoint: sent again with the next statement.
            db._search_path_pending = pending
            raise
        with db.wrap_database_errors:
            raw.nextset()  # the statement's results, not the SET's
        return result


class _Cursor(_FoldsSearchPath, CursorWrapper):
    pass


class _DebugCursor(_FoldsSearchPath, PgCursorDebugWrapper):
    pass


class DatabaseOperations(PgDatabaseOperations):
    def last_executed_query(self, cursor, sql, params):
        """The statement as sent, without a SET search_path folded in front of it (the log has
        that SET as a statement of its own)."""
        text = super().last_executed_query(cursor, sql, params)
        folded = self.connection._search_path_folded
        if text and folded and text.startswith(folded):
            return text[len(folded) :]
        return text


class DatabaseWrapper(TenantDatabaseWrapper):
    ops_class = DatabaseOperations
    # The SET search_path the next statement carries (not yet sent), and the prefix of the last
    # statement that carried one (for the query log).
    _search_path_pending: str | None = None
    _search_path_folded: str | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.introspection = DatabaseIntrospection(self)
        self.pool_mode = self.settings_dict.get("POOL_MODE") or "none"
        # The search path SET LOCAL in the current transaction (None: not set in it yet).
        self._local_search_path: str | None = None
        if self.pool_mode == "transaction":
            # First in the list: the outermost wrapper, around any a test or tool adds.
            self.execute_wrappers.insert(0, self._in_schema_transaction)

    @property
    def transaction_pooling(self) -> bool:
        return self.pool_mode == "transaction"

    # --- the search path -------------------------------------------------------------------
    def _handle_search_path(self, cursor=None):
        if self.transaction_pooling:
            # Set per transaction by _in_schema_transaction, never per session.
            return None
        if cursor is None:  # a throwaway cursor of django-tenants' (named cursors): sent now
            self._search_path_pending = None
            return super()._handle_search_path(cursor)
        # django-tenants' rule for when a SET is due; sent with the next statement.
        if self._setting_search_path or (get_limit_set_calls() and self.search_path_set_schemas):
            return None
        if not self.schema_name:
            raise ImproperlyConfigured(
                "Database schema not set. Did you forget to call set_schema() or set_tenant()?"
            )
        paths = self._get_cursor_search_paths()  # validates every name
        self._search_path_pending = "SET search_path = " + ",".join(
            quote_schema_name(p) for p in paths
        )
        self.search_path_set_schemas = paths
        return None

    def make_cursor(self, cursor):
        return _Cursor(cursor, self)

    def make_debug_cursor(self, cursor):
        return _DebugCursor(cursor, self)

    def _search_path_foldable(self, raw, sql, params) -> bool:
        """Whether the pending SET can go in the same message as `sql`: a client-side cursor
        (simple protocol), one statement PostgreSQL runs in a transaction block, not a rollback
        (it would undo the SET), a transaction not aborted (it would refuse the SET)."""
        return (
            isinstance(sql, str)
            and isinstance(raw, psycopg.ClientCursor)
            and not (params is not None and "%" in self._search_path_pending)
            and self.connection.info.transaction_status != pq.TransactionStatus.INERROR
            and not _NO_TRANSACTION.match(sql)
            and not _ROLLBACK.match(sql)
        )

    def _search_path_flush(self) -> None:
        """Send the pending SET on its own (on a cursor of its own: the caller's keeps its
        results). Left pending in an aborted transaction, which would refuse it: the next
        statement after the rollback carries it."""
        pending = self._search_path_pending
        raw = self.connection
        if pending is None or raw is None or raw.closed:
            return
        if raw.info.transaction_status == pq.TransactionStatus.INERROR:
            return
        self._search_path_pending = None
        self._search_path_logged(pending)
        try:
            with self.wrap_database_errors:
                raw.execute(pending)
        except BaseException:
            self._search_path_pending = pending
            raise

    def _search_path_logged(self, statement: str) -> None:
        if self.queries_logged:
            self.queries_log.append({"sql": statement, "time": "0.000"})

    def _search_path_sql(self) -> str:
        paths = self._get_cursor_search_paths()  # validates every name
        return "SET LOCAL search_path = " + ",".join(quote_schema_name(p) for p in paths)

    def _in_schema_transaction(self, execute, sql, params, many, context):
        if isinstance(sql, str) and _NO_TRANSACTION.match(sql):
            return execute(sql, params, many, context)
        # Our statements go through a cursor of their own: the caller's keeps its results.
        raw = self.connection
        statement = self._search_path_sql()
        status = self.connection.info.transaction_status
        if status == pq.TransactionStatus.IDLE and self.get_autocommit():
            # Autocommit: this statement is a transaction of its own, with its search path.
            raw.execute(f"BEGIN; {statement}")
            try:
                result = execute(sql, params, many, context)
            except BaseException:
                if self.connection.info.transaction_status in _ROLLBACK_FROM:
                    raw.execute("ROLLBACK")
                raise
            raw.execute("COMMIT")
            return result
        if self._local_search_path != statement and status != pq.TransactionStatus.INERROR:
            # In a transaction (atomic): psycopg opens it with this statement if it is the first.
            raw.execute(statement)
            self._local_search_path = statement
        return execute(sql, params, many, context)

    # --- forget the SET LOCAL whenever PostgreSQL does ----------------------------------------
    def set_tenant(self, tenant, include_public=True):
        super().set_tenant(tenant, include_public)
        self._local_search_path = None

    def _commit(self):
        self._local_search_path = None
        return super()._commit()

    def _rollback(self):
        self._local_search_path = None
        return super()._rollback()

    def _savepoint_rollback(self, sid):
        self._local_search_path = None
        return super()._savepoint_rollback(sid)

    def _set_autocommit(self, autocommit):
        self._local_search_path = None
        return super()._set_autocommit(autocommit)

    def close(self):
        self._local_search_path = None
        self._search_path_pending = None
        super().close()
