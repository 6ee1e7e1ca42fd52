"""Least privilege inside a client: staff entering a client's portal (the audited path) act
there by their staff role's areas (tenants.permissions.STAFF_AREAS), on pages, htmx partials and
the REST API alike; never as the client's operator just for being staff."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from appeals.models import AppealTicket
from compliance.models import ConsentEvent
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
