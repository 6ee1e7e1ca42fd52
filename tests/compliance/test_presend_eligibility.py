"""The pre-send check's 2026 rules: US marketing, the 24-hour service window, BSUID-only
authentication, back-offs, offboarded accounts, Marketing Messages onboarding, and the
portfolio headroom in bulk, still in two queries."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance.consent import consent_record_opt_in
from compliance.identity import contact_resolve
from compliance.models import Contact, InboundMessage
from compliance.portfolio import account_portfolio_set
from compliance.presend import is_us_number, presend_check, presend_evaluate
from tests.assets import ACME_PHONE
from tests.factories.platform import SentFactory

NOW = timezone.now()
ALICE = "+447911123456"
ALICE_ID = "GB.13491208655302741918"
US = "+12125550123"  # New York
CANADA = "+14165550123"  # Toronto


@pytest.fixture
def sender(acme, acme_number):
    with schema_context(acme.schema_name):
        for phone in (ALICE, US, CANADA):
            consent_record_opt_in(
                phone=phone, category="marketing", source="web_form", occurred_at=NOW - timedelta(9)
            )
        yield acme_number


def codes(decision):
    return [r.code for r in decision.reasons]


def check(recipient, category="marketing", **kwargs):
    kwargs.setdefault("now", NOW)
    return presend_check(
        recipient=recipient, phone_number_id=ACME_PHONE, category=category, **kwargs
    )


def test_us_numbers_get_no_marketing(sender):
    assert is_us_number(US)
    assert not is_us_number(CANADA)
    assert not is_us_number(ALICE)
    assert codes(check(US)) == ["us_marketing"]
    assert check(CANADA).allowed
    assert check(US, category="authentication").allowed


def test_free_form_messages_need_the_24_hour_window(sender):
    assert codes(check(ALICE, category="service")) == ["outside_service_window"]
    InboundMessage.objects.create(
        phone_number_meta_id=ACME_PHONE,
        wamid="wamid.in.1",
        sender="447911123456",
        message_type="text",
        received_at=NOW - timedelta(hours=23),
    )
    assert check(ALICE, category="service").allowed
    assert codes(check(ALICE, category="service", now=NOW + timedelta(hours=2))) == [
        "outside_service_window"
    ]


def test_the_window_follows_the_identity_written_as_a_bsuid(sender):
    contact_resolve(phone=ALICE, bsuid=ALICE_ID)
    InboundMessage.objects.create(
        phone_number_meta_id=ACME_PHONE,
        wamid="wamid.in.2",
        sender=ALICE_ID,
        sender_bsuid=ALICE_ID,
        message_type="text",
        received_at=NOW - timedelta(hours=1),
    )
    assert check(ALICE, category="service").allowed  # by phone: the same person wrote


def test_authentication_to_a_bsuid_only_recipient_is_refused(sender):
    decision = check(ALICE_ID, category="authentication")
    assert codes(decision) == ["bsuid_authentication"]
    assert "131062" in decision.reasons[0].message
    contact_resolve(phone=ALICE, bsuid=ALICE_ID)  # now the phone is known
    assert check(ALICE_ID, category="authentication").allowed


def test_a_malformed_bsuid_is_an_invalid_recipient(sender):
    decision = check("GB.12-34")
    assert codes(decision) == ["invalid_recipient"]
    assert "not a WhatsApp user id" in decision.reasons[0].message


def test_back_offs_and_offboarded_accounts(sender):
    Contact.objects.filter(phone=ALICE).update(
        backoff_until=NOW + timedelta(seconds=16), unreachable_at=NOW - timedelta(days=1)
    )
    assert codes(check(ALICE)) == ["recipient_unreachable", "recipient_backoff"]
    sender.backoff_until = NOW + timedelta(minutes=1)
    sender.backoff_reason = "130429: too fast"
    sender.save()
    sender.account.connection_state = "offboarded"
    sender.account.save()
    assert codes(check(CANADA)) == ["number_backoff", "account_offboarded"]


def test_marketing_messages_api_needs_onboarding(sender):
    assert codes(check(ALICE, api="marketing_messages")) == ["marketing_not_onboarded"]
    sender.account.marketing_onboarding = "onboarded"
    sender.account.save()
    assert check(ALICE, api="marketing_messages").allowed
    assert "mm_marketing_only" in codes(check(ALICE, category="utility", api="marketing_messages"))


def test_bulk_headroom_refuses_only_new_recipients_past_the_limit(
    sender, django_assert_num_queries
):
    portfolio = account_portfolio_set(account=sender.account, business_id="5110000001")
    portfolio.messaging_limit = "tier_50"
    portfolio.save()
    # 48 recipients already counted in the last 24 h, two of them in this request
    for n in range(48):
        SentFactory(number=sender, recipient=f"4479111{n:05d}", occurred_at=NOW - timedelta(1 / 24))
    recipients = ["+447911100000", "+447911100001"] + [f"+4479111{90000 + n:05d}" for n in range(5)]
    for phone in recipients:
        consent_record_opt_in(
            phone=phone, category="marketing", source="import", occurred_at=NOW - timedelta(9)
        )

    with django_assert_num_queries(2):
        result = presend_evaluate(
            recipients=[*recipients, recipients[2]],  # a repeat counts once
            phone_number_id=ACME_PHONE,
            category="marketing",
            now=NOW,
        )

    assert [codes(d) for d in result.decisions] == [
        [],
        [],
        [],
        [],
        ["portfolio_limit"],
        ["portfolio_limit"],
        ["portfolio_limit"],
        [],
    ]
    assert result.portfolio.as_dict() == {
        "portfolio": "",
        "limit": 50,
        "used": 48,
        "remaining": 2,
        "remaining_after": 0,
        "new_recipients": 2,
    }
    # replies in a window are not business-initiated: no headroom needed
    assert (
        presend_evaluate(
            recipients=recipients, phone_number_id=ACME_PHONE, category="service", now=NOW
        ).portfolio
        is None
    )
