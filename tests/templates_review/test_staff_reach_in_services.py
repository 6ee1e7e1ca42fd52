"""The template services hold staff to their role's reach on the client's templates, as the
appeals services do: pages and the API gate by area, and a service called from anywhere else
(a task, the admin, a future view) refuses the same people."""

import pytest
from django.core.exceptions import PermissionDenied

from templates_review import services
from templates_review.models import ReviewComment
from templates_review.pacing import template_unpause
from templates_review.services import Actor
from tests.factories import MessageTemplateFactory
from tests.people import make_account_manager


def staff(user, role):
    return Actor(principal=user, role=role, label=user.email)


def test_an_appeals_agent_may_not_comment_or_unpause(in_acme, staff_appeals):
    template = MessageTemplateFactory(
        name="paced", meta_status="paused", pause_kind="pacing", meta_id="3119999001"
    )
    agent = staff(staff_appeals, "appeals_agent")
    with pytest.raises(PermissionDenied):
        services.review_comment_add(template=template, actor=agent, body="Looks fine")
    with pytest.raises(PermissionDenied):
        template_unpause(template=template, actor=agent)
    assert not ReviewComment.objects.filter(template=template).exists()


def test_a_reviewer_and_a_superuser_comment(in_acme, staff_reviewer, staff_super):
    template = MessageTemplateFactory(name="promo")
    for user, role in ((staff_reviewer, "template_reviewer"), (staff_super, "superuser")):
        services.review_comment_add(template=template, actor=staff(user, role), body="Noted")
    assert ReviewComment.objects.filter(template=template, by_staff=True).count() == 2


def test_an_account_manager_acts_on_their_own_clients_templates_only(
    in_acme, acme, globex, staff_manager
):
    template = MessageTemplateFactory(name="promo")
    manager = staff(staff_manager, "account_manager")
    make_account_manager(staff_manager, globex)  # someone else's client: acme is not theirs
    with pytest.raises(PermissionDenied):
        services.review_comment_add(template=template, actor=manager, body="Hi", client=acme)
    make_account_manager(staff_manager, acme)
    acme.refresh_from_db()
    services.review_comment_add(template=template, actor=manager, body="Hi", client=acme)
    assert ReviewComment.objects.filter(template=template).count() == 1


def test_an_appeals_agent_may_not_draft_for_a_client(in_acme, acme_waba, staff_appeals):
    with pytest.raises(PermissionDenied):
        services.template_create_draft(
            actor=staff(staff_appeals, "appeals_agent"),
            account=acme_waba,
            name="from_staff",
            language="en_US",
            category="marketing",
            components=[{"type": "BODY", "text": "Hello"}],
        )
