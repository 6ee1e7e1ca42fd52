"""Client self-service in the browser, at desktop (1366 px) and phone (390 px) widths, with axe
on each page: API keys (shown once, rotate, revoke), inviting a member and accepting the link,
notification settings, the activity trail with its CSV export, and one opt-in recorded by hand
on a contact's page."""

from __future__ import annotations

import csv
import io
import re
import uuid
from pathlib import Path

import pytest

from tests.browser.a11y import assert_accessible, assert_fits
from tests.conftest import committed

pytestmark = [pytest.mark.browser, pytest.mark.django_db, pytest.mark.slow]

WIDTHS = [1366, 390]
PASSWORD = "test-pass"


@pytest.fixture
def own_client():
    """A client of its own (committed, for the live server) with an owner; removed after."""
    from tenants.models import Client, User
    from tenants.services import client_create

    slug = f"ss-{uuid.uuid4().hex[:8]}"
    email = f"owner@{slug}.example"
    client = committed(
        lambda: client_create(
            name="Self Service", slug=slug, owner_email=email, owner_password=PASSWORD
        )
    )
    yield client, email

    def remove():
        from portal.audit.models import AuditLog

        AuditLog.objects.filter(client_id=client.pk).delete()
        Client.objects.get(pk=client.pk).delete(force_drop=True)
        User.objects.filter(email__endswith=f"@{slug}.example").delete()

    committed(remove)


@pytest.fixture(params=WIDTHS, ids=lambda w: f"{w}px")
def sized_page(browser, request):
    width = request.param
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page, width
    context.close()


def _sign_in(page, base: str, email: str, password: str = PASSWORD) -> None:
    page.goto(base + "/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/")


def _check(page, width: int) -> None:
    assert_accessible(page)
    assert_fits(page, width)


def test_api_keys_are_created_shown_once_rotated_and_revoked(live_portal, sized_page, own_client):
    page, width = sized_page
    client, email = own_client
    base = live_portal.format(host=f"{client.slug}.localhost")
    _sign_in(page, base, email)

    page.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="API keys").click()
    _check(page, width)
    page.get_by_label("Name").fill("CRM sync")
    page.get_by_label("Write").check()
    page.get_by_role("button", name="Create key").click()

    first = page.get_by_test_id("new-key").inner_text()
    assert re.fullmatch(r"bsp_[0-9a-f]{12}_\S+", first)
    _check(page, width)
    page.reload()
    assert page.get_by_test_id("new-key").count() == 0  # shown once

    page.get_by_role("button", name="Rotate CRM sync").click()
    second = page.get_by_test_id("new-key").inner_text()
    assert second != first
    assert "the old key" in page.get_by_role("heading", level=2).first.inner_text()
    page.get_by_role("button", name="Revoke CRM sync").click()
    assert page.get_by_text("is revoked; it stops working now.").is_visible()
    assert page.locator(".badge.active").count() == 0


def test_an_invited_person_joins_with_the_link(live_portal, sized_page, own_client, browser):
    from django.core import mail

    page, width = sized_page
    client, email = own_client
    base = live_portal.format(host=f"{client.slug}.localhost")
    invitee = f"new@{client.slug}.example"
    _sign_in(page, base, email)

    page.goto(base + "/settings/members/")
    _check(page, width)
    page.get_by_label("E-mail").fill(invitee)
    page.get_by_label("Role", exact=True).select_option("agent")
    page.get_by_role("button", name="Send invitation").click()
    assert page.get_by_text(f"Invitation sent to {invitee}").is_visible()
    message = next(m for m in reversed(mail.outbox) if m.to == [invitee])
    link = re.search(r"(https?://\S+/auth/invitations/\S+/)", message.body).group(1)
    path = link.split("/auth/", 1)[1]

    guest = browser.new_context(viewport={"width": width, "height": 900})
    other = guest.new_page()
    other.goto(f"{base}/auth/{path}")
    _check(other, width)
    other.get_by_label("Your name").fill("New Person")
    other.get_by_label("Password", exact=True).fill("a-long-pass-9")
    other.get_by_label("Password again").fill("a-long-pass-9")
    other.get_by_role("button", name="Join Self Service").click()
    other.wait_for_url(base + "/")
    assert other.get_by_text(f"Welcome to {client.name}.").is_visible()
    other.goto(f"{base}/auth/{path}")
    assert "already been used" in other.get_by_role("alert").inner_text()
    guest.close()

    page.reload()
    assert page.locator("tr[id^=member-]", has_text=invitee).count() == 1
    invitation = page.locator("tr[id^=invitation-]", has_text=invitee)
    assert invitation.locator(".badge").inner_text() == "Accepted"


