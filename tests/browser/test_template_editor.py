"""The full template editor in the browser at 1366 and 390 px, with axe: a marketing template
with an image header and its example file, a body with an example, and buttons added row by
row; its warning must be acknowledged before it can be submitted. Then an authentication
template with Meta's fixed text, the code expiry and a copy-code button."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.a11y import assert_accessible, assert_fits
from tests.conftest import committed

pytestmark = [pytest.mark.browser, pytest.mark.django_db, pytest.mark.slow]

PASSWORD = "test-pass"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 128


@pytest.fixture
def editor_client(settings, tmp_path):
    from compliance.services import account_link
    from tenants.models import Client, User
    from tenants.services import client_create

    settings.MEDIA_ROOT = tmp_path
    slug = f"te-{uuid.uuid4().hex[:8]}"
    email = f"owner@{slug}.example"
    waba = str(7_000_000_000 + uuid.uuid4().int % 1_000_000_000)

    def create():
        client = client_create(name="Editor", slug=slug, owner_email=email, owner_password=PASSWORD)
        account_link(client=client, waba_id=waba, name="Editor WABA")
        return client

    client = committed(create)
    yield client, email

    def remove():
        from portal.audit.models import AuditLog

        AuditLog.objects.filter(client_id=client.pk).delete()
        Client.objects.get(pk=client.pk).delete(force_drop=True)
        User.objects.filter(email=email).delete()

    committed(remove)


@pytest.fixture(params=[1366, 390], ids=lambda w: f"{w}px")
def sized_page(browser, request):
    context = browser.new_context(viewport={"width": request.param, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page, request.param
    context.close()


def test_media_template_with_buttons_then_an_authentication_template(
    live_portal, sized_page, editor_client, tmp_path
):
    page, width = sized_page
    client, email = editor_client
    base = live_portal.format(host=f"{client.slug}.localhost")
    image = tmp_path / "sofa.png"
    image.write_bytes(PNG)
    page.goto(base + "/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/")

    page.goto(base + "/templates/new/")
    assert_accessible(page)
    assert_fits(page, width)
    page.get_by_label("Name", exact=True).fill("sofa_offer")
    page.get_by_label("Category").select_option("MARKETING")
    page.get_by_label("Header", exact=True).select_option("IMAGE")
    page.get_by_label("Body", exact=True).fill(
        "Hello {{1}}, the sofa you liked is back in our shop this week."
    )
    page.get_by_label("Example values").fill("Ana")
    missing = page.locator('#lint-panel [data-code="header.handle_missing"]')
    expect(missing).to_be_visible()  # live: no example yet
    page.get_by_label("Example image, video or document").set_input_files(str(image))
    page.locator('[name="buttons-0-type"]').select_option("QUICK_REPLY")
    page.locator('[name="buttons-0-text"]').fill("Tell me more")
    page.get_by_role("button", name="Add a button").click()
    page.locator('[name="buttons-1-type"]').select_option("URL")
    page.locator('[name="buttons-1-text"]').fill("See the sofa")
    page.locator('[name="buttons-1-url"]').fill("https://shop.example/sofa")
    page.get_by_label("Example image, video or document").set_input_files(str(image))
    page.get_by_role("button", name="Save draft").click()

    expect(page.locator(".messages")).to_contain_text("Draft saved.")
    assert page.locator('[data-code="header.handle_missing"]').count() == 0
    expect(page.locator('[data-code="policy.no_opt_out_hint"]')).to_be_visible()
    assert_accessible(page)
    assert_fits(page, width)
    checkbox = page.get_by_label("I have read the warnings")
    expect(checkbox).to_be_visible()
    checkbox.check()
    page.get_by_role("button", name="Submit for review").click()
    expect(page.locator("#template-status")).to_have_text("Submitted for review")

    page.goto(base + "/templates/new/")
    page.get_by_label("Name", exact=True).fill("login_code")
    page.get_by_label("Category").select_option("AUTHENTICATION")
    page.get_by_label("Code expires after (minutes)").fill("10")
    page.get_by_label("Code button").select_option("COPY_CODE")
    expect(page.locator("#lint-panel")).to_contain_text("is your verification code.")
    expect(page.locator("#lint-panel")).to_contain_text(
        "For your security, do not share this code."
    )
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".messages")).to_contain_text("Draft saved.")
    expect(page.locator(".lint")).to_contain_text("No problems found.")
    page.get_by_role("button", name="Submit for review").click()
    expect(page.locator("#template-status")).to_have_text("Submitted for review")
