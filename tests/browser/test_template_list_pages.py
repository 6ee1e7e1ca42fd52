"""The templates list in a real browser, at 1366 and 390 px: 50 a page, "Next templates" and
"First page" links that keep the status filter, no sideways scroll and no serious axe finding on
either page (issue 15: long lists are paged)."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.a11y import assert_accessible, assert_fits
from tests.browser.test_template_review_flow import sign_in
from tests.conftest import committed

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


@pytest.fixture
def many_templates():
    """53 drafts of acme with one name prefix, committed for the live server; removed after."""
    from django_tenants.utils import schema_context

    from compliance.models import WhatsAppAccount
    from templates_review.models import MessageTemplate
    from tenants.models import Client
    from tests.factories import MessageTemplateFactory

    prefix = f"pg{uuid.uuid4().hex[:8]}_"
    acme = Client.objects.get(slug="acme")
    created: list[int] = []  # the WABA this fixture committed, if acme had none

    def create():
        with schema_context(acme.schema_name):
            account = WhatsAppAccount.objects.order_by("pk").first()
            if account is None:
                account = WhatsAppAccount.objects.create(meta_id=f"9{uuid.uuid4().int % 10**9}")
                created.append(account.pk)
            for n in range(53):
                MessageTemplateFactory(name=f"{prefix}{n:02d}", account=account)

    def remove():
        # Everything committed goes, the WABA too: later tests expect acme with none.
        with schema_context(acme.schema_name):
            MessageTemplate.objects.filter(name__startswith=prefix).delete()
            WhatsAppAccount.objects.filter(pk__in=created).delete()

    committed(create)
    yield prefix
    committed(remove)


@pytest.mark.parametrize("width", [1366, 390])
def test_a_client_pages_through_its_templates(live_portal, browser, many_templates, width):
    base = live_portal.format(host="acme.localhost")
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, base, "owner@acme.example")
        page.goto(f"{base}/templates/?status=draft")
        rows = page.locator("table.table tbody tr")
        expect(rows).to_have_count(50)
        assert_fits(page, width)
        assert_accessible(page)

        page.get_by_role("link", name="Next templates →").click()
        assert "status=draft" in page.url
        assert "after=" in page.url
        expect(page.get_by_text(f"{many_templates}52")).to_be_visible()
        expect(page.get_by_role("link", name="Next templates →")).to_have_count(0)
        assert_fits(page, width)
        assert_accessible(page)

        page.get_by_role("link", name="← First page").click()
        assert "after=" not in page.url
        assert "status=draft" in page.url
        expect(rows).to_have_count(50)
    finally:
        context.close()
