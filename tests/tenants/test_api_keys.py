import io

import pytest
from django.core.management import CommandError, call_command

from tenants.models import ApiKey
from tenants.services import api_key_revoke
from tests.factories import ApiKeyFactory


def test_create_api_key_prints_the_key_on_its_last_line_and_stores_only_a_hash(acme, api):
    out = io.StringIO()

    call_command("create_api_key", "acme", stdout=out, stderr=io.StringIO())

    raw = out.getvalue().strip().splitlines()[-1]
    key = ApiKey.objects.get(client=acme)
    assert raw.startswith(f"bsp_{key.prefix}_")
    assert raw not in key.key_hash
    assert len(key.key_hash) == 64
    response = api(acme, key=raw).get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["client"]["slug"] == "acme"
    assert response.json()["kind"] == "api_key"


def test_create_api_key_for_unknown_client_fails_clearly(db):
    with pytest.raises(CommandError, match="No client with the address 'nope'"):
        call_command("create_api_key", "nope")


def test_key_of_one_client_is_rejected_on_another_clients_host(api, acme, globex):
    key = ApiKeyFactory(client=acme)

    response = api(globex, key=key.raw_key).get("/api/v1/members/")

    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid or revoked API key."


def test_revoked_key_is_rejected(api, acme):
    key = ApiKeyFactory(client=acme)
    api_key_revoke(api_key=key)

    response = api(acme, key=key.raw_key).get("/api/v1/me/")

    assert response.status_code == 401


def test_a_suspended_clients_keys_stop_working_at_once(api, acme):
    from tenants.choices import ClientStatus
    from tenants.services import client_set_status

    key = ApiKeyFactory(client=acme)
    assert api(acme, key=key.raw_key).get("/api/v1/me/").status_code == 200

    client_set_status(client=acme, status=ClientStatus.SUSPENDED)
    refused = api(acme, key=key.raw_key).post(
        "/api/v1/opt-outs/", {"phone": "+14155550100", "category": "marketing"}, format="json"
    )

    assert refused.status_code == 401
    assert refused.json()["detail"] == "This client is suspended: its API keys do not work."
    client_set_status(client=acme, status=ClientStatus.ACTIVE)
    assert api(acme, key=key.raw_key).get("/api/v1/me/").status_code == 200


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer a b", "Bearer bsp_nope_nope", "Bearer not-a-key"]
)
def test_malformed_or_unknown_keys_get_problem_details(api, acme, header):
    http = api(acme)
    http.credentials(HTTP_AUTHORIZATION=header)

    response = http.get("/api/v1/me/")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert set(response.json()) >= {"type", "title", "status", "detail"}


def test_read_only_key_cannot_write(api, acme):
    key = ApiKeyFactory(client=acme, scopes=["read"])

    response = api(acme, key=key.raw_key).post("/api/v1/members/", {})

    assert response.status_code == 403


def test_no_credentials_get_401(api, acme):
    assert api(acme).get("/api/v1/me/").status_code in (401, 403)
