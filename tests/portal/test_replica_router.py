"""Heavy reads go to a real streaming replica while it is current, and to the primary when it
lags, is down, is not a replica, or the caller is inside its own transaction.

Needs DATABASE_REPLICA_URL: a hot standby of DATABASE_URL's server (.ci/run starts one with
`pg_basebackup -R` on port 5433). The replica connection is pointed at the replica's copy of
the test database; the session's clients and people reach it by streaming replication.
"""

from __future__ import annotations

import csv
import io
import socket
import time

import psycopg
import pytest
from django.conf import settings
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from compliance.exports import KINDS, consent_csv_lines
from portal.db import REPLICA, replica_for_reads, replica_lag_seconds, replica_retry_now

pytestmark = [
    pytest.mark.skipif(
        REPLICA not in settings.DATABASES,
        reason="DATABASE_REPLICA_URL is not set (.ci/run starts a replica and sets it)",
    ),
    # The test case opens its (empty) transaction on the alias' own connection; the tests use
    # a connection of their own to it (the `replica` fixture).
    pytest.mark.django_db(databases=["default", REPLICA]),
]


def _wait_for(what: str, probe, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(0.05)


def _header(kind: str) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(KINDS[kind])
    return out.getvalue()


def _caught_up() -> bool:
    return replica_lag_seconds() == 0


def _point_replica_at(**changes) -> None:
    wrapper = connections[REPLICA]
    wrapper.close()
    wrapper.settings_dict = {**wrapper.settings_dict, **changes}


@pytest.fixture
def replica():
    """The replica connection, on the replica's copy of this run's test database.

    A connection of its own for the test: the test case opens no transaction on it (it holds
    only what the primary committed) and does not count it among the test's databases."""
    original = connections[REPLICA]
    wrapper = type(original)(
        {**settings.DATABASES[REPLICA], "NAME": connection.settings_dict["NAME"]}, REPLICA
    )
    connections[REPLICA] = wrapper
    replica_retry_now()
    try:
        _wait_for("the replica to replay the test database", _caught_up)
        yield wrapper
    finally:
        wrapper.close()
        connections[REPLICA] = original
        replica_retry_now()
        with _connect(settings.DATABASES[REPLICA]) as standby:  # a test may have paused it
            standby.execute("SELECT pg_wal_replay_resume()")


def _connect(s: dict) -> psycopg.Connection:
    return psycopg.connect(
        host=s["HOST"] or None,
        port=s["PORT"] or None,
        user=s["USER"] or None,
        password=s["PASSWORD"] or None,
        dbname=connection.settings_dict["NAME"],
        autocommit=True,
    )


def _primary_commit() -> None:
    """A committed transaction on the primary, outside the test's own (WAL to replay)."""
    with _connect(connection.settings_dict) as primary, primary.transaction():
        primary.execute("SELECT txid_current()")


def test_reads_go_to_a_current_replica_in_the_callers_schema(replica, acme, globex):
    with schema_context(acme.schema_name):
        assert replica_for_reads() == REPLICA
        assert replica.schema_name == acme.schema_name
    with schema_context(globex.schema_name):
        assert replica_for_reads() == REPLICA
        assert replica.schema_name == globex.schema_name


def test_consent_export_reads_the_replica_not_the_primary(replica, acme):
    with (
        schema_context(acme.schema_name),
        CaptureQueriesContext(connection) as on_primary,
        CaptureQueriesContext(replica) as on_replica,
    ):
        lines = list(consent_csv_lines(kind="state"))

    assert lines == [_header("state")]  # the replica sees only committed rows: none here
    assert [q for q in on_replica.captured_queries if "compliance_consent" in q["sql"]] != []
    assert [q for q in on_primary.captured_queries if "compliance_consent" in q["sql"]] == []


def test_staff_fleet_page_reads_the_work_index_on_the_replica(replica, web, staff_manager):
    with CaptureQueriesContext(replica) as on_replica:
        response = web(None, staff_manager).get("/staff/fleet/")

    assert response.status_code == 200
    assert [q for q in on_replica.captured_queries if "tenants_workitem" in q["sql"]] != []


def test_a_lagging_replica_sends_reads_to_the_primary(replica, settings):
    with replica.cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_pause()")
    _primary_commit()
    _wait_for("WAL the paused replica has received but not replayed", lambda: not _caught_up())

    settings.DATABASE_REPLICA_MAX_LAG_SECONDS = 0
    assert replica_lag_seconds() > 0
    assert replica_for_reads() == "default"
    settings.DATABASE_REPLICA_MAX_LAG_SECONDS = 3600  # behind, but within what is allowed
    assert replica_for_reads() == REPLICA

    with replica.cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_resume()")
    _wait_for("the replica to catch up", _caught_up)
    settings.DATABASE_REPLICA_MAX_LAG_SECONDS = 0
    assert replica_for_reads() == REPLICA


def test_a_stopped_replica_sends_reads_to_the_primary_and_pages_still_answer(
    replica, web, staff_manager, acme
):
    with socket.socket() as sock:  # a port nothing listens on: what a stopped server looks like
        sock.bind(("127.0.0.1", 0))
        nothing = sock.getsockname()[1]
    _point_replica_at(PORT=str(nothing))

    assert replica_for_reads() == "default"
    assert web(None, staff_manager).get("/staff/fleet/").status_code == 200
    with schema_context(acme.schema_name):
        assert list(consent_csv_lines(kind="history")) == [_header("history")]


def test_a_primary_configured_as_replica_is_not_used(replica):
    s = connection.settings_dict
    _point_replica_at(HOST=s["HOST"], PORT=s["PORT"])

    assert replica_for_reads() == "default"


def test_reads_inside_the_callers_transaction_stay_on_the_primary(replica):
    with transaction.atomic():
        assert replica_for_reads() == "default"
    assert replica_for_reads() == REPLICA
