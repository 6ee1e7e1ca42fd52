"""Defect 13: an API key asking for HTML (the browsable API, the API docs) got a 500, whose
DEBUG page listed other clients' members. Keys get JSON, or a 406 problem; never a page."""

from __future__ import annotations

import pytest

from tests.factories import ApiKeyFactory


@pytest.fixture
def acme_key(acme):
    return ApiKeyFactory(client=acme, scopes=["read"])


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/api/v1/numbers/?format=api", "*/*"),
        ("/api/v1/numbers/", "text/html"),
        ("/api/docs/", "text/html"),
        ("/api/docs/", "*/*"),
    ],
)
def test_a_key_asking_for_html_gets_a_406_problem(api, acme, acme_key, path, accept):
    response = api(acme, key=acme_key.raw_key).get(path, HTTP_ACCEPT=accept)

    assert response.status_code == 406
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 406
    assert b"globex" not in response.content.lower()


def test_a_key_a_browser_would_send_html_accept_for_gets_json(api, acme, acme_key):
    response = api(acme, key=acme_key.raw_key).get(
        "/api/v1/numbers/", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8"
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["results"] == []


def test_a_key_of_another_client_asking_for_html_is_refused_in_json(api, globex, acme_key):
    response = api(globex, key=acme_key.raw_key).get(
        "/api/v1/numbers/?format=api", HTTP_ACCEPT="text/html"
    )

    assert response.status_code in (401, 406)
    assert response["Content-Type"] == "application/problem+json"


def test_a_signed_in_member_still_gets_the_browsable_api(api, acme, acme_owner):
    response = api(acme, user=acme_owner).get("/api/v1/numbers/", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"<html" in response.content


def test_the_api_docs_page_has_a_language_for_a_signed_in_member(web, acme, acme_owner):
    response = web(acme, acme_owner).get("/api/docs/", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert b'<html lang="en">' in response.content


def test_the_layout_context_gives_a_key_no_tenant_switcher(rf, acme, acme_key):
    from tenants.api.authentication import ApiKeyPrincipal
    from tenants.context_processors import portal

    request = rf.get("/api/docs/", HTTP_HOST="acme.localhost")
    request.user = ApiKeyPrincipal(acme_key)
    request.tenant = acme

    context = portal(request)

    assert (context["tenant_switcher"], context["staff_areas"]) == ([], set())
