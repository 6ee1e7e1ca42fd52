"""`portal.bulk`: a row written once by its unique field (one statement, no savepoint), and
rows as one JSON parameter."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance.choices import EventKind, EventSource, Severity
from compliance.models import HealthEvent
from portal.bulk import insert_once


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


def test_json_rows_keep_times_to_the_microsecond():
    from datetime import UTC, date, datetime

    from portal.bulk import json_rows

    at = datetime(2026, 3, 9, 7, 5, 3, 123456, tzinfo=UTC)
    assert json_rows([{"at": at, "day": date(2026, 3, 9), "n": None}]) == (
        '[{"at":"2026-03-09T07:05:03.123456+00:00","day":"2026-03-09","n":null}]'
    )