def test_notifications_then_the_activity_trail_and_its_export(live_portal, sized_page, own_client):
    page, width = sized_page
    client, email = own_client
    base = live_portal.format(host=f"{client.slug}.localhost")
    _sign_in(page, base, email)

    page.goto(base + "/settings/notifications/")
    _check(page, width)
    page.get_by_label("Warnings").uncheck()
    page.get_by_label("Daily digest").check()
    page.get_by_role("button", name="Save").click()
    assert page.get_by_text("Your notification settings are saved.").is_visible()
    assert page.get_by_label("Critical alerts").is_checked()
    assert not page.get_by_label("Warnings").is_checked()

    page.get_by_role("link", name="Activity").click()
    _check(page, width)
    page.get_by_label("Action").fill("notifications")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table[aria-label=Activity] tbody tr")
    assert rows.count() == 1
    assert "Notification settings changed" in rows.first.inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    exported = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert [row[1:4] for row in exported[1:]] == [
        [email, "notifications.updated", "Notification settings changed"]
    ]


def test_an_opt_in_is_recorded_by_hand_with_its_evidence(live_portal, sized_page, own_client):
    page, width = sized_page
    client, email = own_client
    base = live_portal.format(host=f"{client.slug}.localhost")
    _sign_in(page, base, email)

    page.get_by_role("link", name="Contacts").click()
    page.get_by_role("link", name="Record consent").click()
    _check(page, width)
    page.get_by_label("Phone number").fill("+44 7911 123456")
    page.get_by_role("button", name="Record").click()
    assert page.get_by_text("Give the wording the person agreed to.").is_visible()  # form error

    page.get_by_label("Wording shown").fill("Yes, send me offers on WhatsApp.")
    page.get_by_role("button", name="Record").click()
    page.wait_for_url(base + "/contacts/+447911123456/")
    assert page.get_by_text("Opt-in recorded for +447911123456.").is_visible()
    timeline = page.get_by_role("list", name="Consent history")
    assert "Yes, send me offers on WhatsApp." in timeline.inner_text()
    _check(page, width)

    page.get_by_role("radio", name="Opt-out").check()
    page.get_by_label("Category").select_option("all")
    page.get_by_role("button", name="Record").click()
    assert page.get_by_text("Opt-out recorded for +447911123456.").is_visible()
    assert timeline.locator("li").count() == 4


def test_the_import_preview_shows_mapping_rows_and_errors_before_anything_is_imported(
    live_portal, sized_page, own_client, tmp_path, settings
):
    settings.MEDIA_ROOT = tmp_path / "media"
    page, width = sized_page
    client, email = own_client
    base = live_portal.format(host=f"{client.slug}.localhost")
    upload = tmp_path / "consents.csv"
    upload.write_text(
        "Phone,Category,Action,Wording,Shoe size\n"
        "+447911123456,marketing,opt_in,Yes please,42\n"
        "not a number,marketing,opt_in,,41\n"
    )
    _sign_in(page, base, email)

    page.goto(base + "/consent/imports/")
    _check(page, width)
    page.get_by_label("CSV file").set_input_files(str(upload))
    page.get_by_role("button", name="Preview").click()

    assert page.locator('[data-preview="scanned"]').inner_text() == "2"
    assert page.locator('[data-preview="invalid"]').inner_text() == "1"
    assert page.locator('tr[data-column="channel"] td').nth(1).inner_text() == "not in the file"
    assert page.get_by_text("Not read: shoe_size.").is_visible()
    errors = page.get_by_role("table", name="Errors found")
    assert "'not a number' is not a phone number" in errors.inner_text()
    _check(page, width)
    page.get_by_role("link", name="Cancel").click()
    assert page.get_by_text("No imports yet.").is_visible()
