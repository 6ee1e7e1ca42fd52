"""The one way the apps write the staff work index: inserted, or replaced in place."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from tenants.models import WorkItem, WorkKind
from tenants.services import work_items_upsert


def _item(client, object_id: str, title: str, **data) -> WorkItem:
    return WorkItem(
        kind=WorkKind.NUMBER_HEALTH,
        client=client,
        object_id=object_id,
        title=title,
        subtitle="sub",
        status="connected",
        band="healthy",
        sort_key=90,
        data=data,
        updated_at=timezone.now(),
    )


def test_rows_are_inserted_then_replaced_in_one_statement_from_a_clients_schema(acme, globex):
    with schema_context(acme.schema_name), CaptureQueriesContext(connection) as queries:
        work_items_upsert([_item(acme, "1", "first", quality="high"), _item(acme, "2", "second")])
    assert len([q for q in queries if "tenants_workitem" in q["sql"]]) == 1
    work_items_upsert([_item(globex, "1", "globex's own")])  # same object id, another client

    later = _item(acme, "1", "first, renamed", quality="low")
    later.sort_key, later.band = 40, "at_risk"
    with schema_context(acme.schema_name):
        work_items_upsert([later])

    rows = {
        (w.client_id, w.object_id): w for w in WorkItem.objects.filter(kind=WorkKind.NUMBER_HEALTH)
    }
    assert len(rows) == 3
    first = rows[(acme.pk, "1")]
    assert (first.title, first.sort_key, first.band, first.data) == (
        "first, renamed",
        40,
        "at_risk",
        {"quality": "low"},
    )
    assert rows[(acme.pk, "2")].title == "second"
    assert rows[(globex.pk, "1")].title == "globex's own"
    work_items_upsert([])  # nothing to write: no statement
