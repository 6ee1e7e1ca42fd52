"""Where a query runs: the read replica for heavy reads, and the PgBouncer pool mode check.

Heavy reads (consent exports, health charts, the evidence bundle, the staff queues) ask
`replica_for_reads()` for an alias and pass it to `.using(...)` / `connections[...]`. It answers
`"replica"` only when DATABASE_REPLICA_URL is set and the replica answers right now with a
replay lag within DATABASE_REPLICA_MAX_LAG_SECONDS, and `"default"` (the primary) otherwise:
a replica that is down, lagging or not a replica at all never fails a request, it only sends
the read back to the primary. Writes never ask, and neither do reads inside a transaction the
code opened (read-your-writes: the replica cannot see what that transaction wrote).

The replica connection is django-tenants' backend too, so it follows the primary connection's
schema: each answer of "replica" first sets the replica connection to the tenant the primary
connection is on.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections

log = logging.getLogger(__name__)

REPLICA = "replica"

# 0 when the replica has replayed all it received (an idle primary is not lag), else the age of
# the last transaction it replayed.
_LAG_SQL = """
SELECT pg_is_in_recovery(),
       CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
            ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
       END::float8
"""

# Monotonic time until which the replica is not tried again after it failed (per process).
_skip_until = 0.0


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def replica_lag_seconds() -> float | None:
    """The replica's replay lag in seconds, or None when it is down or not a replica."""
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(_LAG_SQL)
            in_recovery, lag = cursor.fetchone()
    except DatabaseError as exc:
        log.warning("read replica unavailable, reading from the primary: %s", exc)
        connections[REPLICA].close()
        return None
    if not in_recovery:
        log.warning("DATABASE_REPLICA_URL is not a replica (not in recovery); not used")
        return None
    return float(lag)


def _in_own_transaction() -> bool:
    """Inside an atomic block the code opened (not one a test case wraps every test in)."""
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


def replica_for_reads() -> str:
    """The alias for a heavy read that may be a few seconds stale (see the module docstring)."""
    global _skip_until
    if not replica_configured() or _in_own_transaction():
        return DEFAULT_DB_ALIAS
    if time.monotonic() < _skip_until:
        return DEFAULT_DB_ALIAS
    replica = connections[REPLICA]
    if replica.schema_name != connection.schema_name:
        replica.set_tenant(connection.tenant, connection.include_public_schema)
    lag = replica_lag_seconds()
    if lag is None:
        _skip_until = time.monotonic() + settings.DATABASE_REPLICA_RETRY_SECONDS
        return DEFAULT_DB_ALIAS
    if lag > settings.DATABASE_REPLICA_MAX_LAG_SECONDS:
        log.info("read replica %.1f s behind, reading from the primary", lag)
        return DEFAULT_DB_ALIAS
    return REPLICA


def replica_retry_now() -> None:
    """Forget a failed replica check (the next read tries the replica again)."""
    global _skip_until
    _skip_until = 0.0


# --- PgBouncer ------------------------------------------------------------------------------


def _admin_params(s: dict) -> dict:
    """PgBouncer's admin console: DATABASE_POOL_ADMIN_URL, else DATABASE_URL's server and user
    with the `pgbouncer` database (the user must be in PgBouncer's admin_users/stats_users)."""
    if settings.DATABASE_POOL_ADMIN_URL:
        return {"conninfo": settings.DATABASE_POOL_ADMIN_URL}
    params = {"host": s["HOST"] or None, "port": s["PORT"] or None, "user": s["USER"] or None}
    return {**params, "password": s["PASSWORD"] or None, "dbname": "pgbouncer"}


def _admin_label(s: dict) -> str:
    params = _admin_params(s)
    if "conninfo" in params:
        return "DATABASE_POOL_ADMIN_URL"
    return f"{params['host'] or 'localhost'}:{params['port'] or 5432}/pgbouncer"


