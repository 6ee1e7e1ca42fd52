"""The API keys page: owners and admins create (shown once), rotate and revoke; nobody else,
and never another client's keys."""

import re

import pytest

from portal.audit.models import AuditLog
from tenants.models import ApiKey
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db


def _shown_key(html: str) -> str:
    match = re.search(r'data-testid="new-key">([^<]+)<', html)
    return match.group(1) if match else ""


def test_an_admin_creates_a_key_that_is_shown_once_and_works(web, api, acme, acme_admin):
    http = web(acme, acme_admin)

    response = http.post(
        "/settings/api-keys/", {"name": "CRM sync", "scopes": ["read"]}, follow=True
    )

    raw = _shown_key(response.content.decode())
    key = ApiKey.objects.get(client=acme, name="CRM sync")
    assert raw.startswith(f"bsp_{key.prefix}_")
    assert key.scopes == ["read"]
    assert raw not in http.get("/settings/api-keys/").content.decode()  # once only
    assert api(acme, key=raw).get("/api/v1/me/").status_code == 200
    audit = AuditLog.objects.get(action="api_key.created", object_id=str(key.pk))
    assert (audit.actor, audit.client) == (acme_admin, acme)


def test_a_key_needs_a_scope_and_a_name(web, acme, acme_owner):
    response = web(acme, acme_owner).post("/settings/api-keys/", {"name": ""})

    assert response.status_code == 400
    assert "Choose at least one scope." in response.content.decode()
    assert "This field is required." in response.content.decode()
    assert not ApiKey.objects.filter(client=acme).exists()


def test_rotating_revokes_the_old_key_and_shows_the_new_one(web, api, acme, acme_owner):
    old = ApiKeyFactory(client=acme, name="ERP", scopes=["read", "write"])

    response = web(acme, acme_owner).post(f"/settings/api-keys/{old.pk}/rotate/", follow=True)

    raw = _shown_key(response.content.decode())
    new = ApiKey.objects.get(client=acme, revoked_at__isnull=True, name="ERP")
    old.refresh_from_db()
    assert old.revoked_at is not None
    assert new.scopes == ["read", "write"]
    assert raw.startswith(f"bsp_{new.prefix}_")
    assert api(acme, key=old.raw_key).get("/api/v1/me/").status_code == 401
    assert api(acme, key=raw).get("/api/v1/me/").status_code == 200
    assert AuditLog.objects.filter(action="api_key.rotated", object_id=str(old.pk)).count() == 1


def test_revoking_from_the_page_stops_the_key_and_shows_when_it_was_last_used(
    web, api, acme, acme_admin
):
    key = ApiKeyFactory(client=acme, name="Old CRM")
    api(acme, key=key.raw_key).get("/api/v1/me/")
    key.refresh_from_db()
    assert key.last_used_at is not None

    page = web(acme, acme_admin).get("/settings/api-keys/").content.decode()
    assert key.last_used_at.strftime("%Y-%m-%d %H:%M") in page
    web(acme, acme_admin).post(f"/settings/api-keys/{key.pk}/revoke/")

    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api(acme, key=key.raw_key).get("/api/v1/me/").status_code == 401


@pytest.mark.parametrize("person", ["acme_agent", "acme_viewer"])
def test_agents_and_viewers_cannot_see_or_touch_keys(web, acme, person, request):
    key = ApiKeyFactory(client=acme)
    http = web(acme, request.getfixturevalue(person))

    assert http.get("/settings/api-keys/").status_code == 403
    assert http.post("/settings/api-keys/", {"name": "x", "scopes": ["read"]}).status_code == 403
    assert http.post(f"/settings/api-keys/{key.pk}/revoke/").status_code == 403
    assert list(ApiKey.objects.filter(client=acme)) == [key]
    key.refresh_from_db()
    assert key.revoked_at is None


def test_another_clients_key_is_not_found_and_unchanged(web, acme, globex, globex_owner):
    key = ApiKeyFactory(client=acme)
    http = web(globex, globex_owner)

    assert http.post(f"/settings/api-keys/{key.pk}/revoke/").status_code == 404
    assert http.post(f"/settings/api-keys/{key.pk}/rotate/").status_code == 404
    assert key.prefix not in http.get("/settings/api-keys/").content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None
    assert ApiKey.objects.filter(client=acme).count() == 1
