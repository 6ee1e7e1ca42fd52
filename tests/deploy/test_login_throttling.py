"""Five failed sign-ins for one e-mail from one address lock that pair out (django-axes)."""

from __future__ import annotations

from axes.models import AccessAttempt
from django.test import Client as HttpClient

from portal.security import client_ip
from tests.people import PASSWORD

EMAIL = "owner@acme.example"


def sign_in(http: HttpClient, password: str, *, email: str = EMAIL, address: str = "10.0.0.1"):
    return http.post("/auth/login/", {"username": email, "password": password}, REMOTE_ADDR=address)


def test_fifth_failure_locks_the_email_and_address_out_even_with_the_right_password(
    web, acme, acme_owner
):
    http = web(acme)
    for _ in range(4):
        assert sign_in(http, "wrong").status_code == 200  # the form again, with an error

    locked = sign_in(http, "wrong")
    after = sign_in(http, PASSWORD)

    assert locked.status_code == 429
    assert after.status_code == 429
    assert "_auth_user_id" not in http.session
    attempt = AccessAttempt.objects.get(username=EMAIL)
    # The attempt during the lock-out counts as a failure too and restarts the cool-off.
    assert (attempt.ip_address, attempt.failures_since_start) == ("10.0.0.1", 6)


def test_lockout_counts_the_email_whatever_its_case(web, acme, acme_owner):
    http = web(acme)
    for email in ["Owner@Acme.example", "OWNER@ACME.EXAMPLE", EMAIL, " owner@acme.example", EMAIL]:
        sign_in(http, "wrong", email=email)

    assert sign_in(http, PASSWORD).status_code == 429


def test_lockout_does_not_reach_the_same_user_from_another_address(web, acme, acme_owner):
    http = web(acme)
    for _ in range(5):
        sign_in(http, "wrong", address="10.0.0.1")

    response = sign_in(http, PASSWORD, address="10.0.0.2")

    assert response.status_code == 302
    assert http.session["_auth_user_id"] == str(acme_owner.pk)


def test_a_successful_sign_in_resets_the_failure_count(web, acme, acme_owner):
    for _ in range(4):
        sign_in(web(acme), "wrong")
    assert sign_in(web(acme), PASSWORD).status_code == 302
    for _ in range(4):
        sign_in(web(acme), "wrong")

    http = web(acme)
    assert sign_in(http, PASSWORD).status_code == 302
    assert http.session["_auth_user_id"] == str(acme_owner.pk)


def test_public_host_sign_in_is_throttled_too(web, acme_owner):
    http = web(None)
    for _ in range(5):
        sign_in(http, "wrong")

    assert sign_in(http, PASSWORD).status_code == 429


def test_client_address_behind_a_trusted_proxy_is_the_proxys_entry(rf, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    request = rf.get("/", REMOTE_ADDR="10.244.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    assert client_ip(request) == "203.0.113.9"  # "6.6.6.6" was written by the client

    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "10.244.0.5"
