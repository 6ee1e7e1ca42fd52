import pytest

# django_db: the live server needs the test database set up even when only these tests run.
pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def test_owner_signs_in_on_the_public_site_and_lands_on_the_acme_dashboard(live_portal, page):
    page.goto(live_portal.format(host="localhost") + "/")

    assert "/auth/login/" in page.url
    page.get_by_label("E-mail").fill("owner@acme.example")
    page.get_by_label("Password").fill("test-pass")
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(live_portal.format(host="acme.localhost") + "/")
    assert page.locator("h1").inner_text() == "Acme Retail"
    assert page.get_by_role("heading", name="Phone numbers").is_visible()
    assert "Owner" in page.locator(".who").inner_text()


def test_owner_signs_in_directly_on_the_acme_host(live_portal, page):
    page.goto(live_portal.format(host="acme.localhost") + "/")

    page.get_by_label("E-mail").fill("owner@acme.example")
    page.get_by_label("Password").fill("test-pass")
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(live_portal.format(host="acme.localhost") + "/")
    assert page.locator("h1").inner_text() == "Acme Retail"


def test_globex_user_cannot_sign_in_on_the_acme_host(live_portal, page):
    page.goto(live_portal.format(host="acme.localhost") + "/auth/login/")

    page.get_by_label("E-mail").fill("owner@globex.example")
    page.get_by_label("Password").fill("test-pass")
    page.get_by_role("button", name="Sign in").click()

    assert page.get_by_role("alert").inner_text() == "This account has no access to Acme Retail."
