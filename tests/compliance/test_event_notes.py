"""Events the webhook appliers note (`health_event_note`): inside a client group they go in
together in one statement, once per key, in the order of the calls, and whatever reads events
in the group sees them; outside a group they are recorded at once."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance import services
from compliance.choices import EventKind, EventSource, Severity
from compliance.models import Alert, HealthEvent


def note(key: str, *, severity=Severity.WARNING, kind=EventKind.QUALITY_DROP, number=None):
    services.health_event_note(
        kind=kind,
        severity=severity,
        title=f"event {key}",
        key=key,
        source=EventSource.WEBHOOK,
        number=number,
        occurred_at=timezone.now(),
    )


def inserts(queries) -> int:
    return sum(1 for q in queries if q["sql"].startswith('INSERT INTO "compliance_healthevent"'))


def test_a_groups_noted_events_go_in_together_once_per_key_in_their_order(acme):
    with schema_context(acme.schema_name):
        note("seen-before")
        with (
            CaptureQueriesContext(connection) as queries,
            services.health_events_fanned_out_together(),
        ):
            note("a")
            note("seen-before")
            note("b", severity=Severity.INFO)
            note("a")  # the same change's event twice: once
            assert not HealthEvent.objects.filter(dedupe_key="a").exists()  # not yet
            services.health_event_record(
                kind=EventKind.ACCOUNT_UPDATE,
                severity=Severity.WARNING,
                title="recorded the other way",
                key="c",
                source=EventSource.WEBHOOK,
            )
            note("d")
        assert inserts(queries) == 3  # a and b together, c on its own, d at the end
        keys = list(HealthEvent.objects.order_by("pk").values_list("dedupe_key", flat=True))
        assert keys == ["seen-before", "a", "b", "c", "d"]
        # Fanned out once each: the warnings' alerts (seen-before's from its own time).
        alerted = Alert.objects.order_by("pk").values_list("event__dedupe_key", flat=True)
        assert list(alerted) == ["seen-before", "a", "c", "d"]


def test_what_reads_events_in_the_group_sees_the_noted_ones(acme, acme_number):
    with schema_context(acme.schema_name):
        with services.health_events_fanned_out_together():
            note("drop", number=acme_number)
            signals = services.number_signals(number=acme_number)
        assert signals.quality_drops_30d == 1


def test_a_group_that_raises_inserts_none_of_its_noted_events(acme):
    with schema_context(acme.schema_name):

        def failing_group():
            with services.health_events_fanned_out_together():
                note("lost")
                raise RuntimeError("the group fails")

        with pytest.raises(RuntimeError):
            failing_group()
        assert not HealthEvent.objects.exists()
        # The next group starts clean; outside a group an event is recorded at once.
        note("alone")
        assert HealthEvent.objects.filter(dedupe_key="alone").exists()
        assert Alert.objects.filter(event__dedupe_key="alone").exists()


def test_a_drained_group_of_account_changes_inserts_its_events_in_one_statement(
    acme, acme_waba, globex, globex_waba
):
    from portal.meta import services as meta_services
    from portal.meta.webhooks import pipeline
    from tests.assets import ACME_WABA, GLOBEX_WABA
    from tests.webhooks import body_of, envelope

    for n in range(5):
        for waba in (ACME_WABA, GLOBEX_WABA):
            value = {"decision": "REJECTED" if n == 4 else "APPROVED"}
            body = body_of(envelope(waba, "account_review_update", value, time=1_763_000_000 + n))
            meta_services.webhook_delivery_store(body=body)
    pipeline.deliveries_split()
    with CaptureQueriesContext(connection) as queries:
        assert pipeline.changes_apply().applied == 10
    assert inserts(queries) == 2  # one per client group
    for client in (acme, globex):
        with schema_context(client.schema_name):
            assert HealthEvent.objects.filter(kind=EventKind.REVIEW_DECISION).count() == 5
            assert Alert.objects.get().event.title == "Account review: rejected"
