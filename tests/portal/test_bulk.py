"""`portal.bulk`: a row written once by its unique field (one statement, no savepoint), rows as
one JSON parameter, new rows inserted and stored rows updated in one statement each."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance.choices import EventKind, EventSource, Severity
from compliance.models import HealthEvent
from portal.bulk import insert_once, rows_insert_once


def event(key: str, title: str = "Quality dropped") -> HealthEvent:
    return HealthEvent(
        kind=EventKind.QUALITY_DROP,
        severity=Severity.WARNING,
        title=title,
        source=EventSource.WEBHOOK,
        occurred_at=timezone.now(),
        dedupe_key=key,
        data={"rating": "YELLOW"},
    )


def test_a_new_row_is_inserted_in_one_statement_and_gets_its_key(acme):
    connection.set_tenant(acme)
    first = event("k-1")
    HealthEvent.objects.exists()  # the schema's search_path is set on the first query
    with CaptureQueriesContext(connection) as queries:
        assert insert_once(first, unique="dedupe_key") is True
    assert len(queries) == 1
    assert "SAVEPOINT" not in queries[0]["sql"]
    stored = HealthEvent.objects.get(pk=first.pk)
    assert (stored.dedupe_key, stored.title, stored.data) == ("k-1", "Quality dropped", first.data)
    assert not first._state.adding


def test_a_row_whose_unique_value_exists_is_left_as_it_was(acme):
    connection.set_tenant(acme)
    assert insert_once(event("k-1"), unique="dedupe_key")
    again = event("k-1", title="Something else")
    assert insert_once(again, unique="dedupe_key") is False
    assert again.pk is None
    assert list(HealthEvent.objects.values_list("title", flat=True)) == ["Quality dropped"]
    # The transaction goes on: no error was raised inside it.
    assert insert_once(event("k-2"), unique="dedupe_key")
    assert HealthEvent.objects.count() == 2


def test_many_rows_are_inserted_once_by_their_unique_value_in_one_statement(acme):
    """Rows whose value is stored already, or comes earlier in the list, are skipped; the
    inserted ones come back in their order with their keys."""
    connection.set_tenant(acme)
    assert insert_once(event("k-1"), unique="dedupe_key")
    rows = [event("k-2"), event("k-1", "Again"), event("k-3"), event("k-2", "Twice"), event("k-4")]
    with CaptureQueriesContext(connection) as queries:
        inserted = rows_insert_once(rows, unique="dedupe_key")
    assert len(queries) == 1
    assert inserted == [rows[0], rows[2], rows[4]]
    assert [r.pk for r in inserted] == sorted(r.pk for r in inserted)
    assert [rows[1].pk, rows[3].pk] == [None, None]
    stored = dict(HealthEvent.objects.values_list("dedupe_key", "title"))
    assert stored == dict.fromkeys(("k-1", "k-2", "k-3", "k-4"), "Quality dropped")
    assert HealthEvent.objects.get(pk=rows[2].pk).data == {"rating": "YELLOW"}
    assert rows_insert_once([], unique="dedupe_key") == []


def test_json_rows_keep_times_to_the_microsecond():
    from datetime import UTC, date, datetime

    from portal.bulk import json_rows

    at = datetime(2026, 3, 9, 7, 5, 3, 123456, tzinfo=UTC)
    assert json_rows([{"at": at, "day": date(2026, 3, 9), "n": None}]) == (
        '[{"at":"2026-03-09T07:05:03.123456+00:00","day":"2026-03-09","n":null}]'
    )


def test_new_rows_are_inserted_in_one_statement_in_order_with_their_keys_and_defaults(acme):
    from compliance.models import WhatsAppAccount
    from portal.bulk import rows_insert
    from templates_review.models import MessageTemplate

    connection.set_tenant(acme)
    account = WhatsAppAccount.objects.create(meta_id="900001", name="Bulk")
    at = timezone.now()
    templates = [
        MessageTemplate(
            account=account,
            name=f"t{i}",
            language="en_US",
            meta_id=f"77{i}",
            components=[{"type": "BODY", "text": f"Hello {i} \u00e9"}],
            meta_status_at=at,
            last_confirmed_at=at if i else None,
        )
        for i in range(3)
    ]
    with CaptureQueriesContext(connection) as queries:
        rows_insert(templates)
    assert len(queries) == 1
    stored = {t.pk: t for t in MessageTemplate.objects.filter(account=account)}
    assert [stored[t.pk].name for t in templates] == ["t0", "t1", "t2"]
    first, second = stored[templates[0].pk], stored[templates[1].pk]
    assert first.components == [{"type": "BODY", "text": "Hello 0 \u00e9"}]
    assert (first.meta_status_at, first.last_confirmed_at, second.last_confirmed_at) == (
        at,
        None,
        at,
    )
    assert first.created_at is not None
    assert templates[0].created_at == first.created_at
    # a db_default field is set on the object as the database stored it
    assert templates[0].pause_kind == first.pause_kind == ""
    assert not templates[0]._state.adding


def test_rows_update_writes_the_named_fields_only(acme):
    from compliance.models import WhatsAppAccount
    from portal.bulk import rows_update
    from templates_review.models import MessageTemplate

    connection.set_tenant(acme)
    account = WhatsAppAccount.objects.create(meta_id="900002", name="Bulk")
    rows = [
        MessageTemplate.objects.create(account=account, name=f"u{i}", language="en_US")
        for i in range(2)
    ]
    MessageTemplate.objects.filter(pk=rows[0].pk).update(quality="red")  # written elsewhere
    at = timezone.now()
    for row in rows:
        row.components = [{"type": "BODY", "text": row.name}]
        row.last_confirmed_at = at
        row.name = "not written"
    with CaptureQueriesContext(connection) as queries:
        rows_update(rows, ["components", "last_confirmed_at"])
    assert len(queries) == 1
    stored = MessageTemplate.objects.filter(account=account).order_by("pk")
    assert [(t.name, t.quality, t.components, t.last_confirmed_at) for t in stored] == [
        ("u0", "red", [{"type": "BODY", "text": "u0"}], at),
        ("u1", rows[1].quality, [{"type": "BODY", "text": "u1"}], at),
    ]
