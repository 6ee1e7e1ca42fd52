"""One login reaches every client a user belongs to; no session is shared between hosts."""

from datetime import timedelta
from urllib.parse import urlsplit

from django.utils import timezone

from tenants.choices import ClientRole
from tenants.models import LoginHandoff
from tenants.services import login_handoff_issue, login_handoff_redeem, membership_grant


def _follow_handoff(web, client, location):
    parts = urlsplit(location)
    assert parts.hostname == f"{client.slug}.localhost"
    http = web(client)
    response = http.get(f"{parts.path}?{parts.query}")
    return http, response


def test_login_on_public_host_with_one_membership_goes_to_that_client(web, acme):
    http = web(None)
    http.post("/auth/login/", {"username": "agent@acme.example", "password": "test-pass"})

    response = http.get("/")

    assert response.status_code == 302
    tenant_http, landed = _follow_handoff(web, acme, response["Location"])
    assert landed.status_code == 302
    assert landed["Location"] == "/"
    assert "Acme Retail" in tenant_http.get("/").content.decode()


def test_switcher_reaches_each_client_of_a_multi_client_user(web, acme, globex, acme_owner):
    membership_grant(client=globex, user=acme_owner, role=ClientRole.VIEWER)
    acme_http = web(acme)
    acme_http.post("/auth/login/", {"username": "owner@acme.example", "password": "test-pass"})

    page = acme_http.get("/").content.decode()
    assert "/auth/switch/globex/" in page

    response = acme_http.get("/auth/switch/globex/")
    globex_http, landed = _follow_handoff(web, globex, response["Location"])
    assert landed["Location"] == "/"
    assert "Globex Logistics" in globex_http.get("/").content.decode()


def test_session_cookie_from_one_client_is_worthless_on_another(web, acme, globex, acme_owner):
    membership_grant(client=globex, user=acme_owner, role=ClientRole.VIEWER)
    http = web(acme)
    http.post("/auth/login/", {"username": "owner@acme.example", "password": "test-pass"})
    assert http.get("/").status_code == 200

    # The same cookie jar (a cookie copied to another host) on globex's host:
    response = http.get("/", HTTP_HOST="globex.localhost")

    assert response.status_code == 302
    assert response["Location"].startswith("/auth/login/")


def test_session_cookies_are_host_only(web, acme):
    response = web(acme).post(
        "/auth/login/", {"username": "owner@acme.example", "password": "test-pass"}
    )

    cookie = response.cookies["sessionid"]
    assert cookie["domain"] == ""
    assert cookie["httponly"]


def test_handoff_is_single_use(acme, acme_owner):
    ticket = login_handoff_issue(user=acme_owner, client=acme)

    assert login_handoff_redeem(token=ticket.token, client=acme) == acme_owner
    assert login_handoff_redeem(token=ticket.token, client=acme) is None


def test_handoff_for_one_client_does_not_open_another(acme, globex, acme_owner):
    ticket = login_handoff_issue(user=acme_owner, client=acme)

    assert login_handoff_redeem(token=ticket.token, client=globex) is None


def test_expired_or_forged_handoff_is_refused(web, acme, acme_owner):
    ticket = login_handoff_issue(user=acme_owner, client=acme)
    LoginHandoff.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert login_handoff_redeem(token=ticket.token, client=acme) is None
    response = web(acme).get("/auth/handoff/?t=forged")
    assert response.status_code == 302
    assert response["Location"] == "/auth/login/"


def test_switch_to_a_client_without_access_is_forbidden(web, globex, acme_owner):
    response = web(None, acme_owner).get("/auth/switch/globex/")

    assert response.status_code == 403
    # (browser tests commit hand-offs of their own, so look only at this user and client)
    assert not LoginHandoff.objects.filter(user=acme_owner, client=globex).exists()


def test_handoff_redirect_ignores_foreign_next_url(web, acme, acme_owner):
    ticket = login_handoff_issue(user=acme_owner, client=acme)

    response = web(acme).get(f"/auth/handoff/?t={ticket.token}&next=https://evil.example/")

    assert response["Location"] == "/"
