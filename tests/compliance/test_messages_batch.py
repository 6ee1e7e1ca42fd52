"""Message statuses applied set-based: many changes at once, a fixed number of queries whatever
the number of statuses, and one bad item failing alone while the rest stand."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from compliance.models import (
    Alert,
    ConsentEvent,
    ConsentState,
    HealthEvent,
    InboundMessage,
    MessageStatus,
)
from tests.assets import ACME_PHONE
from tests.webhooks import apply_batch, apply_change

T0 = 1_763_000_000


def statuses(prefix: str, count: int, *, start: int = 0) -> dict:
    """`count` statuses as a campaign brings them: marketing sends, deliveries, reads, a few
    undeliverable failures."""
    items = []
    for i in range(start, start + count):
        kind = ("sent", "delivered", "read", "failed")[i % 4]
        item = {
            "id": f"wamid.{prefix}{i}",
            "status": kind,
            "timestamp": str(T0 + i),
            "recipient_id": f"4915{i:07d}",
        }
        if kind == "sent":
            item["pricing"] = {"pricing_model": "PMP", "type": "regular", "category": "marketing"}
        if kind == "failed":  # every other one: the user stopped marketing (an opt-out)
            code = 131050 if i % 8 == 3 else 131026
            item["errors"] = [{"code": code, "title": "Message Undeliverable"}]
        items.append(item)
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100001", "phone_number_id": ACME_PHONE},
        "statuses": items,
    }


def queries_for(acme, values) -> int:
    with CaptureQueriesContext(connection) as queries:
        results, _ = apply_batch(acme, "messages", values)
    assert all(not r.failures for r in results.values())
    return len(queries)


@pytest.fixture
def a2_refused(monkeypatch):
    """The ledger row of status `wamid.a2` is one the database refuses (a status longer than
    its column): its INSERT fails."""
    from compliance.appliers import messages as appliers

    real = appliers._ledger_row

    def ledger_row(change, item, numbers):
        row = real(change, item, numbers)
        if item.wamid == "wamid.a2":
            row.status = "x" * 50
        return row

    monkeypatch.setattr(appliers, "_ledger_row", ledger_row)


def test_queries_do_not_grow_with_the_number_of_statuses(acme, acme_number):
    queries_for(acme, [statuses("w", 8, start=1000)])  # the number's first snapshot, spikes
    few = queries_for(acme, [statuses("a", 8)])
    many = queries_for(acme, [statuses("b", 160, start=8), statuses("c", 120, start=168)])

    assert many == few
    with schema_context(acme.schema_name):
        assert MessageStatus.objects.count() == 296
        # each marketing send without an opt-in is a violation, raised set-based
        assert HealthEvent.objects.filter(kind="consent_violation").count() == 74
        assert Alert.objects.filter(event__kind="consent_violation").count() == 74
        assert ConsentState.objects.filter(status="opted_out").count() == 37
        assert ConsentEvent.objects.filter(source="meta_131050").count() == 37


def test_a_batch_replayed_changes_nothing(acme, acme_number):
    apply_batch(acme, "messages", [statuses("a", 20)])
    apply_batch(acme, "messages", [statuses("a", 20)])

    with schema_context(acme.schema_name):
        assert MessageStatus.objects.count() == 20
        assert HealthEvent.objects.filter(kind="consent_violation").count() == 5


def test_a_null_status_and_a_huge_error_code_fail_alone(acme, acme_number):
    value = statuses("a", 4)
    value["statuses"].insert(1, None)
    value["statuses"].append(
        {
            "id": "wamid.huge",
            "status": "failed",
            "timestamp": str(T0),
            "recipient_id": "1",
            "errors": [{"code": 99_999_999_999}],
        }
    )

    applied = apply_change(acme, "messages", value, time=None)

    assert [(f.index, f.kind, f.rejected) for f in applied.failures] == [
        (1, "status", True),
        (5, "status", True),
    ]
    assert applied.failures[1].error == (
        "value.statuses[5].errors[0].code: 99999999999 is out of range (0 to 2147483647)"
    )
    with schema_context(acme.schema_name):
        assert sorted(MessageStatus.objects.values_list("wamid", flat=True)) == [
            "wamid.a0",
            "wamid.a1",
            "wamid.a2",
            "wamid.a3",
        ]


def test_when_the_set_based_path_fails_each_item_is_tried_alone(acme, acme_number, a2_refused):
    """A status the database refuses (here: a status our ledger cannot hold) fails alone and is
    handed back to be retried alone; the others stand."""

    applied = apply_change(acme, "messages", statuses("a", 4), time=None)

    (failure,) = applied.failures
    assert (failure.index, failure.kind, failure.rejected) == (2, "status", False)
    assert failure.value["statuses"] == [statuses("a", 4)["statuses"][2]]
    assert failure.error.startswith("DataError: value too long")
    with schema_context(acme.schema_name):
        assert sorted(MessageStatus.objects.values_list("wamid", flat=True)) == [
            "wamid.a0",
            "wamid.a1",
            "wamid.a3",
        ]


def test_messages_of_one_client_never_reach_another(acme, globex, acme_number):
    inbound = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100001", "phone_number_id": ACME_PHONE},
        "contacts": [{"profile": {"name": "Kim"}, "wa_id": "4915112345"}],
        "messages": [
            {
                "from": "4915112345",
                "id": "wamid.IN",
                "timestamp": str(T0),
                "type": "text",
                "text": {"body": "STOP"},
            }
        ],
    }

    apply_batch(acme, "messages", [statuses("a", 8), inbound])

    with schema_context(acme.schema_name):
        assert (MessageStatus.objects.count(), InboundMessage.objects.count()) == (8, 1)
    with schema_context(globex.schema_name):
        assert (MessageStatus.objects.count(), InboundMessage.objects.count()) == (0, 0)
        assert HealthEvent.objects.count() == 0


def test_a_131050_older_than_a_newer_opt_in_is_history_only(acme, acme_number):
    from datetime import UTC, datetime

    from compliance.consent import consent_record_opt_in

    with schema_context(acme.schema_name):
        consent_record_opt_in(
            phone="+447911123456",
            category="marketing",
            source="web_form",
            occurred_at=datetime.fromtimestamp(T0 + 100, tz=UTC),
        )
    failed = {
        "id": "wamid.OLD",
        "status": "failed",
        "timestamp": str(T0),
        "recipient_id": "447911123456",
        "errors": [{"code": 131050, "title": "User stopped marketing"}],
    }
    value = statuses("a", 0)
    value["statuses"] = [failed]

    apply_batch(acme, "messages", [value])

    with schema_context(acme.schema_name):
        state = ConsentState.objects.get(contact__phone="+447911123456", category="marketing")
        assert state.status == "opted_in"
        assert list(ConsentEvent.objects.order_by("id").values_list("kind", "source")) == [
            ("opt_in", "web_form"),
            ("opt_out", "meta_131050"),
        ]


def test_delivery_statuses_are_recorded_without_reading_the_number(acme, acme_number):
    """Statuses with no effect beyond the ledger (sent as utility, delivered, read) take the
    number's id in the ledger's own INSERT: no read of the number (nor its account) for them."""
    value = statuses("d", 12)
    value["statuses"] = [s for s in value["statuses"] if s["status"] != "failed"]
    for item in value["statuses"]:
        item.pop("pricing", None)

    with CaptureQueriesContext(connection) as queries:
        results, _ = apply_batch(acme, "messages", [value])

    assert all(not r.failures for r in results.values())
    assert not [q["sql"] for q in queries if 'FROM "compliance_phonenumber"' in q["sql"]]
    with schema_context(acme.schema_name):
        rows = MessageStatus.objects.values_list("wamid", "number_id", "phone_number_meta_id")
        assert sorted(rows) == sorted(
            (s["id"], acme_number.pk, ACME_PHONE) for s in value["statuses"]
        )


def _drain_statuses(values: list[dict]) -> list[str]:
    """Store each value as a delivery, drain them in one claim; the SQL of the apply."""
    from portal.meta.services import webhook_delivery_store
    from portal.meta.webhooks import pipeline
    from tests.assets import ACME_WABA
    from tests.webhooks import body_of, envelope

    for value in values:
        webhook_delivery_store(body=body_of(envelope(ACME_WABA, "messages", value, time=None)))
    pipeline.deliveries_split()
    with CaptureQueriesContext(connection) as queries:
        pipeline.changes_apply()
    return [q["sql"] for q in queries]


def test_a_drained_status_batch_takes_no_savepoint_beyond_the_groups(acme, acme_number):
    """The pipeline applies a client group in one savepoint and, if anything in it raises, again
    with a savepoint per set-based group and per change: the batch applier's own savepoint
    (two round trips a group) is only needed then."""
    sql = _drain_statuses([statuses("s", 4), statuses("t", 4, start=4)])

    in_group = sql[sql.index('SET search_path = "c_acme","public"') :]
    before_ledger = in_group[: next(i for i, q in enumerate(in_group) if "messagestatus" in q)]
    assert [q.split()[0] for q in before_ledger if q.startswith("SAVEPOINT")] == ["SAVEPOINT"]
    with schema_context(acme.schema_name):
        assert MessageStatus.objects.count() == 8


def test_a_status_the_database_refuses_in_a_drain_fails_alone(acme, acme_number, a2_refused):
    """Without the batch applier's own savepoint in the first pass, a status the database
    refuses still fails alone: the group is applied again, isolated, and the others stand."""
    from portal.meta.models import WebhookChange

    _drain_statuses([statuses("a", 4), statuses("b", 4, start=4)])

    with schema_context(acme.schema_name):
        assert sorted(MessageStatus.objects.values_list("wamid", flat=True)) == [
            f"wamid.{p}{i}"
            for p, i in [("a", 0), ("a", 1), ("a", 3)] + [("b", i) for i in range(4, 8)]
        ]
    (item,) = WebhookChange.objects.filter(parent__isnull=False)
    assert item.value["statuses"] == [statuses("a", 4)["statuses"][2]]
    assert item.error.startswith("DataError: value too long")


def test_the_statuses_listeners_run_in_the_ledgers_statement(acme, acme_number):
    """A listener's statement (templates_review's release of held messages) is part of the
    ledger's INSERT, not a round trip of its own for every client group."""
    sql = _drain_statuses([statuses("h", 4)])

    (ledger,) = [q for q in sql if "compliance_messagestatus" in q and "INSERT" in q]
    assert "templates_review_heldmessage" in ledger
    assert not [q for q in sql if q.startswith("DELETE FROM templates_review_heldmessage")]
