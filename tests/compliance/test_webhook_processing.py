"""Routing each change to its client and applying it exactly once."""

import pytest
from django_tenants.utils import schema_context

from compliance.models import (
    AccountRestriction,
    Alert,
    HealthEvent,
    InboundMessage,
    MessageStatus,
    PhoneNumber,
    WhatsAppAccount,
)
from portal.meta.models import ChangeState, WebhookChange
from portal.meta.services import webhook_delivery_process, webhook_delivery_store, webhook_sweep
from templates_review.models import MessageTemplate
from tests.assets import ACME_PHONE, ACME_WABA
from tests.webhooks import body_of, envelope


def deliver(payload: dict) -> dict:
    delivery_id = webhook_delivery_store(body=body_of(payload))
    assert delivery_id is not None
    return webhook_delivery_process(delivery_id=delivery_id)


def in_schema(client, fn):
    with schema_context(client.schema_name):
        return fn()


RESTRICTION = {
    "event": "ACCOUNT_RESTRICTION",
    "restriction_info": [
        {"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": 1_893_456_000}
    ],
}


def test_change_is_routed_to_the_client_owning_the_waba(acme, globex, acme_waba, globex_waba):
    counts = deliver(envelope(ACME_WABA, "account_update", RESTRICTION))

    assert counts == {
        "changes": 1,
        "applied": 1,
        "late": 0,
        "failed": 0,
        "rejected": 0,
        "unroutable": 0,
    }
    acme_events = in_schema(acme, lambda: list(HealthEvent.objects.values_list("kind", flat=True)))
    assert acme_events == ["restriction"]
    assert in_schema(globex, lambda: HealthEvent.objects.count()) == 0
    restriction = in_schema(acme, lambda: AccountRestriction.objects.get())
    assert restriction.restriction_type == "business_initiated_messaging"
    assert restriction.expires_at.year == 2030


def test_unknown_waba_is_kept_as_unroutable_not_dropped(acme, acme_waba):
    counts = deliver(envelope("9999999999", "account_update", RESTRICTION))

    assert counts["unroutable"] == 1
    change = WebhookChange.objects.get()
    assert (change.state, change.entry_id, change.client_id) == (
        ChangeState.UNROUTABLE,
        "9999999999",
        None,
    )
    assert in_schema(acme, lambda: HealthEvent.objects.count()) == 0


def test_unhandled_field_is_kept_for_staff(acme, acme_waba):
    deliver(envelope(ACME_WABA, "smb_app_state_sync", {"state": "x"}))

    change = WebhookChange.objects.get()
    assert change.state == ChangeState.UNROUTABLE
    assert "No handler" in change.error


def test_same_change_in_a_new_batch_is_applied_once(acme, acme_waba):
    first = envelope(ACME_WABA, "account_update", RESTRICTION)
    rebatched = {
        "object": "whatsapp_business_account",
        "entry": [
            first["entry"][0],
            {
                "id": ACME_WABA,
                "time": 1_763_000_500,
                "changes": [{"field": "account_review_update", "value": {"decision": "APPROVED"}}],
            },
        ],
    }

    deliver(first)
    counts = deliver(rebatched)

    assert counts["applied"] == 1  # only the new review change
    kinds = in_schema(acme, lambda: sorted(HealthEvent.objects.values_list("kind", flat=True)))
    assert kinds == ["restriction", "review_decision"]
    assert in_schema(acme, lambda: AccountRestriction.objects.count()) == 1
    assert in_schema(acme, lambda: Alert.objects.count()) == 1  # the restriction's


def test_processing_a_delivery_twice_has_the_effect_of_once(acme, acme_waba):
    delivery_id = webhook_delivery_store(
        body=body_of(envelope(ACME_WABA, "account_update", RESTRICTION))
    )

    webhook_delivery_process(delivery_id=delivery_id)
    again = webhook_delivery_process(delivery_id=delivery_id)

    assert again["applied"] == 0
    assert in_schema(acme, lambda: HealthEvent.objects.count()) == 1


def test_invalid_json_is_kept_rejected_with_the_reason(db):
    delivery_id = webhook_delivery_store(body=b"not json")

    counts = webhook_delivery_process(delivery_id=delivery_id)

    assert counts["changes"] == 0
    from portal.meta.models import WebhookDelivery

    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.state, delivery.processed_at is not None) == ("rejected", True)
    assert delivery.last_error.startswith("The body is not JSON")


