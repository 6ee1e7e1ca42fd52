"""Least privilege inside a client: staff entering a client's portal (the audited path) act
there by their staff role's areas (tenants.permissions.STAFF_AREAS), on pages, htmx partials and
the REST API alike; never as the client's operator just for being staff."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from appeals.models import AppealTicket
from compliance.models import ConsentEvent, SyncRun
from tenants.permissions import CLIENT_AREAS, Area
from tests.factories.appeals import AppealTicketFactory
from tests.people import make_account_manager

pytestmark = pytest.mark.django_db

PHONE = "+447911123456"
OPT_OUT = {"phone": PHONE, "kind": "opt_out", "category": "marketing", "source": "staff"}


def _consent_events(client) -> int:
    with schema_context(client.schema_name):
        return ConsentEvent.objects.count()


@pytest.mark.parametrize("person", ["staff_reviewer", "staff_appeals"])
def test_a_reviewer_or_appeals_agent_entering_a_client_records_no_consent(
    web, request, acme, person
):
    http = web(acme, request.getfixturevalue(person))

    assert http.post("/contacts/record/", OPT_OUT).status_code == 403
    assert http.get("/contacts/").status_code == 403
    assert _consent_events(acme) == 0


def test_an_account_manager_records_consent_in_their_own_client_only(
    web, acme, globex, staff_manager
):
    make_account_manager(staff_manager, acme)

    own = web(acme, staff_manager).post("/contacts/record/", OPT_OUT)
    other = web(globex, staff_manager).post("/contacts/record/", OPT_OUT)

    assert own.status_code == 302
    assert _consent_events(acme) == 1
    assert other.status_code == 403
    assert _consent_events(globex) == 0


def test_a_template_reviewer_entering_a_client_reads_no_appeals_through_the_api(
    api, acme, acme_waba, staff_reviewer
):
    with schema_context(acme.schema_name):
        ticket = AppealTicketFactory(account=acme_waba)
    http = api(acme, staff_reviewer)

    assert http.get("/api/v1/appeals/").status_code == 403
    assert http.get(f"/api/v1/appeals/{ticket.pk}/").status_code == 403
    assert http.get(f"/api/v1/appeals/{ticket.pk}/messages/").status_code == 403
    refused = http.post(f"/api/v1/appeals/{ticket.pk}/messages/", {"body": "Hi"}, format="json")
    assert refused.status_code == 403
    with schema_context(acme.schema_name):
        assert AppealTicket.objects.get(pk=ticket.pk).messages.count() == 0


# --- the role x area matrix inside a client -------------------------------------------------

STAFF = ["staff_reviewer", "staff_appeals", "staff_manager", "staff_super"]
# What each staff role reaches inside a client (the account manager: of their own clients).
REACHES = {
    "staff_reviewer": {Area.CLIENT_ENTRY, Area.TEMPLATES},
    "staff_appeals": {Area.CLIENT_ENTRY, Area.APPEALS},
    "staff_manager": set(CLIENT_AREAS),
    "staff_super": set(CLIENT_AREAS),
}
# One page of each area on a client's host, and one endpoint of its REST API.
PAGES = {
    Area.NUMBERS: "/numbers/{number}/",
    Area.TEMPLATES: "/templates/",
    Area.CONSENT: "/contacts/",
    Area.APPEALS: "/appeals/",
    Area.INTEGRATIONS: "/integrations/webhooks/",
    Area.SETTINGS: "/settings/activity/",
}
API = {
    Area.CLIENT_ENTRY: "/api/v1/me/",
    Area.NUMBERS: "/api/v1/numbers/",
    Area.TEMPLATES: "/api/v1/templates/",
    Area.CONSENT: "/api/v1/consents/",
    Area.APPEALS: "/api/v1/appeals/",
    Area.INTEGRATIONS: "/api/v1/webhook-endpoints/",
    Area.SETTINGS: "/api/v1/activity/",
}


@pytest.mark.parametrize("person", STAFF)
@pytest.mark.parametrize("area", list(PAGES))
def test_each_client_page_opens_for_the_staff_roles_that_reach_its_area(
    web, request, acme, globex, acme_number, staff_manager, person, area
):
    make_account_manager(staff_manager, acme)
    user = request.getfixturevalue(person)
    page = PAGES[area].format(number=acme_number.pk)

    own = web(acme, user).get(page).status_code
    other = web(globex, user).get(PAGES[area].format(number=0)).status_code

    assert own == (200 if area in REACHES[person] else 403)
    if person == "staff_manager":
        assert other == 403  # not their client: they do not even enter it
    elif area in REACHES[person]:
        assert other in (200, 404)  # (globex has no number 0)
    else:
        assert other == 403


@pytest.mark.parametrize("person", STAFF)
@pytest.mark.parametrize("area", list(API))
def test_each_api_area_answers_a_staff_session_by_the_table(
    api, request, acme, globex, staff_manager, person, area
):
    make_account_manager(staff_manager, acme)
    user = request.getfixturevalue(person)

    own = api(acme, user).get(API[area]).status_code
    other = api(globex, user).get(API[area]).status_code

    assert own == (200 if area in REACHES[person] else 403)
    assert other == (403 if person == "staff_manager" else own)


@pytest.mark.parametrize("person", ["acme_owner", "acme_viewer"])
def test_a_clients_members_reach_its_areas_by_their_role_and_no_other_client(
    web, api, request, acme, globex, acme_number, person
):
    user = request.getfixturevalue(person)
    manager_only = {Area.INTEGRATIONS}
    for area, page in PAGES.items():
        expected = 403 if person == "acme_viewer" and area in manager_only else 200
        assert web(acme, user).get(page.format(number=acme_number.pk)).status_code == expected
        assert web(globex, user).get(page.format(number=0)).status_code == 403
    for path in API.values():
        assert api(globex, user).get(path).status_code == 403


def test_entering_a_client_lands_each_staff_role_on_the_part_it_works(
    web, acme, staff_reviewer, staff_appeals, staff_super
):
    assert web(acme, staff_reviewer).get("/")["Location"] == "/templates/"
    assert web(acme, staff_appeals).get("/")["Location"] == "/appeals/"
    assert web(acme, staff_super).get("/").status_code == 200


def test_the_client_navigation_shows_the_areas_a_staff_role_reaches(web, acme, staff_reviewer):
    page = web(acme, staff_reviewer).get("/templates/").content.decode()

    assert 'href="/templates/"' in page
    for hidden in ('href="/contacts/"', 'href="/appeals/"', 'href="/settings/activity/"'):
        assert hidden not in page


def test_an_htmx_partial_refuses_a_staff_role_outside_its_area(web, acme, staff_reviewer):
    partial = web(acme, staff_reviewer).get(
        "/contacts/?q=44", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="contact-results"
    )

    assert partial.status_code == 403


def test_an_appeals_agent_cannot_record_an_opt_out_or_sync_through_the_api(
    api, acme, staff_appeals
):
    http = api(acme, staff_appeals)

    opt_out = http.post(
        "/api/v1/opt-outs/",
        {"phone": PHONE, "category": "marketing", "source": "staff"},
        format="json",
    )
    sync = http.post("/api/v1/sync/", {}, format="json")

    assert (opt_out.status_code, sync.status_code) == (403, 403)
    assert _consent_events(acme) == 0
    with schema_context(acme.schema_name):
        assert not SyncRun.objects.exists()


def test_an_account_manager_operates_their_own_client_through_the_api(
    api, acme, globex, staff_manager
):
    make_account_manager(staff_manager, acme)
    body = {"phone": PHONE, "category": "marketing", "source": "staff"}

    own = api(acme, staff_manager).post("/api/v1/opt-outs/", body, format="json")
    other = api(globex, staff_manager).post("/api/v1/opt-outs/", body, format="json")

    assert own.status_code == 201
    assert other.status_code == 403
    assert (_consent_events(acme), _consent_events(globex)) == (1, 0)


# --- every client page and API view names its area ------------------------------------------

# Paths on a client host that handle their own authentication (sign-in, the hand-off, an
# invitation) or are the API's schema and docs.
OPEN = {"login", "logout", "switch", "favicon", "handoff", "invitation-accept"}


def _patterns(resolver, prefix=""):
    for entry in resolver.url_patterns:
        if hasattr(entry, "url_patterns"):
            yield from _patterns(entry, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern), entry


def test_every_client_page_and_api_view_names_its_area():
    from django.urls import get_resolver

    unnamed = []
    for path, entry in _patterns(get_resolver("portal.urls_tenant")):
        view = entry.callback
        view_class = getattr(view, "cls", None) or getattr(view, "view_class", None)
        if path.startswith(("api/schema/", "api/docs/")) or entry.name in OPEN:
            continue
        if path.startswith("api/"):
            area = getattr(view_class, "area", None)
        else:
            area = getattr(view, "portal_area", None)
            if entry.name == "home":
                area = Area.NUMBERS  # the dashboard, or the landing of the staff role's area
        if not isinstance(area, Area):
            unnamed.append(path)

    assert unnamed == []


@pytest.mark.parametrize(
    ("person", "role"),
    [("staff_reviewer", "template_reviewer"), ("staff_appeals", "appeals_agent")],
)
def test_who_am_i_names_the_staff_role_a_staff_member_acts_in(api, acme, request, person, role):
    body = api(acme, request.getfixturevalue(person)).get("/api/v1/me/").json()
    assert (body["kind"], body["role"], body["client"]["slug"]) == ("staff", role, "acme")


def test_who_am_i_names_a_members_client_role(api, acme, acme_agent):
    body = api(acme, acme_agent).get("/api/v1/me/").json()
    assert (body["kind"], body["role"]) == ("user", "agent")
