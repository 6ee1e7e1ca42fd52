"""The BSP reviewers' moves: request changes, reject, approve (then a task sends the template
to Meta), and ask for another send."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from portal.celery import enqueue_for_schema
from templates_review.choices import ReviewAction, ReviewReason
from templates_review.models import MessageTemplate, ReviewComment
from templates_review.services.common import (
    Actor,
    _audit,
    _client,
    _latest_revision,
    _lock,
    acting_role,
    transition_check,
)
from templates_review.services.queue import _queue_sync
from tenants.models import Client


def _decide(
    *,
    template: MessageTemplate,
    actor: Actor,
    action: ReviewAction,
    audit_action: str,
    reason: ReviewReason | None,
    comment: str,
    client: Client | None,
) -> MessageTemplate:
    client = _client(client)
    with transaction.atomic():
        locked = _lock(template)
        before = locked.review_state
        target = transition_check(action=action, state=before, role=acting_role(actor, client))
        fields = ["review_state", "updated_at"]
        locked.review_state = target
        locked.updated_at = timezone.now()
        if action == ReviewAction.APPROVE:
            locked.approved_revision = _latest_revision(locked)
            locked.send_error = ""
            fields += ["approved_revision", "send_error"]
        locked.save(update_fields=fields)
        if reason is not None or comment.strip():
            ReviewComment.objects.create(
                template=locked,
                revision=_latest_revision(locked),
                author=actor.user,
                author_label=actor.label or str(actor.principal or ""),
                by_staff=True,
                body=comment.strip(),
                reason=reason.value if reason is not None else "",
                action=action.value,
            )
        after: dict[str, Any] = {"state": target, "revision": locked.revision_count}
        if reason is not None:
            after |= {"reason": reason.value, "meta_reason": reason.meta_reason.value}
        _audit(
            audit_action,
            actor=actor,
            client=client,
            template=locked,
            before={"state": before},
            after=after,
        )
        _queue_sync(template=locked, client=client)
    return locked


def template_request_changes(
    *,
    template: MessageTemplate,
    actor: Actor,
    reason: ReviewReason,
    comment: str = "",
    client: Client | None = None,
) -> MessageTemplate:
    return _decide(
        template=template,
        actor=actor,
        action=ReviewAction.REQUEST_CHANGES,
        audit_action="changes_requested",
        reason=ReviewReason(reason),
        comment=comment,
        client=client,
    )


def template_reject(
    *,
    template: MessageTemplate,
    actor: Actor,
    reason: ReviewReason,
    comment: str = "",
    client: Client | None = None,
) -> MessageTemplate:
    return _decide(
        template=template,
        actor=actor,
        action=ReviewAction.REJECT,
        audit_action="rejected",
        reason=ReviewReason(reason),
        comment=comment,
        client=client,
    )


def template_approve(
    *, template: MessageTemplate, actor: Actor, comment: str = "", client: Client | None = None
) -> MessageTemplate:
    """The BSP approves the latest revision. After the commit a task sends it to Meta
    (`tasks.template_send`), so the reviewer never waits on Meta; until Meta has it, it stays in
    the queue, shown as sending, or with Meta's refusal."""
    client = _client(client)
    with transaction.atomic():
        approved = _decide(
            template=template,
            actor=actor,
            action=ReviewAction.APPROVE,
            audit_action="approved",
            reason=None,
            comment=comment,
            client=client,
        )
        _send_later(template=approved, actor=actor, client=client)
    return approved


def template_send_request(
    *, template: MessageTemplate, actor: Actor, client: Client | None = None
) -> MessageTemplate:
    """Staff ask for another attempt to send an approved template to Meta (after Meta refused
    it, or when a send seems stuck): the refusal is cleared and a task sends it again."""
    client = _client(client)
    with transaction.atomic():
        locked = _lock(template)
        transition_check(
            action=ReviewAction.SEND, state=locked.review_state, role=acting_role(actor, client)
        )
        before = locked.send_error
        locked.send_error = ""
        locked.updated_at = timezone.now()
        locked.save(update_fields=["send_error", "updated_at"])
        _audit(
            "send_requested",
            actor=actor,
            client=client,
            template=locked,
            before={"send_error": before},
            after={"state": locked.review_state},
        )
        _queue_sync(template=locked, client=client)
        _send_later(template=locked, actor=actor, client=client)
    return locked


def _send_later(*, template: MessageTemplate, actor: Actor, client: Client) -> None:
    from templates_review.tasks import template_send

    reviewer_id = actor.user.pk if actor.user is not None else None
    transaction.on_commit(
        lambda: enqueue_for_schema(template_send, client.schema_name, template.pk, reviewer_id),
        robust=True,  # the approval stands; "Send to Meta again" queues another attempt
    )
