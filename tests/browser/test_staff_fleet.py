"""Fleet health in a real browser with JavaScript turned off, at 1366 and 390 px: the filters
and the pages work as plain links and GET forms (issue 14, defect 7: the band filter's button
was only in <noscript>)."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.browser.test_template_review_flow import sign_in
from tests.conftest import committed

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


@pytest.fixture
def fleet_rows():
    """57 numbers of acme in the work index (2 blocked), committed for the live server."""
    from tenants.models import Client, WorkItem, WorkKind

    marker = f"bt{uuid.uuid4().hex[:10]}"

    def create():
        acme = Client.objects.get(slug="acme")
        WorkItem.objects.bulk_create(
            WorkItem(
                kind=WorkKind.NUMBER_HEALTH,
                client=acme,
                object_id=f"{marker}-{n}",
                title=f"+1 555-03{n:02d}",
                subtitle=marker,
                status="connected",
                band="blocked" if n < 2 else "watch",
                sort_key=10 + n,
                data={"quality": "low" if n < 2 else "medium", "messaging_limit": "tier_1k"},
            )
            for n in range(57)
        )

    def remove():
        WorkItem.objects.filter(subtitle=marker).delete()

    committed(create)
    yield marker
    committed(remove)


@pytest.mark.parametrize("width", [1366, 390])
def test_filters_and_pages_work_without_javascript(live_portal, browser, fleet_rows, width):
    base = live_portal.format(host=settings.PORTAL_DOMAIN)
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": width, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, base, "super@bsp.example")  # every client (a manager: their own)
        page.goto(f"{base}/staff/fleet/?q={fleet_rows}")
        rows = page.locator("table.table tbody tr")
        expect(rows).to_have_count(50)

        page.get_by_role("link", name="Next page").click()
        expect(rows).to_have_count(7)

        page.get_by_label("Band").select_option("blocked")
        apply = page.get_by_role("button", name="Apply")
        expect(apply).to_be_visible()
        apply.click()
        expect(rows).to_have_count(2)
        assert "band=blocked" in page.url
        assert "after=" not in page.url  # a new filter starts on page one
        expect(rows.first).to_contain_text("+1 555-0300")
    finally:
        context.close()


@pytest.mark.parametrize("width", [1366, 390])
def test_fleet_rows_are_cards_on_a_phone_and_a_table_on_a_desktop(
    live_portal, browser, fleet_rows, width
):
    """At 390 px each row is a stack of labelled cells: nothing scrolls sideways, neither the
    page nor the table's box; at 1366 px it is the usual table with its header row. Both are
    one table to assistive technology (its roles) and pass axe."""
    from tests.browser.a11y import assert_accessible, assert_fits

    base = live_portal.format(host=settings.PORTAL_DOMAIN)
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, base, "super@bsp.example")  # every client (a manager: their own)
        page.goto(f"{base}/staff/fleet/?q={fleet_rows}")
        page.wait_for_load_state("load")
        table = page.locator("table.table")
        expect(page.get_by_role("table", name="Numbers")).to_be_visible()
        expect(page.get_by_role("row")).to_have_count(51)  # the header row and 50 numbers
        expect(page.get_by_role("cell", name="+1 555-0300")).to_be_visible()
        sideways = table.evaluate("t => t.scrollWidth - t.clientWidth")
        page_sideways = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        header_visible = page.locator("table.table thead").evaluate(
            "head => head.getBoundingClientRect().height > 1"
        )
        first_label = page.locator("table.table tbody td").first.evaluate(
            "td => getComputedStyle(td, '::before').content"
        )
        if width == 390:
            assert sideways <= 0
            assert page_sideways <= 0
            assert header_visible is False
            assert first_label == '"Client"'
            assert_fits(page, width)
        else:
            assert header_visible is True
            assert first_label in ("none", "normal")
        assert_accessible(page)
    finally:
        context.close()
