"""Every move of the review workflow, allowed and denied, by role and by state (the table in
templates_review.choices), then through the services: a denied move changes nothing."""

from __future__ import annotations

import itertools

import pytest
from django.core.exceptions import PermissionDenied

from portal.audit.models import AuditLog
from templates_review import services
from templates_review.choices import (
    TRANSITIONS,
    ReviewAction,
    ReviewReason,
    ReviewState,
)
from templates_review.models import MessageTemplate, ReviewComment
from templates_review.services import Actor, TransitionNotAllowed, transition_check
from tests.factories import MessageTemplateFactory

CLIENT_ROLES = ["owner", "admin", "agent", "viewer", "api_key"]
STAFF_ROLES = ["account_manager", "template_reviewer", "appeals_agent", "superuser"]
ALL_ROLES = CLIENT_ROLES + STAFF_ROLES
AUTHORS = {"owner", "admin", "agent", "api_key"}
REVIEWERS = {"template_reviewer", "superuser"}
S = ReviewState

# The expected table, written out independently of choices.TRANSITIONS:
# action -> (who may, from which states, to which state per source state).
EXPECTED = {
    ReviewAction.CREATE: (AUTHORS, {None: S.DRAFT}),
    ReviewAction.EDIT: (
        AUTHORS,
        {
            S.DRAFT: S.DRAFT,
            S.CHANGES_REQUESTED: S.CHANGES_REQUESTED,
            S.REJECTED: S.DRAFT,
            S.SENT_TO_META: S.DRAFT,
        },
    ),
    ReviewAction.SUBMIT: (AUTHORS, {S.DRAFT: S.SUBMITTED, S.CHANGES_REQUESTED: S.SUBMITTED}),
    ReviewAction.REQUEST_CHANGES: (REVIEWERS, {S.SUBMITTED: S.CHANGES_REQUESTED}),
    ReviewAction.REJECT: (REVIEWERS, {S.SUBMITTED: S.REJECTED}),
    ReviewAction.APPROVE: (REVIEWERS, {S.SUBMITTED: S.APPROVED}),
    ReviewAction.SEND: (REVIEWERS, {S.APPROVED: S.SENT_TO_META}),
}

CASES = [
    pytest.param(action, role, state, id=f"{action.value}-{role}-{state}")
    for action, role, state in itertools.product(
        ReviewAction, ALL_ROLES, [None, *ReviewState.values]
    )
]


def test_the_table_covers_every_action():
    assert set(TRANSITIONS) == set(ReviewAction) == set(EXPECTED)


@pytest.mark.parametrize(("action", "role", "state"), CASES)
def test_transition_allowed_or_denied(action, role, state):
    roles, moves = EXPECTED[action]
    if role not in roles:
        with pytest.raises(PermissionDenied):
            transition_check(action=action, state=state, role=role)
    elif state not in moves:
        with pytest.raises(TransitionNotAllowed):
            transition_check(action=action, state=state, role=role)
    else:
        assert transition_check(action=action, state=state, role=role) == moves[state]


# --- through the services ---------------------------------------------------------------


def actor(user, role):
    return Actor(principal=user, role=role, label=user.email)


def test_author_creates_a_draft_with_its_first_revision_and_an_audit_row(
    in_acme, acme_waba, acme_agent
):
    template = services.template_create_draft(
        actor=actor(acme_agent, "agent"),
        account=acme_waba,
        name="order_update_new",
        language="en_US",
        category="UTILITY",
        components=[{"type": "BODY", "text": "Hi {{1}}, thanks."}],
    )

    assert (template.review_state, template.revision_count, template.category) == (
        "draft",
        1,
        "utility",
    )
    revision = template.revisions.get()
    assert (revision.number, revision.author_id, revision.components) == (
        1,
        acme_agent.pk,
        [{"type": "BODY", "text": "Hi {{1}}, thanks."}],
    )
    row = AuditLog.objects.get(action="template.created")
    assert (row.actor_id, row.client_id, row.object_id) == (
        acme_agent.pk,
        in_acme.pk,
        str(template.pk),
    )


def test_viewer_cannot_create_a_draft(in_acme, acme_waba, acme_viewer):
    with pytest.raises(PermissionDenied):
        services.template_create_draft(
            actor=actor(acme_viewer, "viewer"),
            account=acme_waba,
            name="sneaky",
            language="en_US",
            category="UTILITY",
            components=[{"type": "BODY", "text": "Hi"}],
        )
    assert not MessageTemplate.objects.filter(name="sneaky").exists()


def test_edit_adds_an_immutable_revision(in_acme, acme_admin):
    template = MessageTemplateFactory()
    services.template_edit(
        template=template,
        actor=actor(acme_admin, "admin"),
        category="utility",
        components=[{"type": "BODY", "text": "Changed {{1}} text."}],
    )

    template.refresh_from_db()
    assert template.revision_count == 2
    first, second = template.revisions.order_by("number")
    assert first.components != second.components
    assert template.components == second.components
    with pytest.raises(ValueError, match="immutable"):
        first.save()


