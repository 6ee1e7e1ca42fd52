import pytest
from django_tenants.utils import schema_context

from appeals import services
from tests.factories.appeals import AppealTicketFactory


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _business_hours(settings):
    """Fixed SLA settings whatever the environment says."""
    settings.APPEALS_BUSINESS_HOURS = "09:00-17:00"
    settings.APPEALS_BUSINESS_DAYS = ["mon", "tue", "wed", "thu", "fri"]
    settings.APPEALS_TIME_ZONE = "UTC"
    settings.APPEALS_FIRST_RESPONSE_HOURS = 4
    settings.APPEALS_RESOLUTION_HOURS = 16
    settings.APPEALS_WARN_AT_PERCENT = 75


@pytest.fixture
def acme_draft(acme, acme_waba):
    with schema_context(acme.schema_name):
        return AppealTicketFactory(account=acme_waba)


@pytest.fixture
def globex_appeal(globex, globex_waba, globex_owner):
    """A submitted appeal of Globex (for cross-tenant checks)."""
    with schema_context(globex.schema_name):
        ticket = AppealTicketFactory(account=globex_waba, title="Globex secret appeal")
        return services.appeal_submit(ticket=ticket, actor=globex_owner, client=globex)


def move(ticket, client, steps):
    """Take `steps` [(action, actor, kwargs)] with the real services, inside the schema."""
    with schema_context(client.schema_name):
        for action, actor, kwargs in steps:
            ticket = services.TRANSITION_SERVICES[action](
                ticket=ticket, actor=actor, client=client, **kwargs
            )
    return ticket


def open_appeal(client, account, actor, **overrides):
    """A draft opened through the real service, with complete guided answers."""
    from datetime import timedelta

    from django.utils import timezone

    fields = {
        "title": "Messaging blocked for 7 days",
        "subject_kind": "waba",
        "account": account,
        "block_type": "messaging_block",
        "blocked_at": timezone.now() - timedelta(days=1),
        "violation_type": "spam",
        "api_uses": "Order confirmations and delivery updates.",
        "consent_process": "Checkbox at checkout naming Acme Retail.",
        "improvement_plan": "Removed promotions from utility templates.",
    }
    fields.update(overrides)
    with schema_context(client.schema_name):
        return services.appeal_create(actor=actor, client=client, **fields)
