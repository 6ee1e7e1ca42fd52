"""Simulator webhook → intake on a live server → a real worker on the real broker → the health
event in the client's API. No step is called directly."""

import time
import uuid

import pytest
from django.conf import settings

from portal.meta.simulator import SimulatorServer
from tests.conftest import committed

WABA = "1130000001"  # initech's WABA in the demo scenario


@pytest.fixture
def e2e_client():
    """A client of its own, committed (the worker and the live server must see it); removed
    afterwards."""
    from compliance.services import account_link
    from tenants.models import Client
    from tenants.services import api_key_create, client_create

    slug = f"e2e-{uuid.uuid4().hex[:8]}"

    def create():
        client = client_create(name="End To End", slug=slug, owner_email=f"owner@{slug}.example")
        account_link(client=client, waba_id=WABA)
        _, raw_key = api_key_create(client=client, name="e2e")
        return client, raw_key

    def remove():
        from portal.meta.models import WebhookChange, WebhookDelivery
        from tenants.models import User

        deliveries = WebhookChange.objects.filter(entry_id=WABA).values("delivery_id")
        WebhookDelivery.objects.filter(pk__in=deliveries).delete()
        Client.objects.get(pk=client.pk).delete(force_drop=True)
        User.objects.filter(email=f"owner@{slug}.example").delete()

    client, raw_key = committed(create)
    yield client, raw_key
    committed(remove)


@pytest.mark.slow
@pytest.mark.django_db
def test_simulator_webhook_reaches_the_api_through_a_real_worker(
    e2e_client, live_portal, celery_worker_queue, api
):
    client, raw_key = e2e_client
    webhook_url = live_portal.format(host=settings.PORTAL_DOMAIN) + "/webhooks/meta"

    secret = settings.META_APP_SECRET
    with SimulatorServer("demo", webhook_url=webhook_url, app_secret=secret) as sim:
        sim.apply(
            {
                "type": "account_restriction",
                "waba_id": WABA,
                "restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING",
                "days": 7,
            }
        )
        assert [d["status"] for d in sim.deliveries] == [200]

    def poll_events():
        # On a connection of its own: reads in the test's transaction would hold locks on the
        # client's tables that the fixture's DROP SCHEMA then waits for.
        http = api(client, key=raw_key)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = http.get("/api/v1/events/").json()["results"]
            if found:
                return found
            time.sleep(0.1)  # polling for the worker's result, bounded by the deadline
        return []

    events = committed(poll_events)
    assert [(e["kind"], e["severity"], e["waba_id"]) for e in events] == [
        ("restriction", "critical", WABA)
    ]