def test_edit_of_a_template_at_meta_keeps_name_and_language_and_starts_a_draft(in_acme, acme_owner):
    template = MessageTemplateFactory(
        review_state=S.SENT_TO_META, meta_id="990001", meta_status="approved"
    )
    original = list(template.components)

    services.template_edit(
        template=template,
        actor=actor(acme_owner, "owner"),
        name="renamed",
        language="pt_BR",
        category="utility",
        components=[{"type": "BODY", "text": "New {{1}} body."}],
    )

    template.refresh_from_db()
    latest = template.revisions.order_by("-number").first()
    assert (template.review_state, latest.name, latest.language) == (
        "draft",
        template.name,
        "en_US",
    )
    assert template.components == original  # Meta's version until the edit is sent


@pytest.mark.parametrize(
    ("service", "kwargs", "role_user", "role", "start", "end"),
    [
        ("template_submit", {}, "acme_agent", "agent", S.DRAFT, S.SUBMITTED),
        ("template_submit", {}, "acme_owner", "owner", S.CHANGES_REQUESTED, S.SUBMITTED),
        (
            "template_request_changes",
            {"reason": ReviewReason.INVALID_FORMAT, "comment": "Add an example."},
            "staff_reviewer",
            "template_reviewer",
            S.SUBMITTED,
            S.CHANGES_REQUESTED,
        ),
        (
            "template_reject",
            {"reason": ReviewReason.SCAM},
            "staff_super",
            "superuser",
            S.SUBMITTED,
            S.REJECTED,
        ),
        ("template_approve", {}, "staff_reviewer", "template_reviewer", S.SUBMITTED, S.APPROVED),
    ],
)
def test_allowed_move_changes_state_and_writes_an_audit_row(
    request, in_acme, service, kwargs, role_user, role, start, end
):
    user = request.getfixturevalue(role_user)
    template = MessageTemplateFactory(review_state=start)

    getattr(services, service)(template=template, actor=actor(user, role), **kwargs)

    template.refresh_from_db()
    assert template.review_state == end
    row = AuditLog.objects.filter(object_id=str(template.pk)).latest("id")
    assert (row.actor_id, row.before, row.after["state"]) == (user.pk, {"state": start}, end)


@pytest.mark.parametrize(
    ("service", "kwargs", "role_user", "role", "start", "error"),
    [
        ("template_submit", {}, "acme_viewer", "viewer", S.DRAFT, PermissionDenied),
        ("template_submit", {}, "staff_reviewer", "template_reviewer", S.DRAFT, PermissionDenied),
        ("template_submit", {}, "acme_agent", "agent", S.SUBMITTED, TransitionNotAllowed),
        ("template_approve", {}, "acme_owner", "owner", S.SUBMITTED, PermissionDenied),
        ("template_approve", {}, "staff_manager", "account_manager", S.SUBMITTED, PermissionDenied),
        ("template_approve", {}, "staff_appeals", "appeals_agent", S.SUBMITTED, PermissionDenied),
        (
            "template_approve",
            {},
            "staff_reviewer",
            "template_reviewer",
            S.DRAFT,
            TransitionNotAllowed,
        ),
        (
            "template_reject",
            {"reason": ReviewReason.SCAM},
            "acme_admin",
            "admin",
            S.SUBMITTED,
            PermissionDenied,
        ),
        (
            "template_request_changes",
            {"reason": ReviewReason.OTHER},
            "staff_reviewer",
            "template_reviewer",
            S.APPROVED,
            TransitionNotAllowed,
        ),
    ],
)
def test_denied_move_changes_nothing(
    request, in_acme, service, kwargs, role_user, role, start, error
):
    user = request.getfixturevalue(role_user)
    template = MessageTemplateFactory(review_state=start)
    audit_rows = AuditLog.objects.count()

    with pytest.raises(error):
        getattr(services, service)(template=template, actor=actor(user, role), **kwargs)

    template.refresh_from_db()
    assert template.review_state == start
    assert AuditLog.objects.count() == audit_rows
    assert not ReviewComment.objects.filter(template=template).exists()


def test_reject_and_request_changes_keep_the_reason_and_its_meta_equivalent(
    in_acme, staff_reviewer
):
    template = MessageTemplateFactory(review_state=S.SUBMITTED)

    services.template_request_changes(
        template=template,
        actor=actor(staff_reviewer, "template_reviewer"),
        reason=ReviewReason.PROMOTIONAL,
        comment="Remove the sale wording from this utility template.",
    )

    comment = template.comments.get()
    assert (comment.reason, comment.action, comment.by_staff) == (
        "promotional",
        "request_changes",
        True,
    )
    row = AuditLog.objects.get(action="template.changes_requested")
    assert row.after["meta_reason"] == "promotional"
    assert ReviewReason.OTHER.meta_reason == "none"
    assert ReviewReason.SCAM.meta_reason == "scam"


def test_viewer_may_not_comment_but_members_and_staff_may(
    in_acme, acme, acme_viewer, acme_agent, staff_manager
):
    from tests.people import make_account_manager

    make_account_manager(staff_manager, acme)  # staff comment on the clients they reach
    template = MessageTemplateFactory()
    with pytest.raises(PermissionDenied):
        services.review_comment_add(
            template=template, actor=actor(acme_viewer, "viewer"), body="hi"
        )
    services.review_comment_add(template=template, actor=actor(acme_agent, "agent"), body="Ok?")
    services.review_comment_add(
        template=template, actor=actor(staff_manager, "account_manager"), body="Looks fine."
    )
    assert list(template.comments.values_list("body", "by_staff")) == [
        ("Ok?", False),
        ("Looks fine.", True),
    ]
