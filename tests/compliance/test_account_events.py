"""Every account event in one table: severity, words, state; unknown events warn; offboarded
WABAs are not synced."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance.account_events import (
    ACCOUNT_EVENTS,
    account_event_record,
    account_state_text,
    account_syncable,
)
from compliance.choices import EventKind
from compliance.models import Alert, HealthEvent, WhatsAppAccount
from compliance.portfolio import account_portfolio_set

NOW = timezone.now()
DOCUMENTED = {
    "ACCOUNT_DELETED", "ACCOUNT_RESTRICTION", "ACCOUNT_VIOLATION", "DISABLED_UPDATE",
    "AD_ACCOUNT_LINKED", "AUTH_INTL_PRICE_ELIGIBILITY_UPDATE",
    "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE", "MM_LITE_TERMS_SIGNED", "PARTNER_ADDED",
    "PARTNER_REMOVED", "PARTNER_APP_INSTALLED", "PARTNER_APP_UNINSTALLED",
    "PARTNER_CLIENT_CERTIFICATION_NEEDED", "PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE",
    "VOLUME_BASED_PRICING_TIER_UPDATE", "ACCOUNT_OFFBOARDED", "ACCOUNT_RECONNECTED",
    "VERIFIED_ACCOUNT", "INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED",
    "INCREASED_CAPABILITIES_ELIGIBILITY_FAILED",
    "INCREASED_CAPABILITIES_ELIGIBILITY_NEED_MORE_INFO",
    "OBA_APPROVED", "OBA_REJECTED", "PROFILE_PICTURE_LOST",
}  # fmt: skip


@pytest.fixture
def account(acme, acme_waba):
    with schema_context(acme.schema_name):
        yield WhatsAppAccount.objects.get(pk=acme_waba.pk)


def test_every_documented_event_has_words_and_a_severity():
    assert set(ACCOUNT_EVENTS) == DOCUMENTED
    for row in ACCOUNT_EVENTS.values():
        assert row.title
        assert row.severity in ("info", "warning", "critical")
        if row.severity != "info":
            assert row.action  # what to do when it alerts


def test_offboarded_stops_the_sync_and_says_so_until_reconnected(account):
    account_event_record(
        account=account, event="ACCOUNT_OFFBOARDED", info={}, stated_at=NOW, key="k1"
    )
    event = HealthEvent.objects.get(dedupe_key="k1")
    account.refresh_from_db()
    assert account.connection_state == "offboarded"
    assert not account_syncable(account)
    assert account_state_text(account).startswith("The account was offboarded")
    assert Alert.objects.get().event == event
    # a late, older reconnect does not undo it
    account_event_record(
        account=account,
        event="ACCOUNT_RECONNECTED",
        info={},
        stated_at=NOW - timedelta(minutes=5),
        key="k2",
    )
    account.refresh_from_db()
    assert account.connection_state == "offboarded"
    account_event_record(
        account=account, event="account_reconnected", info={}, stated_at=NOW, key="k3"
    )
    account.refresh_from_db()
    assert account_syncable(account)


def test_partner_removed_with_reason_and_idempotent(account):
    info = {"disconnection_info": {"reason": "COMPANION_INACTIVITY", "initiated_by": "SYSTEM"}}
    for _ in range(2):
        account_event_record(
            account=account, event="PARTNER_REMOVED", info=info, stated_at=NOW, key="p"
        )
    (first,) = HealthEvent.objects.filter(dedupe_key="p")
    assert first.title == "The BSP was removed as partner of the account (companion inactivity)"
    assert WhatsAppAccount.objects.get(pk=account.pk).connection_state == "partner_removed"


def test_terms_signed_onboards_marketing_messages(account):
    account_event_record(
        account=account, event="MM_LITE_TERMS_SIGNED", info={}, stated_at=NOW, key="mm"
    )
    assert WhatsAppAccount.objects.get(pk=account.pk).marketing_onboarding == "onboarded"
    assert Alert.objects.count() == 0  # informational


def test_scaling_alerts_go_to_the_portfolio(account):
    portfolio = account_portfolio_set(account=account, business_id="5110000001")
    account_event_record(
        account=account,
        event="INCREASED_CAPABILITIES_ELIGIBILITY_FAILED",
        info={"alert_description": "Business not verified."},
        stated_at=NOW,
        key="s",
    )
    portfolio.refresh_from_db()
    assert portfolio.scaling_state == "failed"
    event = HealthEvent.objects.get(kind=EventKind.SCALING_PATH)
    assert event.severity == "critical"
    assert event.detail.startswith("Business not verified.")


def test_an_unknown_event_becomes_a_visible_warning_with_its_payload(account):
    account_event_record(
        account=account, event="SOMETHING_NEW", info={"x": 1}, stated_at=NOW, key="u"
    )
    event = HealthEvent.objects.get(dedupe_key="u")
    assert (event.kind, event.severity) == ("unknown_event", "warning")
    assert event.title == "Meta sent an account event the portal does not know: SOMETHING_NEW"
    assert event.data == {"event": "SOMETHING_NEW", "info": {"x": 1}}
    assert Alert.objects.get().event == event
