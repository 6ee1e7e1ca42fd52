"""Each reply or step e-mails the other side, after commit."""

import pytest
from django.core import mail
from django_tenants.utils import schema_context

from appeals import services
from tests.appeals.conftest import move, open_appeal


def test_each_step_mails_the_other_side(
    acme,
    acme_waba,
    acme_owner,
    acme_admin,
    acme_agent,
    staff_appeals,
    staff_manager,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    ticket = open_appeal(acme, acme_waba, acme_agent)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        ticket = move(ticket, acme, [("submit", acme_agent, {})])
    # Client → staff: every appeals agent while nobody is assigned.
    assert [m.to for m in mail.outbox] == [[staff_appeals.email]]
    assert mail.outbox[0].subject == f"[Acme Retail] AP-{ticket.pk} {ticket.title}: submitted"
    assert f"/staff/appeals/acme/{ticket.pk}/" in mail.outbox[0].body

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        ticket = move(
            ticket,
            acme,
            [
                ("start_review", staff_appeals, {}),
                ("request_info", staff_appeals, {"question": "Which page collects opt-in?"}),
            ],
        )
    # Staff → client: owners, admins and whoever opened the appeal.
    client_side = sorted([acme_owner.email, acme_admin.email, acme_agent.email])
    assert [sorted(m.to) for m in mail.outbox] == [client_side, client_side]
    assert "Which page collects opt-in?" in mail.outbox[1].body
    assert f"acme.localhost/appeals/{ticket.pk}/" in mail.outbox[1].body

    mail.outbox.clear()
    with schema_context(acme.schema_name), django_capture_on_commit_callbacks(execute=True):
        services.appeal_assign(
            ticket=ticket, actor=staff_appeals, client=acme, assignee=staff_manager
        )
        services.appeal_message_post(ticket=ticket, actor=acme_owner, client=acme, body="Checkout.")
    # Once assigned, client messages go to the assignee only.
    assert [m.to for m in mail.outbox] == [[staff_manager.email]]


def test_nothing_is_sent_when_the_step_is_refused(
    acme, acme_waba, acme_owner, acme_viewer, eager_tasks, django_capture_on_commit_callbacks
):
    from django.core.exceptions import PermissionDenied

    ticket = open_appeal(acme, acme_waba, acme_owner)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PermissionDenied):
        move(ticket, acme, [("submit", acme_viewer, {})])
    assert mail.outbox == []
