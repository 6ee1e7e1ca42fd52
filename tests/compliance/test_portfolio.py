"""Business portfolios: the shared limit with Meta's ordering, both payload generations, the
number cap, scaling decisions, usage counted from the ledger across numbers, and its alerts."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance.choices import EventKind, LimitSource, ScalingState
from compliance.models import Alert, HealthEvent, PhoneNumber, WhatsAppAccount
from compliance.portfolio import (
    account_portfolio_set,
    fleet_portfolio_usage,
    portfolio_from_waba,
    portfolio_limit_set,
    portfolio_number_cap_set,
    portfolio_scaling_set,
    portfolio_usage,
    portfolio_usage_watch,
)
from compliance.services import number_reassess
from portal.meta import types as meta
from portal.meta.business import messaging_limit_from_meta
from tenants.models import WorkItem, WorkKind
from tests.factories.platform import SentFactory


@pytest.fixture
def portfolio(acme, acme_number):
    with schema_context(acme.schema_name):
        yield account_portfolio_set(
            account=acme_number.account, business_id="5110000001", name="Acme Group"
        )


@pytest.fixture
def second_number(acme, acme_number):
    """A number of another WABA of the same portfolio."""
    with schema_context(acme.schema_name):
        other = WhatsAppAccount.objects.create(meta_id="1110000009", name="Acme Support")
        account_portfolio_set(account=other, business_id="5110000001")
        return PhoneNumber.objects.create(
            account=other, meta_id="2110000009", display_phone_number="+1 555-010-0009"
        )


def test_limit_from_both_payload_generations():
    assert messaging_limit_from_meta("TIER_2K") == meta.MessagingLimit.TIER_2K
    assert messaging_limit_from_meta("TIER_UNLIMITED") == meta.MessagingLimit.UNLIMITED
    assert messaging_limit_from_meta(2000) == meta.MessagingLimit.TIER_2K
    assert messaging_limit_from_meta("-1") == meta.MessagingLimit.UNLIMITED
    assert messaging_limit_from_meta("TIER_1K") == meta.MessagingLimit.TIER_1K
    assert messaging_limit_from_meta(1234) is None
    assert messaging_limit_from_meta(None) is None


def test_an_older_statement_does_not_overwrite_a_newer_one(portfolio):
    now = timezone.now()
    portfolio_limit_set(
        portfolio=portfolio,
        limit=meta.MessagingLimit.TIER_250,
        stated_at=now - timedelta(days=2),
        source=LimitSource.SYNC,
        key="a",
    )
    portfolio_limit_set(
        portfolio=portfolio,
        limit=meta.MessagingLimit.TIER_2K,
        stated_at=now,
        source=LimitSource.WEBHOOK,
        key="b",
    )
    late = portfolio_limit_set(
        portfolio=portfolio,
        limit=meta.MessagingLimit.TIER_250,
        stated_at=now - timedelta(hours=1),
        source=LimitSource.WEBHOOK,
        key="c",
    )
    again = portfolio_limit_set(
        portfolio=portfolio,
        limit=meta.MessagingLimit.TIER_2K,
        stated_at=now,
        source=LimitSource.WEBHOOK,
        key="b",
    )

    portfolio.refresh_from_db()
    assert portfolio.messaging_limit == "tier_2k"
    assert late.superseded is True
    assert again is None
    history = list(portfolio.limit_history.order_by("stated_at").values_list("limit", "superseded"))
    assert history == [("tier_250", False), ("tier_250", True), ("tier_2k", False)]
    rise = HealthEvent.objects.get(kind=EventKind.PORTFOLIO_LIMIT)
    assert rise.title == (
        "Messaging limit of Acme Group raised: 250 recipients a day → 2,000 recipients a day"
    )
    assert rise.severity == "info"


def test_the_number_cap_keeps_meta_s_order(portfolio):
    now = timezone.now()
    assert portfolio_number_cap_set(
        portfolio=portfolio, cap=2, stated_at=now - timedelta(days=1), source="sync", key="x"
    )
    assert portfolio_number_cap_set(
        portfolio=portfolio, cap=20, stated_at=now, source="webhook", key="y"
    )
    assert not portfolio_number_cap_set(
        portfolio=portfolio, cap=2, stated_at=now - timedelta(hours=1), source="webhook", key="z"
    )
    portfolio.refresh_from_db()
    assert portfolio.max_phone_numbers == 20
    assert HealthEvent.objects.get(kind=EventKind.NUMBER_CAP).title == (
        "Acme Group may now register 20 phone numbers (was 2)"
    )


def test_scaling_decisions_alert_even_when_approved(portfolio):
    now = timezone.now()
    portfolio_scaling_set(
        portfolio=portfolio, state=ScalingState.DEFERRED, stated_at=now - timedelta(1), key="d"
    )
    portfolio_scaling_set(portfolio=portfolio, state=ScalingState.APPROVED, stated_at=now, key="e")

    portfolio.refresh_from_db()
    assert portfolio.scaling_state == ScalingState.APPROVED
    titles = sorted(a.event.title for a in Alert.objects.select_related("event"))
    assert titles == [
        "Meta approved a higher messaging limit (Acme Group)",
        "Meta deferred the messaging-limit increase (Acme Group)",
    ]


def test_usage_counts_unique_recipients_across_the_portfolio_s_numbers(
    portfolio, second_number, acme_number
):
    now = timezone.now()
    portfolio.messaging_limit = "tier_250"
    portfolio.save()
    SentFactory(number=acme_number, recipient="447911000001", occurred_at=now - timedelta(hours=1))
    # the same person from another number of the portfolio: still one recipient
    SentFactory(number=second_number, recipient="447911000001", occurred_at=now)
    SentFactory(number=second_number, recipient="447911000002", occurred_at=now)
    SentFactory(number=second_number, recipient="US.1349120865530", occurred_at=now)
    # not counted: outside 24 h, service, free, later statuses, failed
    SentFactory(number=acme_number, recipient="447911000003", occurred_at=now - timedelta(hours=25))
    SentFactory(number=acme_number, recipient="447911000004", pricing_category="service")
    SentFactory(number=acme_number, recipient="447911000005", pricing_type="free_customer_service")
    SentFactory(number=acme_number, recipient="447911000006", status="delivered")
    SentFactory(number=acme_number, recipient="447911000007", status="failed")
    # the pricing generation before `type`: counted
    SentFactory(number=acme_number, recipient="447911000008", pricing_type="", occurred_at=now)

    usage = portfolio_usage(portfolio=portfolio, now=now)

    assert (usage.used, usage.limit, usage.remaining, usage.percent) == (4, 250, 246, 1)


def test_usage_alerts_at_80_and_100_percent_once_a_day(portfolio, acme_number, acme):
    now = timezone.now()
    portfolio.messaging_limit = "tier_50"
    portfolio.save()
    acme_number.account.refresh_from_db()
    number_reassess(number=acme_number, client=acme)  # its row in the staff work index
    for n in range(40):
        SentFactory(number=acme_number, recipient=f"44791100{n:04d}", occurred_at=now)
    portfolio_usage_watch(portfolio=portfolio, now=now)
    portfolio_usage_watch(portfolio=portfolio, now=now)
    assert list(
        HealthEvent.objects.filter(kind=EventKind.PORTFOLIO_USAGE).values_list("title")
    ) == [("Acme Group used 80% of its messaging limit (40 of 50 recipients in 24 hours)",)]
    for n in range(40, 55):
        SentFactory(number=acme_number, recipient=f"44791100{n:04d}", occurred_at=now)
    usage = portfolio_usage_watch(portfolio=portfolio, now=now)
    assert usage.over
    severities = sorted(
        HealthEvent.objects.filter(kind=EventKind.PORTFOLIO_USAGE).values_list(
            "severity", flat=True
        )
    )
    assert severities == ["critical", "warning"]
    # the staff work index (acme's numbers, public schema) carries the usage
    item = WorkItem.objects.get(
        kind=WorkKind.NUMBER_HEALTH, client=acme, object_id=str(acme_number.pk)
    )
    assert item.data["portfolio"]["used"] == 55
    assert fleet_portfolio_usage([item])[0]["percent"] == 100


def test_usage_never_counts_another_client_s_ledger(portfolio, acme_number, globex):
    now = timezone.now()
    SentFactory(number=acme_number, recipient="447911000001", occurred_at=now)
    with schema_context(globex.schema_name):
        SentFactory(number=None, recipient="447911000002", occurred_at=now)
    assert portfolio_usage(portfolio=portfolio, now=now).used == 1


def test_the_sync_reads_the_owner_business(acme, acme_waba):
    with schema_context(acme.schema_name):
        account = WhatsAppAccount.objects.get(pk=acme_waba.pk)
        raw = {
            "id": account.meta_id,
            "owner_business_info": {
                "id": "5110000001",
                "name": "Acme Group",
                "verification_status": "verified",
            },
            "marketing_messages_onboarding_status": "ONBOARDED",
        }
        portfolio = portfolio_from_waba(account=account, waba_raw=raw, now=timezone.now())
        account.refresh_from_db()
        assert (portfolio.meta_id, portfolio.name, portfolio.verification) == (
            "5110000001",
            "Acme Group",
            "verified",
        )
        assert account.portfolio_id == portfolio.pk
        assert account.marketing_onboarding == "onboarded"
        assert (
            portfolio_from_waba(account=account, waba_raw={"id": "1"}, now=timezone.now()) is None
        )


def test_a_new_owner_business_is_stored_in_one_insert_with_what_meta_states(acme, acme_waba):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    now = timezone.now()
    raw = {
        "id": acme_waba.meta_id,
        "owner_business_info": {
            "id": "5110000002",
            "name": "Acme Holdings",
            "verification_status": "verified",
        },
    }
    with schema_context(acme.schema_name):
        account = WhatsAppAccount.objects.get(pk=acme_waba.pk)
        with CaptureQueriesContext(connection) as queries:
            portfolio = portfolio_from_waba(account=account, waba_raw=raw, now=now)
        portfolio.refresh_from_db()
    writes = [q["sql"].split()[0] for q in queries if not q["sql"].startswith("SELECT")]
    assert writes == ["INSERT", "UPDATE"]  # the portfolio, the account's link to it
    assert (portfolio.name, portfolio.verification, portfolio.last_confirmed_at) == (
        "Acme Holdings",
        "verified",
        now,
    )


def test_a_portfolio_created_meanwhile_by_another_writer_is_the_one_returned(acme, monkeypatch):
    """Between the read and the INSERT another transaction stored it: the INSERT … ON
    CONFLICT DO NOTHING adds nothing, and the stored row is read and returned."""
    from compliance import portfolio as portfolios
    from compliance.models import BusinessPortfolio

    with schema_context(acme.schema_name):
        theirs = BusinessPortfolio.objects.create(meta_id="5110000003", name="Theirs")
        real_filter = BusinessPortfolio.objects.filter

        class NotYetSeen:
            def first(self):
                return None  # as the read found it, before the other commit

        monkeypatch.setattr(
            BusinessPortfolio.objects,
            "filter",
            lambda **kw: NotYetSeen() if kw == {"meta_id": "5110000003"} else real_filter(**kw),
        )
        got = portfolios.portfolio_ensure(business_id="5110000003", name="Theirs")
        monkeypatch.undo()
        assert got.pk == theirs.pk
        assert BusinessPortfolio.objects.filter(meta_id="5110000003").count() == 1


def test_the_rollup_gives_the_ledger_s_count_before_and_after_folding(
    portfolio, second_number, acme_number
):
    from compliance.portfolio import portfolio_usage_fold

    now = timezone.now()
    portfolio.messaging_limit = "tier_250"
    portfolio.save()
    at = lambda minutes: now - timedelta(minutes=minutes)  # noqa: E731
    SentFactory(number=acme_number, recipient="447911000001", occurred_at=at(60 * 23))
    SentFactory(number=acme_number, recipient="447911000002", occurred_at=at(60 * 25))  # out
    SentFactory(number=second_number, recipient="447911000003", occurred_at=at(5))
    assert portfolio_usage(portfolio=portfolio, now=now).used == 2
    assert portfolio_usage_fold(portfolio=portfolio, now=now) == 2
    assert portfolio_usage(portfolio=portfolio, now=now).used == 2
    # new sends after the fold: one to a counted recipient, one to an old one, one new
    SentFactory(number=acme_number, recipient="447911000001", occurred_at=at(1))
    SentFactory(number=acme_number, recipient="447911000002", occurred_at=at(1))
    SentFactory(number=second_number, recipient="447911000004", occurred_at=at(1))
    assert portfolio_usage(portfolio=portfolio, now=now).used == 4
    portfolio_usage_fold(portfolio=portfolio, now=now)
    assert portfolio_usage(portfolio=portfolio, now=now).used == 4
    assert portfolio_usage_fold(portfolio=portfolio, now=now, rescan=True) == 0  # idempotent
    assert portfolio_usage(portfolio=portfolio, now=now).used == 4
    # 23 h 58 min later only the sends of a minute ago (three recipients) are in the window
    later = now + timedelta(hours=23, minutes=58)
    assert portfolio_usage(portfolio=portfolio, now=later).used == 3
