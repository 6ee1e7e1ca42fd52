"""The appeal flow in a real browser: the client opens an appeal from a restriction alert, staff
ask for more information, the client answers, staff submit it to Meta and record "reversed",
and the recovery plan appears."""

import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conftest import committed
from tests.people import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

WABA = "1390000001"


@pytest.fixture
def appeal_client():
    """A client of its own with a restriction alert, committed for the live server; removed
    afterwards (with its schema and files)."""
    from django_tenants.utils import schema_context

    from compliance.choices import EventKind, EventSource, Severity
    from compliance.services import account_link, health_event_record
    from tenants.models import Client, User
    from tenants.services import client_create

    slug = f"appeal-{uuid.uuid4().hex[:8]}"
    owner = f"owner@{slug}.example"

    def create():
        ends = timezone.now() + timedelta(days=7)  # relative: a fixed date goes stale
        client = client_create(
            name="Appeal Browser Co", slug=slug, owner_email=owner, owner_password=PASSWORD
        )
        account = account_link(client=client, waba_id=WABA, name="Browser WABA")
        with schema_context(client.schema_name):
            health_event_record(
                kind=EventKind.RESTRICTION,
                severity=Severity.CRITICAL,
                title="Account restricted: customer initiated messaging until "
                f"{ends:%Y-%m-%d %H:%M} UTC",
                detail="Meta blocked all sending for 7 days.",
                key=f"browser-{slug}",
                source=EventSource.WEBHOOK,
                account=account,
                data={
                    "restriction_type": "CUSTOMER_INITIATED_MESSAGING",
                    "expires_at": ends.isoformat(),
                },
            )
        return client

    def remove():
        Client.objects.get(pk=client.pk).delete(force_drop=True)
        User.objects.filter(email=owner).delete()

    client = committed(create)
    yield client, owner
    committed(remove)


def _sign_in(page, base, email):
    page.goto(base + "/auth/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_appeal_from_alert_to_recovery_plan(live_portal, browser, appeal_client):
    from playwright.sync_api import expect

    client, owner = appeal_client
    client_base = live_portal.format(host=f"{client.slug}.localhost")
    staff_base = live_portal.format(host="localhost")
    client_page = browser.new_context().new_page()
    staff_page = browser.new_context().new_page()
    for p in (client_page, staff_page):
        p.set_default_timeout(15_000)

    # The client opens the appeal from the alert on the dashboard; the form is prefilled.
    _sign_in(client_page, client_base, owner)
    client_page.wait_for_url(client_base + "/")
    client_page.get_by_role("link", name="Open an appeal").click()
    assert client_page.get_by_label("Title").input_value().startswith("Account restricted")
    assert client_page.get_by_label("Block type").input_value() == "messaging_block"
    client_page.get_by_label("How you use the WhatsApp API").fill("Order and delivery updates.")
    client_page.get_by_label("How people agree to your messages").fill(
        "A checkbox at checkout naming us and WhatsApp order updates."
    )
    client_page.get_by_label("Improvement plan").fill("Promotions removed from utility templates.")
    client_page.get_by_role("button", name="Save draft").click()
    client_page.get_by_role("button", name="Submit to the BSP").click()
    expect(client_page.locator("#appeal-status")).to_have_text("Submitted")
    appeal_url = client_page.url

    # Staff find it in the inbox and ask for more information.
    _sign_in(staff_page, staff_base, "appeals@bsp.example")
    staff_page.goto(staff_base + "/staff/appeals/")
    staff_page.get_by_role("link", name=re.compile("Account restricted")).click()
    staff_page.get_by_role("button", name="Start review").click()
    staff_page.get_by_label("Ask the client for more information").fill(
        "Please send the wording of the checkout checkbox."
    )
    staff_page.get_by_role("button", name="Ask the client").click()
    expect(staff_page.locator("#appeal-status")).to_have_text("Waiting on client")

    # The client answers.
    client_page.goto(appeal_url)
    assert client_page.get_by_text("Please send the wording of the checkout checkbox.").is_visible()
    client_page.get_by_label("Message:", exact=True).fill(
        "“Send me order updates on WhatsApp from Browser Co.”"
    )
    client_page.get_by_role("button", name="Send the answer").click()
    expect(client_page.locator("#appeal-status")).to_have_text("In staff review")

    # Staff submit it to Meta and record the outcome.
    staff_page.reload()
    assert staff_page.get_by_text("Send me order updates on WhatsApp").is_visible()
    staff_page.get_by_role("button", name="Ready for Meta").click()
    staff_page.get_by_label("Meta's case reference").fill("BSH-2026-0042")
    staff_page.get_by_role("button", name="Mark submitted to Meta").click()
    staff_page.get_by_label("Outcome").select_option("reversed")
    staff_page.get_by_role("button", name="Record the outcome").click()
    expect(staff_page.locator("#appeal-outcome")).to_have_text("Meta: Reversed")
    staff_page.get_by_role("button", name="Start the recovery plan").click()

    # The recovery plan appears for the client, and progress can be ticked off.
    client_page.goto(appeal_url)
    expect(client_page.locator("#appeal-status")).to_have_text("Recovery")
    plan = client_page.locator("#recovery")
    assert plan.get_by_text(re.compile("Review and submit the apology template")).is_visible()
    assert plan.get_by_text("Review how opt-in is collected").is_visible()
    first = plan.get_by_role("button", name=re.compile("^Mark done: Review and submit")).first
    first.click()
    # htmx swaps the item in place.
    expect(
        plan.get_by_role("button", name=re.compile("^Reopen: Review and submit"))
    ).to_be_visible()
    client_page.context.close()
    staff_page.context.close()
