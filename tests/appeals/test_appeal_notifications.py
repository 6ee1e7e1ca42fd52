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


def test_a_message_on_a_draft_is_not_mailed_to_staff(
    acme, acme_waba, acme_owner, staff_appeals, eager_tasks, django_capture_on_commit_callbacks
):
    ticket = open_appeal(acme, acme_waba, acme_owner)
    mail.outbox.clear()
    with schema_context(acme.schema_name), django_capture_on_commit_callbacks(execute=True):
        services.appeal_message_post(ticket=ticket, actor=acme_owner, client=acme, body="Draft")
    # Staff do not work drafts (not in their inbox): nothing to tell them yet.
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        ticket = move(ticket, acme, [("submit", acme_owner, {})])
    assert [m.to for m in mail.outbox] == [[staff_appeals.email]]


def test_notices_for_an_assignee_who_left_go_to_the_appeals_agents(
    acme, acme_waba, acme_owner, staff_appeals, eager_tasks, django_capture_on_commit_callbacks
):
    from tests.factories import UserFactory

    gone = UserFactory(is_staff=True, staff_role="appeals_agent")
    ticket = move(open_appeal(acme, acme_waba, acme_owner), acme, [("submit", acme_owner, {})])
    with schema_context(acme.schema_name):
        services.appeal_assign(ticket=ticket, actor=staff_appeals, client=acme, assignee=gone)
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    mail.outbox.clear()
    with schema_context(acme.schema_name), django_capture_on_commit_callbacks(execute=True):
        services.appeal_message_post(ticket=ticket, actor=acme_owner, client=acme, body="Hello?")
    assert [m.to for m in mail.outbox] == [[staff_appeals.email]]


def test_starting_the_review_keeps_an_assignment_made_meanwhile(
    acme, acme_waba, acme_owner, staff_appeals, staff_manager, staff_super
):
    ticket = move(open_appeal(acme, acme_waba, acme_owner), acme, [("submit", acme_owner, {})])
    with schema_context(acme.schema_name):
        services.appeal_assign(
            ticket=ticket, actor=staff_super, client=acme, assignee=staff_manager
        )
        # `ticket` was read before the assignment (a page open in another tab).
        started = services.appeal_start_review(ticket=ticket, actor=staff_appeals, client=acme)
    assert started.assignee_id == staff_manager.pk