def pool_mode_reported(database: dict | None = None) -> str | None:
    """The pool mode PgBouncer applies to DATABASE_URL's database, or None when DATABASE_URL
    does not reach a PgBouncer (nothing answers as its admin console)."""
    import psycopg

    s = database or settings.DATABASES[DEFAULT_DB_ALIAS]
    name = s["NAME"]
    try:
        with psycopg.connect(**_admin_params(s), autocommit=True, connect_timeout=3) as admin:
            config = {row[0]: row[1] for row in admin.execute("SHOW CONFIG").fetchall()}
            databases = admin.execute("SHOW DATABASES")
            columns = [col.name for col in databases.description]
            rows = [dict(zip(columns, row, strict=True)) for row in databases.fetchall()]
    except psycopg.Error as exc:
        if "not allowed" in str(exc):  # PgBouncer's answer to a user outside stats_users
            raise ImproperlyConfigured(
                f"DATABASE_URL reaches a PgBouncer whose admin console ({_admin_label(s)}) "
                "refuses the portal's user, so its pool mode cannot be checked. Add the user "
                "to PgBouncer's stats_users, or set DATABASE_POOL_ADMIN_URL."
            ) from exc
        return None
    for row in rows:
        if row["name"] == name and row.get("pool_mode"):
            return row["pool_mode"]
    return config.get("pool_mode")


def pool_mode_verify(*, declared: str | None = None, database: dict | None = None) -> None:
    """Refuse to start when DATABASE_POOL_MODE does not match what PgBouncer does.

    Called by the web (portal/wsgi.py) and worker (portal/celery.py) processes at start-up.
    transaction: safe only with this portal's backend in transaction mode; session: safe;
    statement pooling breaks transactions and is never accepted.
    """
    declared = declared or settings.DATABASE_POOL_MODE
    s = database or settings.DATABASES[DEFAULT_DB_ALIAS]
    reported = pool_mode_reported(s)
    if reported is None:
        if declared != "none":
            raise ImproperlyConfigured(
                f"DATABASE_POOL_MODE={declared} but PgBouncer's admin console "
                f"({_admin_label(s)}) does not answer, so its pool mode cannot be checked. "
                "Add the portal's database user to PgBouncer's stats_users (or admin_users), "
                "or set DATABASE_POOL_ADMIN_URL."
            )
        return
    if reported == "statement":
        raise ImproperlyConfigured(
            "PgBouncer runs pool_mode=statement, which breaks transactions; use transaction "
            "(with DATABASE_POOL_MODE=transaction) or session."
        )
    if reported != declared:
        advice = {
            "transaction": "Set DATABASE_POOL_MODE=transaction so that every transaction sets "
            "its own search_path (SET LOCAL); with per-connection search_path a pooled "
            "server connection would run one client's queries in another client's schema.",
            "session": "Set DATABASE_POOL_MODE=session.",
        }[reported]
        raise ImproperlyConfigured(
            f"DATABASE_POOL_MODE={declared} but PgBouncer at DATABASE_URL runs "
            f"pool_mode={reported}. {advice}"
        )


# (name) → (sql, params, aliases) of a count compiled once (`counts_compiled_once`).
_COMPILED_COUNTS: dict[str, tuple[str, tuple, tuple[str, ...]]] = {}


def counts_compiled_once(name: str, queryset, **counts) -> dict[str, int]:
    """`queryset.aggregate(**counts)` for counts whose SQL never changes (no value from the
    request or the clock in it): the ORM compiles it on the first call in the process, later
    calls run that same SQL and params. Compiling an aggregate of many filtered counts costs
    ~30x running it on a small table. The SQL names no schema, so it runs in the tenant the
    connection is on, like the ORM's. `name` identifies the query: one name, one query."""
    compiled = _COMPILED_COUNTS.get(name)
    if compiled is None:
        captured: list[tuple[str, tuple]] = []

        def capture(execute, sql, params, many, context):
            captured.append((sql, tuple(params or ())))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(capture):
            result = queryset.aggregate(**counts)
        if len(captured) == 1:  # else (none: an empty queryset) the ORM answers each time
            _COMPILED_COUNTS[name] = (*captured[0], tuple(result))
        return result
    sql, params, aliases = compiled
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return dict(zip(aliases, row, strict=True))
