"""Issue 14, defects 1 and 2: submitting keeps the answers just typed; withdrawing is not the
primary action and asks for confirmation."""

from __future__ import annotations

import re

from django_tenants.utils import schema_context

from appeals.models import AppealTicket
from tests.appeals.conftest import move, open_appeal

ANSWERS = {
    "title": "Messaging blocked for 7 days",
    "priority": "high",
    "api_uses": "Order updates and support replies.",
    "consent_process": "A checkbox at checkout, unticked by default.",
    "improvement_plan": "Fewer marketing messages; STOP honoured at once.",
}


def test_submitting_saves_the_answers_typed_with_it(web, acme, acme_waba, acme_owner):
    ticket = open_appeal(acme, acme_waba, acme_owner, consent_process="", improvement_plan="")
    http = web(acme, acme_owner)
    page = http.get(f"/appeals/{ticket.pk}/").content.decode()
    # one form: the submit button posts the answers it sits with
    form = re.search(r'<form[^>]*id="answers-form".*?</form>', page, re.S).group(0)
    assert 'name="then" value="submit"' in form

    response = http.post(f"/appeals/{ticket.pk}/answers/", {**ANSWERS, "then": "submit"})

    assert response.status_code == 302
    with schema_context(acme.schema_name):
        stored = AppealTicket.objects.get(pk=ticket.pk)
    assert stored.status == "submitted"
    assert (stored.api_uses, stored.consent_process, stored.improvement_plan) == (
        ANSWERS["api_uses"],
        ANSWERS["consent_process"],
        ANSWERS["improvement_plan"],
    )
    assert stored.priority == "high"


def test_a_refused_submission_keeps_what_was_typed(web, acme, acme_waba, acme_owner):
    ticket = open_appeal(acme, acme_waba, acme_owner, consent_process="", improvement_plan="")
    typed = {**ANSWERS, "improvement_plan": "  ", "then": "submit"}

    response = web(acme, acme_owner).post(f"/appeals/{ticket.pk}/answers/", typed)

    assert response.status_code == 400
    body = response.content.decode()
    assert ANSWERS["consent_process"] in body
    with schema_context(acme.schema_name):
        stored = AppealTicket.objects.get(pk=ticket.pk)
    assert stored.status == "draft"
    assert stored.consent_process == ANSWERS["consent_process"]


def test_withdraw_is_never_the_primary_button_and_asks_first(web, acme, acme_waba, acme_owner):
    ticket = open_appeal(acme, acme_waba, acme_owner)
    ticket = move(ticket, acme, [("submit", acme_owner, {})])
    http = web(acme, acme_owner)

    page = http.get(f"/appeals/{ticket.pk}/").content.decode()
    withdraw = re.search(r"<form[^>]*steps/withdraw/.*?</form>", page, re.S).group(0)
    assert "primary" not in withdraw
    assert 'name="confirm"' in withdraw

    unconfirmed = http.post(f"/appeals/{ticket.pk}/steps/withdraw/", {})
    assert unconfirmed.status_code == 302
    with schema_context(acme.schema_name):
        assert AppealTicket.objects.get(pk=ticket.pk).status == "submitted"
    assert "tick the box to confirm" in http.get(f"/appeals/{ticket.pk}/").content.decode()

    http.post(f"/appeals/{ticket.pk}/steps/withdraw/", {"confirm": "yes"})
    with schema_context(acme.schema_name):
        assert AppealTicket.objects.get(pk=ticket.pk).status == "closed"


def test_the_assignee_choices_are_read_by_one_plain_select(staff_appeals, monkeypatch):
    """Not through `QuerySet.iterator()`'s server-side cursor (four round trips a render)."""
    from django.db import connection

    from appeals.forms import AssignForm

    def no_server_side_cursor():
        raise AssertionError("the assignee choices opened a server-side cursor")

    monkeypatch.setattr(connection, "chunked_cursor", no_server_side_cursor)
    html = AssignForm(initial={"assignee": staff_appeals.pk}).as_p()

    assert f'<option value="{staff_appeals.pk}" selected>' in html
    assert '<option value="">---------</option>' in html
