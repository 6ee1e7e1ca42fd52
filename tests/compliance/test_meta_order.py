"""Meta's order: every state Meta changes carries the time Meta stated for it. A webhook stated
before the stored state is recorded as an event ("delivered late") and leaves the state alone
(`Applied(late=True)`); a sync read taken before an applied webhook does not undo it."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance.models import AccountRestriction, Alert, HealthEvent, PhoneNumber, WhatsAppAccount
from compliance.sync import client_sync
from portal.meta.client import GraphClient
from portal.meta.simulator import SimulatorServer
from templates_review.models import MessageTemplate
from tests.assets import ACME_WABA
from tests.webhooks import apply_change

T1 = 1_763_000_000  # the older decision
T2 = T1 + 600  # the newer one
DISPLAY = "15550100001"  # acme_number's display number, as Meta writes it


def in_acme(acme, fn):
    with schema_context(acme.schema_name):
        return fn()


def number(acme) -> PhoneNumber:
    return in_acme(acme, lambda: PhoneNumber.objects.get(meta_id="2110000001"))


def late_titles(acme) -> list[str]:
    return in_acme(
        acme,
        lambda: list(
            HealthEvent.objects.filter(title__contains="delivered late")
            .order_by("id")
            .values_list("title", flat=True)
        ),
    )


def newer_then_older(acme, field, newer, older):
    first = apply_change(acme, field, newer, time=T2)
    second = apply_change(acme, field, older, time=T1)
    assert (first.late, second.late) == (False, True)
    return second


# --- webhooks: newer, then older ------------------------------------------------------------


def test_messaging_limit_from_the_quality_update(acme, acme_number):
    def limit(tier):
        return {
            "display_phone_number": DISPLAY,
            "event": "ONBOARDING",
            "max_daily_conversations_per_business": tier,
        }

    newer_then_older(acme, "phone_number_quality_update", limit("TIER_100K"), limit("TIER_2K"))

    stored = number(acme)
    assert (stored.messaging_limit, stored.messaging_limit_at.timestamp()) == ("tier_100k", T2)
    assert late_titles(acme) == [
        "Messaging limit of +1 555-010-0001: tier 2k"
        " (an earlier decision, delivered late: the newer one stands)"
    ]


def test_messaging_limit_from_the_capability_update(acme, acme_number):
    newer_then_older(
        acme,
        "business_capability_update",
        {"max_daily_conversations_per_business": "TIER_UNLIMITED"},
        {"max_daily_conversation_per_phone": 1000},  # the legacy form
    )

    assert number(acme).messaging_limit == "unlimited"


def test_number_status(acme, acme_number):
    def event(name):
        return {"display_phone_number": DISPLAY, "event": name}

    newer_then_older(acme, "phone_number_quality_update", event("UNFLAGGED"), event("FLAGGED"))

    stored = number(acme)
    assert (stored.status, stored.status_at.timestamp()) == ("connected", T2)
    assert in_acme(acme, lambda: Alert.objects.count()) == 0  # a late flag alarms no one


def test_throughput(acme, acme_number):
    in_acme(
        acme,
        lambda: PhoneNumber.objects.filter(pk=acme_number.pk).update(
            throughput="standard",
            throughput_at=datetime.fromtimestamp(T2, tz=UTC),
        ),
    )

    applied = apply_change(
        acme,
        "phone_number_quality_update",
        {"display_phone_number": DISPLAY, "event": "THROUGHPUT_UPGRADE"},
        time=T1,
    )

    assert applied.late is True
    assert number(acme).throughput == "standard"


def test_display_name_status(acme, acme_number):
    def decision(value):
        return {
            "display_phone_number": DISPLAY,
            "decision": value,
            "requested_verified_name": "Acme Shop",
            "rejection_reason": None,
        }

    newer_then_older(acme, "phone_number_name_update", decision("APPROVED"), decision("REJECTED"))

    stored = number(acme)
    assert (stored.name_status, stored.verified_name) == ("approved", "Acme Shop")


def test_account_review(acme, acme_waba):
    newer_then_older(
        acme, "account_review_update", {"decision": "APPROVED"}, {"decision": "REJECTED"}
    )

    account = in_acme(acme, lambda: WhatsAppAccount.objects.get())
    assert (account.review_status, account.review_status_at.timestamp()) == ("approved", T2)
    assert late_titles(acme) == [
        "Account review: rejected (an earlier decision, delivered late: the newer one stands)"
    ]


def test_ban_state_in_meta_s_list_shape(acme, acme_waba):
    def ban(state):
        return {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": [state]}}

    newer_then_older(acme, "account_update", ban("REINSTATE"), ban("SCHEDULE_FOR_DISABLE"))

    assert in_acme(acme, lambda: WhatsAppAccount.objects.get().ban_state) == "reinstated"


def test_a_scheduled_disable_in_the_list_shape_raises_a_critical_alert(acme, acme_waba):
    apply_change(
        acme,
        "account_update",
        {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": ["SCHEDULE_FOR_DISABLE"]}},
    )

    account = in_acme(acme, lambda: WhatsAppAccount.objects.get())
    assert account.ban_state == "scheduled_for_disable"
    alert = in_acme(acme, lambda: Alert.objects.select_related("event").get())
    assert (alert.event.kind, alert.event.severity) == ("ban_scheduled", "critical")


def test_restrictions(acme, acme_waba):
    def restriction(kind, expiration):
        return {
            "event": "ACCOUNT_RESTRICTION",
            "restriction_info": [{"restriction_type": kind, "expiration": expiration}],
        }

    newer_then_older(
        acme,
        "account_update",
        restriction("RESTRICTED_UTILITY_TEMPLATES", T2 + 86_400),
        restriction("RESTRICTED_BIZ_INITIATED_MESSAGING", T1 + 86_400),
    )

    stored = in_acme(
        acme, lambda: list(AccountRestriction.objects.values_list("raw_type", flat=True))
    )
    assert stored == ["RESTRICTED_UTILITY_TEMPLATES"]
    assert len(late_titles(acme)) == 1


def status(event, **extra):
    return {
        "event": event,
        "message_template_id": 7001,
        "message_template_name": "spring_sale",
        "message_template_language": "en_US",
        "reason": "NONE",
        **extra,
    }


def test_template_status(acme, acme_waba):
    newer_then_older(
        acme,
        "message_template_status_update",
        status("APPROVED"),
        status("PAUSED", other_info={"title": "FIRST_PAUSE"}),
    )

    template = in_acme(acme, lambda: MessageTemplate.objects.get())
    assert (template.meta_status, template.pause_count, template.paused_until) == (
        "approved",
        0,
        None,
    )
    assert in_acme(acme, lambda: template.history.count()) == 2  # both kept in the history
    assert late_titles(acme) == [
        "Template spring_sale: paused (an earlier decision, delivered late: the newer one stands)"
    ]


def test_template_quality(acme, acme_waba):
    def quality(score):
        return {
            "new_quality_score": score,
            "message_template_id": 7001,
            "message_template_name": "spring_sale",
            "message_template_language": "en_US",
        }

    newer_then_older(acme, "message_template_quality_update", quality("GREEN"), quality("RED"))

    template = in_acme(acme, lambda: MessageTemplate.objects.get())
    assert (template.quality, template.quality_updated_at.timestamp()) == ("high", T2)
    assert in_acme(acme, lambda: Alert.objects.count()) == 0


def test_template_category(acme, acme_waba):
    def category(previous, new):
        return {
            "message_template_id": 7001,
            "message_template_name": "spring_sale",
            "message_template_language": "en_US",
            "previous_category": previous,
            "new_category": new,
        }

    newer_then_older(
        acme,
        "template_category_update",
        category("UTILITY", "MARKETING"),
        category("MARKETING", "UTILITY"),
    )

    template = in_acme(acme, lambda: MessageTemplate.objects.get())
    assert (template.category, template.category_at.timestamp()) == ("marketing", T2)


def test_the_same_change_replayed_is_not_late(acme, acme_waba):
    value = {"decision": "APPROVED"}

    first = apply_change(acme, "account_review_update", value, time=T1)
    again = apply_change(acme, "account_review_update", value, time=T1)

    assert (first.late, again.late) == (False, False)
    assert in_acme(acme, lambda: HealthEvent.objects.count()) == 1


def test_a_rejection_with_reason_none_stores_no_reason(acme, acme_waba):
    apply_change(acme, "message_template_status_update", status("REJECTED"))

    template = in_acme(acme, lambda: MessageTemplate.objects.get())
    assert (template.meta_status, template.rejection_reason) == ("rejected", "")


# --- the sync: a read older than an applied webhook does not undo it -------------------------

TOKEN = "dev-system-user-token"


@pytest.fixture
def sim():
    with SimulatorServer("demo") as server:
        yield server


def sync_at(acme, sim, when):
    graph = GraphClient(token=TOKEN, base_url=sim.url, sleep=lambda s: None)
    with graph, schema_context(acme.schema_name):
        return client_sync(graph=graph, now=when)


def test_a_sync_read_older_than_the_webhooks_keeps_their_state(sim, acme, acme_waba):
    # Meta's own quality dates (the simulator's clock) are "now": the webhooks come after them.
    start = timezone.now().replace(microsecond=0) + timedelta(minutes=1)
    assert sync_at(acme, sim, start).errors == []
    webhook_time = int((start + timedelta(minutes=10)).timestamp())
    templates = in_acme(acme, lambda: dict(MessageTemplate.objects.values_list("name", "meta_id")))
    display = "15550100001"
    for field, value in [
        (
            "phone_number_quality_update",
            {
                "display_phone_number": display,
                "event": "FLAGGED",
                "max_daily_conversations_per_business": "TIER_2K",
            },
        ),
        (
            "phone_number_quality_update",
            {"display_phone_number": display, "event": "THROUGHPUT_UPGRADE"},
        ),
        ("phone_number_name_update", {"display_phone_number": display, "decision": "DEFERRED"}),
        ("account_review_update", {"decision": "REJECTED"}),
        (
            "message_template_status_update",
            {
                "event": "PAUSED",
                "message_template_id": templates["spring_sale"],
                "other_info": {"title": "FIRST_PAUSE"},
            },
        ),
        (
            "message_template_quality_update",
            {"new_quality_score": "RED", "message_template_id": templates["order_update"]},
        ),
        (
            "template_category_update",
            {
                "message_template_id": templates["order_update"],
                "previous_category": "UTILITY",
                "new_category": "MARKETING",
            },
        ),
    ]:
        apply_change(acme, field, value, time=webhook_time, entry_id=ACME_WABA)

    def state():
        n = PhoneNumber.objects.get(meta_id="2110000001")
        by_name = {t.name: t for t in MessageTemplate.objects.all()}
        account = WhatsAppAccount.objects.select_related("portfolio").get()
        return (
            n.status,
            # the sync found the WABA's portfolio: the limit Meta states is the portfolio's
            account.portfolio.messaging_limit,
            n.throughput,
            n.name_status,
            WhatsAppAccount.objects.get().review_status,
            by_name["spring_sale"].meta_status,
            by_name["order_update"].quality,
            by_name["order_update"].category,
        )

    after_webhooks = in_acme(acme, state)
    assert after_webhooks == (
        "flagged",
        "tier_2k",
        "high",
        "pending_review",
        "rejected",
        "paused",
        "low",
        "marketing",
    )

    # A read that began before the webhooks were stated (Meta still said the old values).
    sync_at(acme, sim, start + timedelta(minutes=5))
    assert in_acme(acme, state) == after_webhooks

    # A read that began after them is Meta's newer word: it stands.
    sync_at(acme, sim, start + timedelta(minutes=20))
    assert in_acme(acme, state) == (
        "connected",
        "tier_10k",
        "standard",
        "approved",
        "approved",
        "approved",
        "high",
        "utility",
    )
