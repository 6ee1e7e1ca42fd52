"""The whole review path in a real browser: a client drafts a template with a dangling
parameter, sees the lint error live, fixes it and submits; a BSP reviewer approves it in the
queue; the Meta simulator (over real HTTP, its webhooks to the live server) approves it; the
client sees it approved."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from playwright.sync_api import expect

from portal.meta.simulator import SimulatorServer
from portal.meta.simulator.scenario import load
from tests.conftest import committed
from tests.people import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

WABA = "1130000001"  # initech's WABA in the demo scenario
TOKEN = "dev-system-user-token"


@pytest.fixture
def review_client():
    """A client of its own with a WABA, committed (the live server must see it); removed after."""
    from compliance.services import account_link
    from tenants.models import Client
    from tenants.services import client_create

    slug = f"tr-{uuid.uuid4().hex[:8]}"
    email = f"owner@{slug}.example"

    def create():
        client = client_create(
            name="Review Flow", slug=slug, owner_email=email, owner_password=PASSWORD
        )
        account_link(client=client, waba_id=WABA, name="Review Flow WABA")
        return client

    def remove():
        from portal.meta.models import WebhookChange, WebhookDelivery
        from tenants.models import User

        deliveries = WebhookChange.objects.filter(entry_id=WABA).values("delivery_id")
        WebhookDelivery.objects.filter(pk__in=deliveries).delete()
        Client.objects.get(pk=client.pk).delete(force_drop=True)
        User.objects.filter(email=email).delete()

    client = committed(create)
    yield client, email
    committed(remove)


@pytest.fixture
def sim(live_portal, settings):
    from portal.meta import credentials

    webhook_url = live_portal.format(host=settings.PORTAL_DOMAIN) + "/webhooks/meta"
    # The demo scenario with only this test's WABA and none of its timed events: every webhook
    # the simulator sends (and this test commits) is about this test's client.
    scenario = load("demo")
    scenario["wabas"] = [w for w in scenario["wabas"] if w["id"] == WABA]
    scenario["events"] = []
    with SimulatorServer(
        scenario, webhook_url=webhook_url, app_secret=settings.META_APP_SECRET
    ) as server:
        settings.META_GRAPH_URL = server.url
        settings.META_SYSTEM_USER_TOKEN = TOKEN
        credentials.clear_cache()
        yield server
    credentials.clear_cache()


def sign_in(page, base: str, email: str) -> None:
    page.goto(base + "/auth/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_draft_lint_fix_submit_review_meta_approval(
    live_portal, browser, review_client, sim, eager_tasks
):
    from portal.meta.services import webhook_process_pending

    client, email = review_client
    client_base = live_portal.format(host=f"{client.slug}.{settings.PORTAL_DOMAIN}")
    staff_base = live_portal.format(host=settings.PORTAL_DOMAIN)
    client_page = browser.new_context().new_page()
    client_page.set_default_timeout(15_000)
    staff_page = browser.new_context().new_page()
    staff_page.set_default_timeout(15_000)

    # The client drafts a template whose body ends with a parameter.
    sign_in(client_page, client_base, email)
    client_page.goto(client_base + "/templates/new/")
    client_page.get_by_label("Name").fill("pickup_ready")
    client_page.get_by_label("Example values").fill("Monday")
    client_page.get_by_label("Body").fill("Your order is ready for pickup on {{1}}")
    dangling = client_page.locator('#lint-panel [data-code="param.dangling_end"]')
    expect(dangling).to_be_visible()  # live, before anything is saved
    expect(dangling).to_contain_text("End the message with text")

    client_page.get_by_label("Body").fill("Your order is ready for pickup on {{1}}. Thank you.")
    expect(dangling).to_have_count(0)
    expect(client_page.locator("#lint-panel .wa-body")).to_have_text(
        "Your order is ready for pickup on Monday. Thank you."
    )
    client_page.get_by_role("button", name="Save draft").click()
    client_page.get_by_role("button", name="Submit for review").click()
    expect(client_page.locator("#template-status")).to_have_text("Submitted for review")

    # A reviewer approves it in the queue; a task sends it to Meta after the commit.
    sign_in(staff_page, staff_base, "reviewer@bsp.example")
    staff_page.goto(staff_base + "/staff/templates/")
    item = staff_page.locator("article.queue-item", has_text="pickup_ready")
    expect(item).to_contain_text("Review Flow")
    item.get_by_role("button", name="Approve and send to Meta").click()
    expect(staff_page.locator(".messages")).to_contain_text(
        "pickup_ready approved; it is on its way to Meta."
    )
    expect(staff_page.locator("article.queue-item", has_text="pickup_ready")).to_have_count(0)
    client_page.reload()
    expect(client_page.locator("#template-status")).to_have_text("In Meta review")

    # Meta's review ends; its webhook reaches the live server and is processed.
    [approved] = [t for t in sim.state.templates.values() if t["name"] == "pickup_ready"]
    sim.advance(60)
    assert approved["status"] == "APPROVED"
    assert [(d["field"], d["status"]) for d in sim.deliveries] == [
        ("message_template_status_update", 200)
    ]
    committed(webhook_process_pending)

    client_page.reload()
    expect(client_page.locator("#template-status")).to_have_text("Approved")
