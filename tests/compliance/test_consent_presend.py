"""The pre-send check: consent, opt-out, caps and their window edges, 131049 back-off, template,
number, and the bulk form's constant number of queries."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django_tenants.utils import schema_context

from compliance.consent import consent_record_opt_in, consent_record_opt_out
from compliance.models import AccountRestriction, MessageStatus, MessagingPolicy
from compliance.presend import presend_check, presend_check_bulk
from templates_review.models import MessageTemplate
from tests.assets import ACME_PHONE

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ALICE = "+447911123456"  # Alice Archer, opted in to marketing
BOB = "+447911123457"  # Bob Baker, no record


@pytest.fixture
def acme_sender(acme, acme_number):
    with schema_context(acme.schema_name):
        consent_record_opt_in(
            phone=ALICE, category="marketing", source="web_form", occurred_at=NOW - timedelta(30)
        )
        yield acme_number


def codes(decision) -> list[str]:
    return [r.code for r in decision.reasons]


def check(recipient=ALICE, **kwargs):
    kwargs.setdefault("category", "marketing")
    return presend_check(recipient=recipient, phone_number_id=ACME_PHONE, now=NOW, **kwargs)


def ledger(phone: str, at: datetime, *, status="sent", category="marketing", code=None, n=0):
    MessageStatus.objects.create(
        phone_number_meta_id=ACME_PHONE,
        wamid=f"wamid.{phone}.{at.timestamp()}.{n}",
        recipient=phone.lstrip("+"),
        status=status,
        occurred_at=at,
        pricing_category=category if status == "sent" else "",
        error_code=code,
    )


def test_opted_in_recipient_may_get_marketing(acme_sender):
    decision = check()
    assert (decision.allowed, decision.reasons) == (True, [])


def test_marketing_and_utility_need_an_opt_in_authentication_does_not(acme_sender):
    assert codes(check(BOB)) == ["no_consent"]
    assert codes(check(ALICE, category="utility")) == ["no_consent"]  # consent is per category
    assert check(BOB, category="authentication").allowed


def test_an_opt_out_applies_at_once_and_only_to_its_category(acme_sender):
    consent_record_opt_in(phone=ALICE, category="utility", source="checkout", occurred_at=NOW)
    consent_record_opt_out(phone=ALICE, category="marketing", source="staff", occurred_at=NOW)

    assert codes(check()) == ["opted_out"]
    assert check(category="utility").allowed


def test_authentication_after_an_opt_out_is_refused(acme_sender):
    consent_record_opt_out(phone=ALICE, category="all", source="staff", occurred_at=NOW)

    assert codes(check(category="authentication")) == ["opted_out"]


def test_cap_counts_sends_in_the_rolling_window_and_not_at_its_edge(acme_sender):
    ledger(ALICE, NOW - timedelta(days=7))  # exactly at the boundary: outside the window
    ledger(ALICE, NOW - timedelta(days=6, hours=23, minutes=59))
    assert check().allowed  # one send counts, cap is 2

    ledger(ALICE, NOW)
    decision = check()
    assert codes(decision) == ["frequency_cap"]
    assert decision.reasons[0].message == "2 marketing messages in the last 7 days (the cap is 2)."


def test_cap_counts_only_the_category_and_only_sent_rows(acme_sender):
    ledger(ALICE, NOW - timedelta(hours=1), category="utility")
    ledger(ALICE, NOW - timedelta(hours=1), status="delivered", n=1)
    ledger(ALICE, NOW - timedelta(hours=2), category="marketing_lite")
    assert check().allowed


def test_cap_comes_from_the_policy(acme_sender):
    MessagingPolicy.objects.create(marketing_cap=0, utility_cap=1)
    consent_record_opt_in(phone=ALICE, category="utility", source="checkout", occurred_at=NOW)
    for n in range(3):
        ledger(ALICE, NOW - timedelta(hours=1), n=n)
    ledger(ALICE, NOW - timedelta(hours=1), category="utility", n=9)

    assert check().allowed  # 0 = no marketing cap
    assert codes(check(category="utility")) == ["frequency_cap"]


def test_131049_backs_off_for_24_hours_exactly(acme_sender):
    ledger(ALICE, NOW - timedelta(hours=23, minutes=59), status="failed", code=131049)
    decision = check()
    assert codes(decision) == ["backoff_131049"]
    assert "wait until 2026-11-20 12:01 UTC" in decision.reasons[0].message

    later = NOW + timedelta(minutes=1)  # exactly 24 h after the failure
    assert presend_check(
        recipient=ALICE, phone_number_id=ACME_PHONE, category="marketing", now=later
    ).allowed


def test_131049_does_not_hold_back_authentication(acme_sender):
    ledger(BOB, NOW - timedelta(hours=1), status="failed", code=131049)
    assert check(BOB, category="authentication").allowed


def test_other_failures_do_not_back_off(acme_sender):
    ledger(ALICE, NOW - timedelta(hours=1), status="failed", code=131026)
    assert check().allowed


def make_template(account, **fields):
    return MessageTemplate.objects.create(
        account=account, name="autumn_sale", language="en_GB", category="marketing", **fields
    )


def test_template_gives_the_category_and_must_be_approved(acme_sender):
    template = make_template(acme_sender.account, meta_status="approved", quality="high")
    assert check(category=None, template=("autumn_sale", "en_GB")).allowed
    assert codes(check(BOB, category=None, template=("autumn_sale", "en_GB"))) == ["no_consent"]

    template.meta_status = "pending"
    template.quality = "low"
    template.save()
    assert codes(check(category=None, template=("autumn_sale", "en_GB"))) == [
        "template_not_approved",
        "template_quality_low",
    ]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"meta_status": "paused"}, "template_paused"),
        ({"meta_status": "approved", "paused_until": NOW + timedelta(hours=3)}, "template_paused"),
        ({"meta_status": "disabled"}, "template_disabled"),
    ],
)
def test_paused_or_disabled_templates_are_refused(acme_sender, fields, code):
    make_template(acme_sender.account, **fields)
    assert codes(check(category=None, template=("autumn_sale", "en_GB"))) == [code]


def test_unknown_template(acme_sender):
    assert codes(check(category=None, template=("nope", "en_GB"))) == ["template_unknown"]


def test_number_must_be_able_to_send(acme_sender):
    assert codes(presend_check(recipient=ALICE, phone_number_id="999", category="utility")) == [
        "number_unknown",
        "no_consent",
    ]
    acme_sender.status = "flagged"
    acme_sender.can_send = "blocked"
    acme_sender.save()
    acme_sender.account.ban_state = "disabled"
    acme_sender.account.save()
    AccountRestriction.objects.create(
        account=acme_sender.account,
        restriction_type="business_initiated_messaging",
        expires_at=NOW + timedelta(days=1),
    )
    assert codes(check()) == [
        "number_not_connected",
        "number_blocked",
        "account_disabled",
        "account_restricted",
    ]


def test_an_expired_restriction_does_not_block(acme_sender):
    AccountRestriction.objects.create(
        account=acme_sender.account,
        restriction_type="business_initiated_messaging",
        expires_at=NOW - timedelta(seconds=1),
    )
    assert check().allowed


def test_quiet_hours_in_the_policys_time_zone(acme_sender):
    # 12:00 UTC is 21:00 in Tokyo
    MessagingPolicy.objects.create(
        quiet_hours_start=time(20, 0), quiet_hours_end=time(8, 0), time_zone="Asia/Tokyo"
    )
    assert codes(check()) == ["quiet_hours"]
    assert check(BOB, category="authentication").allowed


def test_invalid_recipient_and_national_numbers(acme_sender, acme):
    acme.default_region = "GB"
    acme.save(update_fields=["default_region"])
    assert codes(check("not a number")) == ["invalid_recipient"]
    assert check("07911 123456").allowed


def test_bulk_check_uses_a_constant_number_of_queries(acme_sender, django_assert_max_num_queries):
    recipients = [f"+4479111{n:05d}" for n in range(2000)]
    for phone in recipients[:50]:
        consent_record_opt_in(
            phone=phone, category="marketing", source="import", occurred_at=NOW - timedelta(1)
        )
    for n, phone in enumerate(recipients[:10]):
        ledger(phone, NOW - timedelta(hours=1), n=n)
        ledger(phone, NOW - timedelta(hours=2), n=n + 100)
    make_template(acme_sender.account, meta_status="approved", quality="high")

    with django_assert_max_num_queries(2):  # settings, then recipients with their ledger
        decisions = presend_check_bulk(
            recipients=recipients,
            phone_number_id=ACME_PHONE,
            template=("autumn_sale", "en_GB"),
            now=NOW,
        )

    assert [d.allowed for d in decisions].count(True) == 40
    assert {tuple(codes(d)) for d in decisions[:10]} == {("frequency_cap",)}
    assert {tuple(codes(d)) for d in decisions[50:]} == {("no_consent",)}


def test_bulk_check_refuses_more_than_10000(acme_sender):
    with pytest.raises(ValueError, match="At most 10000"):
        presend_check_bulk(
            recipients=[ALICE] * 10_001, phone_number_id=ACME_PHONE, category="utility"
        )


def test_one_check_costs_two_round_trips(acme_sender, acme, django_assert_num_queries):
    # the check sits in front of every send: each round trip is latency an integration pays
    make_template(acme_sender.account, meta_status="approved", quality="high")
    MessagingPolicy.objects.create(marketing_cap=1)
    ledger(ALICE, NOW - timedelta(hours=1))
    with django_assert_num_queries(2):
        decision = check(template=("autumn_sale", "en_GB"), category=None)
    assert codes(decision) == ["frequency_cap"]

    acme.default_region = "GB"
    acme.save(update_fields=["default_region"])
    with django_assert_num_queries(3):  # a number written another way: one more look-up
        decision = check("07911 123456", template=("autumn_sale", "en_GB"), category=None)
    assert codes(decision) == ["frequency_cap"]
