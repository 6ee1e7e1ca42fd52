"""On a client's host the access check and the layout's tenant switcher read the user's
memberships once between them; who gets in, and what the switcher lists, stay the same."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tenants.choices import ClientRole, ClientStatus
from tenants.models import Client
from tenants.selectors import clients_for_user, tenant_access_for
from tenants.services import membership_grant


def _membership_reads(captured) -> int:
    return sum('FROM "tenants_membership"' in q["sql"] for q in captured.captured_queries)


def test_one_membership_read_serves_the_access_check_and_the_switcher(
    web, acme, globex, acme_owner
):
    membership_grant(client=globex, user=acme_owner, role=ClientRole.VIEWER)
    http = web(acme, acme_owner)
    http.get("/settings/api-keys/")  # warm the host cache and the session
    with CaptureQueriesContext(connection) as captured:
        response = http.get("/settings/api-keys/")
    assert response.status_code == 200
    assert _membership_reads(captured) == 1
    switcher = response.context["tenant_switcher"]
    assert [m.client.slug for m in switcher] == ["globex"]  # the other client, not this one
    assert "/auth/switch/globex/" in response.content.decode()
    assert response.context["tenant_access"].role == ClientRole.OWNER


def test_a_member_of_another_client_only_is_refused_and_offered_their_own(web, globex, acme_owner):
    response = web(globex, acme_owner).get("/settings/api-keys/")
    assert response.status_code == 403
    assert response.context["tenant_access"] is None
    assert [m.client.slug for m in response.context["tenant_switcher"]] == ["acme"]
    assert "/auth/switch/globex/" not in response.content.decode()


def test_the_role_from_the_read_memberships_is_the_one_asked_for(acme, globex, acme_owner):
    """`tenant_access_for` with the user's memberships answers as it does reading the role."""
    membership_grant(client=globex, user=acme_owner, role=ClientRole.VIEWER)
    memberships = clients_for_user(user=acme_owner)
    for client in (acme, globex):
        assert tenant_access_for(
            user=acme_owner, client=client, memberships=memberships
        ) == tenant_access_for(user=acme_owner, client=client)
    Client.objects.filter(pk=globex.pk).update(status=ClientStatus.SUSPENDED)
    globex.refresh_from_db()
    memberships = clients_for_user(user=acme_owner)
    assert tenant_access_for(user=acme_owner, client=globex, memberships=memberships) is None
    assert tenant_access_for(user=acme_owner, client=globex) is None


def test_staff_entering_a_client_still_get_in_with_no_membership(web, acme, staff_super):
    response = web(acme, staff_super).get("/settings/api-keys/")
    assert response.status_code == 200
    assert response.context["tenant_access"].is_staff_entry
    assert response.context["tenant_switcher"] == []
