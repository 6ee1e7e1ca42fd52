"""The sync reads the WABA's owner portfolio and states its limit; offboarded WABAs are skipped
and say why (against the simulator over real HTTP)."""

import pytest
from django_tenants.utils import schema_context

from compliance.account_events import account_event_record
from compliance.models import BusinessPortfolio, WhatsAppAccount
from compliance.sync import client_sync
from portal.meta.client import GraphClient
from portal.meta.simulator import SimulatorServer

TOKEN = "dev-system-user-token"


@pytest.fixture
def sim():
    with SimulatorServer("demo") as server:
        yield server


def test_the_sync_links_the_portfolio_and_its_limit(sim, acme, acme_waba):
    with (
        GraphClient(token=TOKEN, base_url=sim.url, sleep=lambda s: None) as graph,
        schema_context(acme.schema_name),
    ):
        result = client_sync(graph=graph)
        assert result.errors == []
        portfolio = BusinessPortfolio.objects.get()
        assert (portfolio.meta_id, portfolio.messaging_limit, portfolio.verification) == (
            "5110000001",
            "tier_10k",
            "verified",
        )
        assert WhatsAppAccount.objects.get().portfolio == portfolio
        assert list(portfolio.limit_history.values_list("limit", "source")) == [
            ("tier_10k", "sync")
        ]


def test_an_offboarded_waba_is_not_synced_and_says_why(sim, acme, acme_waba):
    from django.utils import timezone

    with schema_context(acme.schema_name):
        account_event_record(
            account=acme_waba,
            event="ACCOUNT_OFFBOARDED",
            info={},
            stated_at=timezone.now(),
            key="off",
        )
        calls = sim.engine.calls
        with GraphClient(token=TOKEN, base_url=sim.url, sleep=lambda s: None) as graph:
            result = client_sync(graph=graph)
        assert sim.engine.calls == calls  # not one Graph call
        assert result.errors == []
        assert len(result.skipped) == 1
        assert result.skipped[0].startswith(
            "1110000001: The account was offboarded after a device change"
        )
        assert WhatsAppAccount.objects.get().last_confirmed_at is None
