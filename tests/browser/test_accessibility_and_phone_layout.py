"""Every page, signed in as a client owner and as BSP staff, at 1366 and 390 px wide: axe-core
finds no serious or critical violation, a phone never scrolls sideways, and nothing answers 404
(the favicon included). axe-core comes bundled with the PyPI package axe-playwright-python, so
nothing is fetched at test time."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.conftest import committed
from tests.people import PASSWORD, STAFF

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

WABA = "1390000777"
WIDTHS = (1366, 390)
SERIOUS = {"serious", "critical"}


@pytest.fixture(scope="module")
def a11y_client(django_db_setup, django_db_blocker):
    """A client of its own with something on every page (numbers with history, templates in
    several states, a contact, an appeal with a message, an alert, Meta's scheduled ban),
    committed for the live server and removed afterwards."""
    from django.utils import timezone
    from django_tenants.utils import schema_context

    from appeals import services as appeal_services
    from compliance.choices import EventKind, EventSource, Severity
    from compliance.models import HealthSnapshot, PhoneNumber, WhatsAppAccount
    from compliance.services import account_link, health_event_record, number_reassess
    from templates_review.choices import ReviewState
    from tenants.models import Client, User
    from tenants.services import client_create
    from tests.factories import (
        ConsentEventFactory,
        ConsentStateFactory,
        ContactFactory,
        MessageTemplateFactory,
    )
    from tests.factories.appeals import AppealTicketFactory

    slug = f"a11y-{uuid.uuid4().hex[:8]}"
    owner = f"owner@{slug}.example"
    ids: dict = {}

    def create():
        now = timezone.now()
        client = client_create(
            name="Accessible Goods International Trading Company",
            slug=slug,
            owner_email=owner,
            owner_password=PASSWORD,
        )
        account = account_link(client=client, waba_id=WABA, name="Accessible Goods main WABA")
        with schema_context(client.schema_name):
            WhatsAppAccount.objects.filter(pk=account.pk).update(
                ban_state="scheduled_for_disable",
                ban_date=(now + timedelta(days=9)).strftime("%B %d, %Y"),
            )
            number = PhoneNumber.objects.create(
                account=account,
                meta_id="2390000777",
                display_phone_number="+1 555-010-0777",
                verified_name="Accessible Goods",
                status="connected",
                quality="medium",
                messaging_limit="tier_2k",
            )
            number_reassess(number=number, client=client)
            for hours, score, quality in ((30, 90, "high"), (10, 62, "medium"), (2, 40, "low")):
                HealthSnapshot.objects.create(
                    number=number,
                    taken_at=now - timedelta(hours=hours),
                    status="connected",
                    quality=quality,
                    messaging_limit="tier_2k",
                    can_send="available",
                    score=score,
                    band="watch",
                )
            health_event_record(
                kind=EventKind.RESTRICTION,
                severity=Severity.CRITICAL,
                title="Account restricted: business initiated messaging",
                detail="Meta blocked business-initiated messages for 7 days.",
                key=f"a11y-{slug}",
                source=EventSource.WEBHOOK,
                account=account,
                data={"restriction_type": "BUSINESS_INITIATED_MESSAGING"},
            )
            draft = MessageTemplateFactory(account=account, name="order_ready_for_pickup")
            MessageTemplateFactory(
                account=account,
                name="spring_sale_announcement",
                review_state=ReviewState.SENT_TO_META,
                meta_id="88001",
                meta_status="paused",
                pause_count=1,
                paused_until=now + timedelta(hours=5),
            )
            contact = ContactFactory(phone="+14155550777", name="Ana Example")
            ConsentStateFactory(contact=contact)
            ConsentEventFactory(contact=contact, occurred_at=now - timedelta(days=2))
            ticket = AppealTicketFactory(account=account, title="Business messaging blocked")
            user = User.objects.get(email=owner)
            ticket = appeal_services.appeal_submit(ticket=ticket, actor=user, client=client)
            appeal_services.appeal_message_post(
                ticket=ticket, actor=user, client=client, body="We removed the promotions."
            )
            ids.update(number=number.pk, template=draft.pk, appeal=ticket.pk, phone=contact.phone)
        return client

    def remove():
        Client.objects.get(pk=client.pk).delete(force_drop=True)
        User.objects.filter(email=owner).delete()

    with django_db_blocker.unblock():
        client = committed(create)
        yield client, owner, ids
        committed(remove)


def _client_pages(ids) -> list[str]:
    return [
        "/",
        f"/numbers/{ids['number']}/",
        "/templates/",
        "/templates/new/",
        f"/templates/{ids['template']}/",
        f"/templates/{ids['template']}/edit/",
        "/contacts/",
        f"/contacts/{ids['phone']}/",
        "/consent/imports/",
        "/consent/policy/",
        "/appeals/",
        "/appeals/new/",
        f"/appeals/{ids['appeal']}/",
        "/api/docs/",
    ]


def _staff_pages(slug, ids) -> list[str]:
    return [
        "/",
        "/staff/",
        "/staff/clients/new/",
        f"/staff/clients/{slug}/link-waba/",
        "/staff/fleet/",
        "/staff/templates/",
        "/staff/appeals/",
        f"/staff/appeals/{slug}/{ids['appeal']}/",
        "/staff/webhooks/",
    ]


def _sign_in(page, base: str, email: str) -> None:
    page.goto(base + "/auth/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


# The innermost elements sticking out on the right (to say what makes a page scroll sideways).
WIDEST = """(() => {
  const edge = document.documentElement.clientWidth + 1;
  const out = e => e.getBoundingClientRect().right > edge;
  return [...document.querySelectorAll('body *')]
    .filter(e => out(e) && ![...e.children].some(out))
    .slice(0, 3)
    .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));
})()"""


def _audit(page, base: str, paths: list[str], width: int) -> dict:
    """Open each page; collect what is wrong with it (empty when nothing is)."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    problems: dict[str, list[str]] = {}
    for path in paths:
        missing.clear()
        response = page.goto(base + path)
        page.wait_for_load_state("networkidle")
        found = []
        if response is None or response.status >= 400:
            found.append(f"HTTP {response.status if response else 'none'}")
        if missing:
            found.append(f"404s: {missing}")
        if page.evaluate("document.documentElement.lang") != "en":
            found.append("no lang on <html>")
        if width <= 390:
            scroll = page.evaluate("document.documentElement.scrollWidth")
            if scroll > width:
                found.append(f"scrolls sideways: {scroll}px wide, by {page.evaluate(WIDEST)}")
        for violation in axe.run(page).response["violations"]:
            if violation["impact"] in SERIOUS:
                targets = [n["target"] for n in violation["nodes"]][:3]
                found.append(f"axe {violation['impact']} {violation['id']}: {targets}")
        if found:
            problems[path] = found
    return problems


