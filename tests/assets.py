"""The WhatsApp assets tests share: Acme's and Globex's WABAs and Acme's number, linked through
the real services (so webhooks route to them)."""

import pytest
from django_tenants.utils import schema_context

from compliance.models import PhoneNumber
from compliance.services import account_link, number_routes_ensure

ACME_WABA = "1110000001"
ACME_PHONE = "2110000001"
GLOBEX_WABA = "1120000001"


@pytest.fixture
def acme_waba(acme):
    return account_link(client=acme, waba_id=ACME_WABA, name="Acme Retail")


@pytest.fixture
def globex_waba(globex):
    return account_link(client=globex, waba_id=GLOBEX_WABA, name="Globex Logistics")


@pytest.fixture
def acme_number(acme, acme_waba):
    with schema_context(acme.schema_name):
        number = PhoneNumber.objects.create(
            account=acme_waba,
            meta_id=ACME_PHONE,
            display_phone_number="+1 555-010-0001",
            verified_name="Acme Retail",
            status="connected",
            quality="high",
            messaging_limit="tier_10k",
        )
    number_routes_ensure(numbers=[number], client=acme)
    return number
