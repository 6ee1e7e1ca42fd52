"""Tenant tasks run in the schema they were sent from, and refuse to run without one; tasks keep
their database connection as requests do."""

import threading
import time

import pytest
from celery.fixups.django import DjangoWorkerFixup
from django.conf import settings
from django.db import connection

from portal.celery import TenantSchemaRequired, app, close_old_database_connections
from tenants.models import Client
from tenants.tasks import client_housekeeping, fan_out_tenant_housekeeping


def test_tenant_task_without_a_schema_refuses_to_run(db):
    assert connection.schema_name == "public"

    with pytest.raises(TenantSchemaRequired, match="without a tenant schema"):
        client_housekeeping.apply().get()


def test_tenant_task_applied_inside_a_tenant_runs_there_and_touches_only_that_client(acme, globex):
    connection.set_tenant(acme)

    result = client_housekeeping.apply().get()

    assert result["schema"] == "c_acme"
    acme.refresh_from_db()
    globex.refresh_from_db()
    assert acme.storage_bytes == result["storage_bytes"] > 0
    assert globex.storage_bytes is None


def test_fan_out_sends_one_task_per_active_client_from_one_query(
    db, monkeypatch, django_assert_max_num_queries
):
    sent = []
    monkeypatch.setattr(
        "tenants.tasks.enqueue_for_schema", lambda task, schema: sent.append((task.name, schema))
    )

    # A first run warms what the process caches once (the tenant lookup of tenant_schemas_celery
    # among them); which test ran before this one must not decide the count.
    fan_out_tenant_housekeeping.apply().get()
    sent.clear()
    with django_assert_max_num_queries(3):  # search_path, the schemas, the hand-off purge
        count = fan_out_tenant_housekeeping.apply().get()

    assert count == 2
    assert sorted(sent) == [
        ("tenants.tasks.client_housekeeping", "c_acme"),
        ("tenants.tasks.client_housekeeping", "c_globex"),
    ]


@pytest.mark.slow
@pytest.mark.django_db
def test_real_worker_runs_each_task_in_the_schema_it_was_sent_from(
    celery_worker_queue, django_db_blocker
):
    with django_db_blocker.unblock():
        acme, globex = Client.objects.get(slug="acme"), Client.objects.get(slug="globex")

    # Sent from inside globex's schema, with no explicit schema: the header carries it.
    connection.set_tenant(globex)
    from_globex = client_housekeeping.apply_async(queue=celery_worker_queue)
    connection.set_schema_to_public()
    # Sent from public with an explicit schema.
    to_acme = client_housekeeping.apply_async(
        queue=celery_worker_queue, headers={"_schema_name": acme.schema_name}
    )
    # Sent from public with no schema at all: refused by the worker.
    schemaless = client_housekeeping.apply_async(queue=celery_worker_queue)

    assert from_globex.get(timeout=60)["schema"] == "c_globex"
    assert to_acme.get(timeout=60)["schema"] == "c_acme"
    with pytest.raises(Exception, match="without a tenant schema"):
        schemaless.get(timeout=60)
    assert schemaless.state == "FAILURE"
    with django_db_blocker.unblock():
        stored = dict(
            Client.objects.filter(slug__in=["acme", "globex"]).values_list("slug", "storage_bytes")
        )
    assert stored["acme"] > 0
    assert stored["globex"] > 0


def _in_own_thread(fn):
    """Run `fn` on a thread of its own: its database connection is a worker's, in autocommit,
    not the test's (which sits inside the test transaction)."""
    results = []
    thread = threading.Thread(target=lambda: results.append(fn()))
    thread.start()
    thread.join()
    return results[0]


def test_tasks_reuse_a_healthy_connection_and_drop_an_obsolete_one(db):
    """Celery's fixup would close the connection around every task; it is told to keep it, and
    the connection lives as a request's does (DB_CONN_MAX_AGE, health)."""
    assert DjangoWorkerFixup(app).db_reuse_max == settings.CELERY_DB_REUSE_MAX > 0

    def around_two_tasks():
        connection.ensure_connection()
        connection.close_at = time.monotonic() + 60  # as with DB_CONN_MAX_AGE=60
        first = connection.connection
        close_old_database_connections(sender=client_housekeeping)  # prerun
        close_old_database_connections(sender=client_housekeeping)  # postrun
        kept = connection.connection is first
        connection.close_at = time.monotonic() - 1  # past its age
        close_old_database_connections(sender=client_housekeeping)
        dropped = connection.connection is None
        connection.close()
        return kept, dropped

    assert _in_own_thread(around_two_tasks) == (True, True)


def test_an_eager_task_leaves_the_callers_connection_alone(db):
    def eager_task_on_an_obsolete_connection():
        connection.ensure_connection()
        connection.close_at = time.monotonic() - 1
        client_housekeeping.push_request(is_eager=True)
        try:
            close_old_database_connections(sender=client_housekeeping)
        finally:
            client_housekeeping.pop_request()
        open_still = connection.connection is not None
        connection.close()
        return open_still

    assert _in_own_thread(eager_task_on_an_obsolete_connection) is True