@pytest.mark.parametrize("width", WIDTHS)
def test_every_client_page_is_accessible_and_fits_a_phone(live_portal, browser, a11y_client, width):
    client, owner, ids = a11y_client
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    base = live_portal.format(host=f"{client.slug}.localhost")
    _sign_in(page, base, owner)

    assert _audit(page, base, _client_pages(ids), width) == {}
    context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_every_staff_page_is_accessible_and_fits_a_phone(live_portal, browser, a11y_client, width):
    client, _, ids = a11y_client
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    base = live_portal.format(host="localhost")
    _sign_in(page, base, STAFF["staff_super"][0])

    assert _audit(page, base, _staff_pages(client.slug, ids), width) == {}
    context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_sign_in_page_is_accessible_and_fits_a_phone(live_portal, browser, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()

    assert _audit(page, live_portal.format(host="localhost"), ["/auth/login/"], width) == {}
    context.close()


def test_the_template_editor_is_usable_at_390(live_portal, browser, a11y_client):
    client, owner, _ = a11y_client
    context = browser.new_context(viewport={"width": 390, "height": 900})
    page = context.new_page()
    base = live_portal.format(host=f"{client.slug}.localhost")
    _sign_in(page, base, owner)
    page.goto(base + "/templates/new/")

    body = page.get_by_label("Body")
    assert body.bounding_box()["width"] >= 300  # the form is as wide as the phone, not 30 px
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()


def test_a_reviewer_sees_only_the_template_queue_in_the_staff_menu(live_portal, browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    _sign_in(page, live_portal.format(host="localhost"), STAFF["staff_reviewer"][0])
    page.goto(live_portal.format(host="localhost") + "/staff/templates/")

    assert page.get_by_role("navigation", name="Main").inner_text().split() == [
        "Template",
        "review",
    ]
    page.goto(live_portal.format(host="localhost") + "/staff/appeals/")
    assert page.locator("h1").inner_text() == "Not allowed"
    context.close()


@pytest.mark.parametrize("who", ["client", "staff"])
def test_appeal_facts_and_answers_are_not_cut_off_on_a_desktop(
    live_portal, browser, a11y_client, who
):
    """Defect 6: in 16rem cards the labels took the width: WABA names and dates were cut off and
    the guided answers wrapped a word per line."""
    client, owner, ids = a11y_client
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    if who == "client":
        base = live_portal.format(host=f"{client.slug}.localhost")
        _sign_in(page, base, owner)
        page.goto(base + f"/appeals/{ids['appeal']}/")
    else:
        base = live_portal.format(host="localhost")
        _sign_in(page, base, STAFF["staff_super"][0])
        page.goto(base + f"/staff/appeals/{client.slug}/{ids['appeal']}/")

    values = page.locator(".facts dd").evaluate_all(
        "els => els.map(e => [e.scrollWidth - e.clientWidth, e.getBoundingClientRect().width])"
    )
    assert values
    assert all(overflow <= 1 for overflow, _ in values)
    assert min(width for _, width in values) >= 150
    context.close()