def test_sweeper_queues_one_drain_for_old_unprocessed_deliveries_only(db, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from portal.meta import services
    from portal.meta.models import WebhookDelivery

    drains = []
    monkeypatch.setattr(services, "_queue_drain", lambda: drains.append(1))
    assert not webhook_sweep()
    assert drains == []
    old = webhook_delivery_store(body=b'{"entry": [], "n": 1}')
    fresh = webhook_delivery_store(body=b'{"entry": [], "n": 2}')
    done = webhook_delivery_store(body=b'{"entry": [], "n": 3}')
    WebhookDelivery.objects.filter(pk__in=[old, done]).update(
        received_at=timezone.now() - timedelta(minutes=10)
    )
    WebhookDelivery.objects.filter(pk=done).update(state="processed")

    assert webhook_sweep().deliveries == [old]
    assert drains == [1]  # one run drains them all
    assert fresh != old


# --- each handled field ------------------------------------------------------------------


def test_ban_states_update_the_account(acme, acme_waba):
    deliver(
        envelope(
            ACME_WABA,
            "account_update",
            {
                "event": "DISABLED_UPDATE",
                "ban_info": {
                    "waba_ban_state": "SCHEDULE_FOR_DISABLE",
                    "waba_ban_date": "April 17, 2026",
                },
            },
        )
    )

    account = in_schema(acme, lambda: WhatsAppAccount.objects.get())
    assert (account.ban_state, account.ban_date) == ("scheduled_for_disable", "April 17, 2026")
    deliver(
        envelope(
            ACME_WABA,
            "account_update",
            {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": "REINSTATE"}},
            time=1_763_000_900,
        )
    )
    assert in_schema(acme, lambda: WhatsAppAccount.objects.get().ban_state) == "reinstated"
    kinds = in_schema(acme, lambda: sorted(HealthEvent.objects.values_list("kind", flat=True)))
    assert kinds == ["ban_scheduled", "reinstated"]


def test_violation_is_a_critical_event(acme, acme_waba):
    deliver(
        envelope(
            ACME_WABA,
            "account_update",
            {"event": "ACCOUNT_VIOLATION", "violation_info": {"violation_type": "ADULT"}},
        )
    )

    event = in_schema(acme, lambda: HealthEvent.objects.get())
    assert (event.kind, event.severity) == ("violation", "critical")
    assert "adult" in event.title


def test_review_decision_sets_review_status(acme, acme_waba):
    deliver(envelope(ACME_WABA, "account_review_update", {"decision": "REJECTED"}))

    assert in_schema(acme, lambda: WhatsAppAccount.objects.get().review_status) == "rejected"


@pytest.mark.parametrize(
    ("value", "limit", "kind"),
    [
        (
            {
                "display_phone_number": "15550100001",
                "event": "DOWNGRADE",
                "current_limit": "TIER_2K",
                "old_limit": "TIER_10K",
            },
            "tier_2k",
            "limit_drop",
        ),
        (
            {
                "display_phone_number": "+1 555 010 0001",
                "event": "ONBOARDING",
                "max_daily_conversations_per_business": "TIER_100K",
            },
            "tier_100k",
            "limit_rise",
        ),
    ],
    ids=["legacy-form", "current-form"],
)
def test_quality_update_changes_the_limit_in_both_forms(acme, acme_number, value, limit, kind):
    deliver(envelope(ACME_WABA, "phone_number_quality_update", value))

    number = in_schema(acme, lambda: PhoneNumber.objects.get())
    assert number.messaging_limit == limit
    assert in_schema(acme, lambda: list(HealthEvent.objects.values_list("kind", flat=True))) == [
        kind
    ]


def test_legacy_flagged_event_flags_the_number_and_lowers_its_score(acme, acme_number):
    deliver(
        envelope(
            ACME_WABA,
            "phone_number_quality_update",
            {
                "display_phone_number": "15550100001",
                "event": "FLAGGED",
                "current_limit": "TIER_10K",
            },
        )
    )

    number = in_schema(acme, lambda: PhoneNumber.objects.get())
    assert number.status == "flagged"
    assert number.score < 100
    assert in_schema(acme, lambda: number.snapshots.count()) == 1


def test_display_name_decision(acme, acme_number):
    deliver(
        envelope(
            ACME_WABA,
            "phone_number_name_update",
            {
                "display_phone_number": "15550100001",
                "decision": "REJECTED",
                "requested_verified_name": "Acme!!",
                "rejection_reason": "NAME_FORMAT_UNACCEPTABLE",
            },
        )
    )

    assert in_schema(acme, lambda: PhoneNumber.objects.get().name_status) == "declined"
    event = in_schema(acme, lambda: HealthEvent.objects.get())
    assert event.kind == "display_name_decision"
    assert "name format unacceptable" in event.detail


def test_capability_update_sets_the_portfolio_limit_on_every_number(acme, acme_number):
    deliver(
        envelope(
            ACME_WABA,
            "business_capability_update",
            {"max_daily_conversation_per_phone": 100000, "max_phone_numbers_per_business": 20},
        )
    )

    assert in_schema(acme, lambda: PhoneNumber.objects.get().messaging_limit) == "tier_100k"


def test_account_alert_severity_is_kept(acme, acme_waba):
    deliver(
        envelope(
            ACME_WABA,
            "account_alerts",
            {
                "entity_type": "BUSINESS",
                "entity_id": "1",
                "alert_info": {
                    "alert_severity": "WARNING",
                    "alert_status": "ACTIVE",
                    "alert_type": "INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED",
                    "alert_description": "Not eligible yet",
                },
            },
        )
    )

    event = in_schema(acme, lambda: HealthEvent.objects.get())
    assert (event.kind, event.severity, event.title, event.detail) == (
        "scaling_path",
        "warning",
        "Meta deferred the messaging-limit increase",
        "Not eligible yet\nKeep quality high and verify the business.",
    )


def _template_status(event, **extra):
    return {
        "event": event,
        "message_template_id": 7001,
        "message_template_name": "spring_sale",
        "message_template_language": "en_US",
        "reason": extra.pop("reason", "NONE"),
        **extra,
    }


def test_template_pauses_count_and_the_third_disables(acme, acme_waba):
    deliver(
        envelope(
            ACME_WABA,
            "message_template_status_update",
            _template_status("PAUSED", other_info={"title": "FIRST_PAUSE"}),
            time=1_763_000_001,
        )
    )
    template = in_schema(acme, lambda: MessageTemplate.objects.get())
    paused_at = in_schema(acme, lambda: template.history.get().occurred_at)
    assert (template.meta_status, template.pause_count) == ("paused", 1)
    assert (template.paused_until - paused_at).total_seconds() == 3 * 3600

    deliver(
        envelope(
            ACME_WABA,
            "message_template_status_update",
            _template_status("PAUSED", other_info={"title": "SECOND_PAUSE"}),
            time=1_763_000_002,
        )
    )
    assert in_schema(acme, lambda: MessageTemplate.objects.get().pause_count) == 2
    deliver(
        envelope(
            ACME_WABA,
            "message_template_status_update",
            _template_status("DISABLED", other_info={"title": "DISABLED"}),
            time=1_763_000_003,
        )
    )

    template = in_schema(acme, lambda: MessageTemplate.objects.get())
    assert (template.meta_status, template.pause_count) == ("disabled", 3)
    kinds = in_schema(acme, lambda: sorted(HealthEvent.objects.values_list("kind", flat=True)))
    assert kinds == ["template_disabled", "template_paused", "template_paused"]
    assert in_schema(acme, lambda: template.history.count()) == 3


def test_template_rejection_keeps_the_reason(acme, acme_waba):
    deliver(
        envelope(
            ACME_WABA,
            "message_template_status_update",
            _template_status(
                "REJECTED",
                reason="INVALID_FORMAT",
                rejection_info={"reason": "x", "recommendation": "y"},
            ),
        )
    )

    template = in_schema(acme, lambda: MessageTemplate.objects.get())
    assert (template.meta_status, template.rejection_reason) == ("rejected", "INVALID_FORMAT")
    assert template.rejection_info == {"reason": "x", "recommendation": "y"}


def test_template_quality_and_category_updates(acme, acme_waba):
    deliver(
        envelope(
            ACME_WABA,
            "message_template_quality_update",
            {
                "previous_quality_score": "GREEN",
                "new_quality_score": "RED",
                "message_template_id": 7001,
                "message_template_name": "spring_sale",
                "message_template_language": "en_US",
            },
        )
    )
    deliver(
        envelope(
            ACME_WABA,
            "template_category_update",
            {
                "message_template_id": 7001,
                "message_template_name": "spring_sale",
                "message_template_language": "en_US",
                "new_category": "UTILITY",
                "correct_category": "MARKETING",
                "category_update_timestamp": 1_763_086_400,
            },
        )
    )

    template = in_schema(acme, lambda: MessageTemplate.objects.get())
    assert template.quality == "low"
    assert template.pending_category_change == {
        "correct_category": "marketing",
        "effective_at": 1_763_086_400,
    }


def test_quality_payload_under_the_status_field_is_routed_by_its_fields(acme, acme_waba):
    deliver(
        envelope(
            ACME_WABA,
            "message_template_status_update",
            {
                "previous_quality_score": "GREEN",
                "new_quality_score": "YELLOW",
                "message_template_id": 7002,
                "message_template_name": "x",
                "message_template_language": "en",
            },
        )
    )

    assert in_schema(acme, lambda: MessageTemplate.objects.get().quality) == "medium"


def _statuses(*items):
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100001", "phone_number_id": ACME_PHONE},
        "statuses": list(items),
    }


def test_message_statuses_fill_the_delivery_ledger_once(acme, acme_number):
    sent = {
        "id": "wamid.A",
        "status": "sent",
        "timestamp": "1763000000",
        "recipient_id": "4915112345",
        "pricing": {
            "billable": True,
            "pricing_model": "PMP",
            "type": "regular",
            "category": "marketing",
        },
    }
    failed = {
        "id": "wamid.B",
        "status": "failed",
        "timestamp": "1763000010",
        "recipient_id": "4915100000",
        "errors": [
            {
                "code": 131050,
                "title": "User stopped marketing",
                "error_data": {"details": "opted out"},
            }
        ],
    }

    deliver(envelope(ACME_WABA, "messages", _statuses(sent, failed), time=None))
    deliver(envelope(ACME_WABA, "messages", _statuses(sent), time=None))  # replay of one status

    rows = in_schema(
        acme,
        lambda: list(
            MessageStatus.objects.order_by("wamid").values_list(
                "wamid", "status", "pricing_category", "error_code"
            )
        ),
    )
    assert rows == [("wamid.A", "sent", "marketing", None), ("wamid.B", "failed", "", 131050)]


def test_inbound_texts_are_kept_for_keyword_opt_out(acme, acme_number):
    deliver(
        envelope(
            ACME_WABA,
            "messages",
            {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550100001", "phone_number_id": ACME_PHONE},
                "contacts": [{"profile": {"name": "Kim"}, "wa_id": "4915112345"}],
                "messages": [
                    {
                        "from": "4915112345",
                        "id": "wamid.IN1",
                        "timestamp": "1763000000",
                        "type": "text",
                        "text": {"body": "STOP"},
                    }
                ],
            },
            time=None,
        )
    )

    message = in_schema(acme, lambda: InboundMessage.objects.get())
    assert (message.sender, message.sender_name, message.text) == ("4915112345", "Kim", "STOP")


def test_messages_are_routed_by_phone_number_id_when_the_waba_is_unknown(acme, acme_number):
    payload = envelope(
        "0000",
        "messages",
        _statuses(
            {"id": "wamid.C", "status": "delivered", "timestamp": "1763000000", "recipient_id": "1"}
        ),
        time=None,
    )

    assert deliver(payload)["applied"] == 1
    assert in_schema(acme, lambda: MessageStatus.objects.count()) == 1


def test_a_spike_of_spam_refusals_becomes_an_event_and_an_alert(acme, acme_number):
    failures = [
        {
            "id": f"wamid.F{i}",
            "status": "failed",
            "timestamp": "1763000000",
            "recipient_id": str(i),
            "errors": [{"code": 131048, "title": "Spam rate limit"}],
        }
        for i in range(12)
    ]
    from django.utils import timezone

    now = str(int(timezone.now().timestamp()))
    for failure in failures:
        failure["timestamp"] = now

    deliver(envelope(ACME_WABA, "messages", _statuses(*failures), time=None))

    event = in_schema(acme, lambda: HealthEvent.objects.get(kind="error_spike"))
    assert event.severity == "critical"
    assert event.data["code"] == 131048
    assert in_schema(acme, lambda: Alert.objects.filter(event=event).exists())


def test_alerts_are_emailed_to_owners_admins_and_the_account_manager(
    acme, acme_waba, staff_manager, mailoutbox
):
    from django.db import connection

    from integrations.notify import emails_send

    acme.account_manager = staff_manager
    acme.save(update_fields=["account_manager"])
    deliver(envelope(ACME_WABA, "account_update", RESTRICTION))
    alert = in_schema(acme, lambda: Alert.objects.get())

    connection.set_tenant(acme)
    sent = emails_send()  # the outbox row written with the alert (the sweeper's work)
    again = emails_send()

    assert alert.emailed_at is not None
    assert (sent, again) == (1, 0)
    assert len(mailoutbox) == 1
    assert sorted(mailoutbox[0].to) == [
        "admin@acme.example",
        "manager@bsp.example",
        "owner@acme.example",
    ]
    assert "Account restricted" in mailoutbox[0].subject


def test_a_burst_of_deliveries_queues_one_processing_run(db, monkeypatch):
    """Wake-ups are coalesced in the process, without any shared cache."""
    import threading

    from portal.meta import services
    from portal.meta.webhooks.wake import Waker

    queued, started, release = [], threading.Event(), threading.Event()

    def publish():
        started.set()
        release.wait(5)  # a slow broker: requests pile up meanwhile
        queued.append(1)

    monkeypatch.setattr(services, "_waker", Waker(publish))
    services.webhook_processor_wake()
    assert started.wait(5)
    for _ in range(50):
        services.webhook_processor_wake()
    release.set()
    for _ in range(100):
        if len(queued) == 2:
            break
        threading.Event().wait(0.02)

    # One publish was under way when the burst came; the burst adds one more, not 50.
    assert queued == [1, 1]


def test_the_wakeup_never_waits_on_a_hung_broker(db, monkeypatch):
    import threading
    import time

    from portal.meta import services
    from portal.meta.webhooks.wake import Waker

    hung = threading.Event()
    monkeypatch.setattr(services, "_waker", Waker(lambda: hung.wait(10)))

    started = time.monotonic()
    for _ in range(20):
        services.webhook_processor_wake()
    elapsed = time.monotonic() - started
    hung.set()

    assert elapsed < 1.0  # a bound on blocking, not a speed figure: a hung publish waits 10 s


def test_processing_run_drains_everything(acme, acme_waba):
    from portal.meta import services

    for i in range(3):
        webhook_delivery_store(
            body=body_of(
                envelope(
                    ACME_WABA,
                    "account_review_update",
                    {"decision": "APPROVED"},
                    time=1_763_000_000 + i,
                )
            )
        )

    assert services.webhook_process_pending() == 6  # 3 deliveries split, 3 changes applied
    assert in_schema(acme, lambda: HealthEvent.objects.count()) == 3
    assert services.webhook_process_pending() == 0


def ban(state: str, time: int) -> dict:
    return envelope(
        ACME_WABA,
        "account_update",
        {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": state}},
        time=time,
    )


def test_a_ban_decision_delivered_late_does_not_overwrite_a_newer_one(acme, acme_waba):
    deliver(ban("REINSTATE", 1_763_000_900))
    deliver(ban("SCHEDULE_FOR_DISABLE", 1_763_000_000))  # Meta's retry of an older decision

    assert in_schema(acme, lambda: WhatsAppAccount.objects.get().ban_state) == "reinstated"
    late = in_schema(acme, lambda: HealthEvent.objects.get(kind="ban_scheduled"))
    assert (late.severity, "delivered late" in late.title) == ("info", True)
    assert in_schema(acme, lambda: Alert.objects.count()) == 0  # nothing to alarm anyone

    deliver(ban("DISABLED", 1_763_001_000))  # a newer decision still applies
    assert in_schema(acme, lambda: WhatsAppAccount.objects.get().ban_state) == "disabled"


def test_a_flag_delivered_after_the_unflag_leaves_the_number_connected(acme, acme_number):
    def quality_event(event: str, time: int) -> dict:
        value = {"display_phone_number": "15550100001", "event": event}
        return envelope(ACME_WABA, "phone_number_quality_update", value, time=time)

    deliver(quality_event("FLAGGED", 1_763_000_000))
    deliver(quality_event("UNFLAGGED", 1_763_000_600))
    deliver(quality_event("FLAGGED", 1_763_000_300))  # a retry of something in between

    number = in_schema(acme, lambda: PhoneNumber.objects.get())
    assert number.status == "connected"
    assert number.status_at.timestamp() == 1_763_000_600
