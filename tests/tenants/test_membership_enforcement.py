"""A signed-in user without membership gets no data from a client's host."""

from portal.audit.models import AuditLog


def test_member_sees_own_dashboard(web, acme, acme_agent):
    response = web(acme, acme_agent).get("/")

    assert response.status_code == 200
    assert "Acme Retail" in response.content.decode()


def test_acme_user_on_globex_host_gets_403_and_no_globex_data(web, globex, acme_owner):
    response = web(globex, acme_owner).get("/")

    assert response.status_code == 403
    assert "Globex" not in response.content.decode()
    assert b"not a member" in response.content


def test_anonymous_visitor_is_sent_to_sign_in(web, acme):
    response = web(acme).get("/")

    assert response.status_code == 302
    assert response["Location"].startswith("/auth/login/?next=/")


def test_acme_user_gets_403_from_globex_api(api, globex, acme_owner):
    response = api(globex, user=acme_owner).get("/api/v1/members/")

    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert "globex" not in response.content.decode().lower()


def test_member_lists_only_own_clients_members(api, acme, acme_viewer):
    response = api(acme, user=acme_viewer).get("/api/v1/members/")

    assert response.status_code == 200
    emails = {row["email"] for row in response.json()["results"]}
    assert emails == {
        "owner@acme.example",
        "admin@acme.example",
        "agent@acme.example",
        "viewer@acme.example",
    }


def test_login_on_globex_host_is_refused_for_acme_user(web, globex):
    response = web(globex).post(
        "/auth/login/", {"username": "owner@acme.example", "password": "test-pass"}
    )

    assert response.status_code == 200
    assert "has no access to Globex Logistics" in response.content.decode()
    assert "_auth_user_id" not in response.wsgi_request.session


def test_suspended_membership_client_denies_members(web, acme, acme_agent):
    from tenants.choices import ClientStatus
    from tenants.services import client_set_status

    client_set_status(client=acme, status=ClientStatus.SUSPENDED)

    assert web(acme, acme_agent).get("/").status_code == 403


def test_staff_may_enter_any_client_and_entry_is_audited(web, globex, staff_reviewer):
    http = web(globex, staff_reviewer)

    first = http.get("/")
    second = http.get("/")

    # a template reviewer lands on the client's templates, the part of it their role works
    assert first.status_code == second.status_code == 302
    assert first["Location"] == "/templates/"
    entries = AuditLog.objects.filter(action="client.staff_entry", client=globex)
    assert [(e.actor_id, e.client_id) for e in entries] == [(staff_reviewer.pk, globex.pk)]


def test_members_entry_is_not_recorded_as_staff_entry(web, acme, acme_owner):
    web(acme, acme_owner).get("/")

    assert not AuditLog.objects.filter(action="client.staff_entry").exists()
