"""Least privilege: which staff role reaches which area (tenants.permissions.STAFF_AREAS),
enforced by one Actor, page by page; account managers reach their own clients only."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from appeals.models import AppealTicket
from tenants.actors import Actor
from tenants.models import Client
from tenants.permissions import Area
from tests.factories.appeals import AppealTicketFactory
from tests.people import make_account_manager

STAFF = ["staff_reviewer", "staff_appeals", "staff_manager", "staff_super"]

# The table as the issue states it (account managers: of their own clients).
EXPECTED = {
    "staff_reviewer": {Area.TEMPLATE_QUEUE, Area.CLIENT_ENTRY, Area.TEMPLATES},
    "staff_appeals": {Area.APPEALS, Area.CLIENT_ENTRY},
    "staff_manager": {
        Area.CLIENTS,
        Area.FLEET,
        Area.TEMPLATE_QUEUE,
        Area.APPEALS,
        Area.CLIENT_ENTRY,
        Area.NUMBERS,
        Area.TEMPLATES,
        Area.CONSENT,
        Area.INTEGRATIONS,
        Area.SETTINGS,
    },
    "staff_super": set(Area),
}

# One page per area on the public host.
PAGES = {
    Area.CLIENTS: "/staff/",
    Area.FLEET: "/staff/fleet/",
    Area.TEMPLATE_QUEUE: "/staff/templates/",
    Area.APPEALS: "/staff/appeals/",
    Area.WEBHOOKS: "/staff/webhooks/",
}


def _manage(client: Client, user) -> None:
    make_account_manager(user, client)


@pytest.mark.parametrize("person", STAFF)
@pytest.mark.parametrize("area", list(Area))
def test_the_table_says_which_staff_role_reaches_which_area(request, acme, globex, person, area):
    user = request.getfixturevalue(person)
    _manage(acme, request.getfixturevalue("staff_manager"))
    actor = Actor.staff(user)
    expected = area in EXPECTED[person]

    assert actor.may(area) is expected
    assert actor.may(area, client=acme) is expected
    # an account manager's areas hold for their own clients only
    assert actor.may(area, client=globex) is (expected and person != "staff_manager")


@pytest.mark.parametrize("person", STAFF)
@pytest.mark.parametrize("area", list(PAGES))
def test_each_staff_page_opens_for_the_roles_that_reach_it(db, web, request, person, area):
    response = web(None, request.getfixturevalue(person)).get(PAGES[area])

    assert response.status_code == (200 if area in EXPECTED[person] else 403)


@pytest.mark.parametrize("person", STAFF)
def test_entering_a_client_follows_the_table(web, request, acme, globex, staff_manager, person):
    _manage(acme, staff_manager)
    user = request.getfixturevalue(person)

    # the dashboard, or (a role that does not reach it) the part of the client the role works
    landing = 200 if Area.NUMBERS in EXPECTED[person] else 302
    assert web(acme, user).get("/").status_code == landing
    assert web(globex, user).get("/").status_code == (403 if person == "staff_manager" else landing)


@pytest.mark.parametrize("person", STAFF)
def test_a_client_appeal_and_its_internal_notes_reach_appeal_staff_only(
    web, request, acme, globex, acme_waba, globex_waba, staff_manager, person
):
    _manage(acme, staff_manager)
    user = request.getfixturevalue(person)
    codes = {}
    for client, waba in ((acme, acme_waba), (globex, globex_waba)):
        with schema_context(client.schema_name):
            ticket = AppealTicketFactory(account=waba)
        staff_page = f"/staff/appeals/{client.slug}/{ticket.pk}/"
        client_page = f"/appeals/{ticket.pk}/"
        codes[client.slug] = (
            web(None, user).get(staff_page).status_code,
            web(client, user).get(client_page).status_code,
        )

    reaches_appeals = Area.APPEALS in EXPECTED[person]
    own = (200, 200) if reaches_appeals else (403, 403)
    other = (404, 403) if person == "staff_manager" else own
    assert codes == {"acme": own, "globex": other}


def test_a_reviewer_posting_in_an_appeal_thread_is_refused_and_nothing_is_stored(
    web, acme, acme_waba, staff_reviewer
):
    with schema_context(acme.schema_name):
        ticket = AppealTicketFactory(account=acme_waba)

    response = web(None, staff_reviewer).post(
        f"/staff/appeals/acme/{ticket.pk}/messages/", {"body": "Looks fine", "internal": "on"}
    )

    assert response.status_code == 403
    with schema_context(acme.schema_name):
        assert AppealTicket.objects.get(pk=ticket.pk).messages.count() == 0


def test_an_account_manager_cannot_link_a_waba_to_another_managers_client(
    web, acme, globex, staff_manager
):
    _manage(acme, staff_manager)
    http = web(None, staff_manager)

    assert http.get("/staff/clients/acme/link-waba/").status_code == 200
    assert http.get("/staff/clients/globex/link-waba/").status_code == 404
    assert http.post("/staff/clients/globex/link-waba/", {"waba_id": "1110000077"}).status_code == (
        404
    )


def test_members_and_keys_reach_their_own_client_only(acme, globex, acme_agent):
    from tenants.api.authentication import ApiKeyPrincipal
    from tests.factories import ApiKeyFactory

    member = Actor.of(acme_agent, client=acme)
    key = Actor.of(ApiKeyPrincipal(ApiKeyFactory(client=acme)))

    for actor in (member, key):
        assert actor.may(Area.APPEALS, client=acme) is True
        assert actor.may(Area.APPEALS, client=globex) is False
        assert actor.may(Area.TEMPLATE_QUEUE) is False
        assert actor.may(Area.CLIENTS) is False
    assert Actor.of(acme_agent, client=globex).role_for(Area.APPEALS, client=globex) is None
