"""The sync's shortcut for templates: Meta's list unchanged and the rows as the last sync left
them, so they are only confirmed (one statement, no read). Anything else is reconciled as
before: a row changed since, a list Meta changed, a newer state a webhook stated."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance.models import HealthEvent, WhatsAppAccount
from compliance.sync import client_sync
from portal.meta.client import GraphClient
from portal.meta.simulator import SimulatorServer
from portal.meta.simulator.scenario import generate, waba_id_for
from templates_review.meta_sync import _SYNCED_FIELDS
from templates_review.models import MessageTemplate, MetaTemplateHistory, TemplateSyncMark

TEMPLATE_TABLE = 'FROM "templates_review_messagetemplate"'
COMPARED = (  # what the reconciliation reads and writes, and what its events change
    "id",
    "account_id",
    "name",
    "language",
    *_SYNCED_FIELDS,
    "review_state",
    "paused_until",
    "pause_count",
)


@pytest.fixture
def meta(acme):
    with schema_context(acme.schema_name):
        WhatsAppAccount.objects.create(meta_id=waba_id_for(0))
    with (
        SimulatorServer(generate(1, 2, 5)) as server,
        GraphClient(token="bench-token", base_url=server.url) as graph,
    ):
        yield server, graph


def sync(client, graph, now):
    with schema_context(client.schema_name):
        result = client_sync(graph=graph, now=now)
    assert result.errors == []
    return result


def rows(client):
    with schema_context(client.schema_name):
        return list(MessageTemplate.objects.order_by("pk").values(*COMPARED))


def template_reads(queries) -> list[str]:
    sqls = [q["sql"] for q in queries]
    return [sql for sql in sqls if sql.startswith("SELECT") and TEMPLATE_TABLE in sql]


def test_an_unchanged_list_is_confirmed_without_reading_the_templates(acme, meta):
    _server, graph = meta
    t0 = timezone.now()
    sync(acme, graph, t0)
    with CaptureQueriesContext(connection) as queries:
        assert sync(acme, graph, t0 + timedelta(minutes=15)).templates == 5
    assert template_reads(queries) == []
    with schema_context(acme.schema_name):
        confirmed = set(MessageTemplate.objects.values_list("last_confirmed_at", flat=True))
    assert confirmed == {t0 + timedelta(minutes=15)}


def test_the_shortcut_leaves_every_row_as_the_full_reconciliation_would(acme, meta):
    _server, graph = meta
    t0 = timezone.now()
    sync(acme, graph, t0)
    sync(acme, graph, t0 + timedelta(minutes=15))  # the shortcut
    shortcut = rows(acme)
    with schema_context(acme.schema_name):
        events = (HealthEvent.objects.count(), MetaTemplateHistory.objects.count())
        TemplateSyncMark.objects.all().delete()  # no mark: the full reconciliation
    with CaptureQueriesContext(connection) as queries:
        sync(acme, graph, t0 + timedelta(minutes=30))
    assert len(template_reads(queries)) == 1
    assert rows(acme) == shortcut
    with schema_context(acme.schema_name):
        assert (HealthEvent.objects.count(), MetaTemplateHistory.objects.count()) == events


def test_a_template_changed_since_the_last_sync_is_repaired_as_before(acme, meta):
    """A change that is not Meta's, stated before the last sync's read (an admin's edit, a
    restore): the sync puts back Meta's status, as the full reconciliation always did."""
    _server, graph = meta
    t0 = timezone.now()
    sync(acme, graph, t0)
    with schema_context(acme.schema_name):
        template = MessageTemplate.objects.order_by("pk").first()
        MessageTemplate.objects.filter(pk=template.pk).update(
            meta_status="paused", meta_status_at=t0 - timedelta(hours=1)
        )
    sync(acme, graph, t0 + timedelta(minutes=15))
    with schema_context(acme.schema_name):
        template.refresh_from_db()
        assert template.meta_status == "approved"
        assert template.meta_status_at == t0 + timedelta(minutes=15)
    # and the repaired rows are confirmed by the shortcut next time
    with CaptureQueriesContext(connection) as queries:
        sync(acme, graph, t0 + timedelta(minutes=30))
    assert template_reads(queries) == []


def test_a_list_meta_changed_is_reconciled_and_then_confirmed(acme, meta):
    server, graph = meta
    t0 = timezone.now()
    sync(acme, graph, t0)
    with server.state.lock:
        for template in server.state.templates.values():
            template["components"] = [{"type": "BODY", "text": "Edited at Meta"}]
    sync(acme, graph, t0 + timedelta(minutes=15))
    with schema_context(acme.schema_name):
        assert [t.components for t in MessageTemplate.objects.all()] == [
            [{"type": "BODY", "text": "Edited at Meta"}]
        ] * 5
    with CaptureQueriesContext(connection) as queries:
        sync(acme, graph, t0 + timedelta(minutes=30))
    assert template_reads(queries) == []


def test_a_newer_state_the_last_sync_kept_is_weighed_again_as_before(acme, meta):
    """A webhook stated a pause after the sync's read (Meta's order: the sync kept it). The next
    sync reads again and, its read now being the newer, takes Meta's status as the full
    reconciliation does, though Meta's list and the rows are as the last sync left them."""
    _server, graph = meta
    t0 = timezone.now()
    sync(acme, graph, t0)
    t1 = t0 + timedelta(minutes=15)
    with schema_context(acme.schema_name):
        template = MessageTemplate.objects.order_by("pk").first()
        MessageTemplate.objects.filter(pk=template.pk).update(
            meta_status="paused", meta_status_at=t1 + timedelta(seconds=5)
        )
    sync(acme, graph, t1)
    with schema_context(acme.schema_name):
        template.refresh_from_db()
        assert template.meta_status == "paused"  # stated after this read: it stands
    sync(acme, graph, t1 + timedelta(minutes=15))
    with schema_context(acme.schema_name):
        template.refresh_from_db()
        assert template.meta_status == "approved"
