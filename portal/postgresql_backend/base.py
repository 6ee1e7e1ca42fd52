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
session outlives its transaction. With any other pool mode this is django-tenants' backend.
"""

from __future__ import annotations

import re

from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper
from django_tenants.utils import quote_schema_name
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


class DatabaseWrapper(TenantDatabaseWrapper):
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
        if not self.transaction_pooling:
            return super()._handle_search_path(cursor)
        # Set per transaction by _in_schema_transaction, never per session.
        return None

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
        super().close()
