"""What the template services share: who acts, the check of a move against the transition
table, the row lock and the audit row."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import connection

from portal.audit.services import audit_record
from templates_review.choices import (
    EDIT_TARGET,
    TRANSITIONS,
    ReviewAction,
    ReviewState,
)
from templates_review.models import MessageTemplate, TemplateRevision
from tenants.actors import Actor  # who acts: one Actor for the whole portal
from tenants.models import Client
from tenants.permissions import Area


class TransitionNotAllowed(Exception):
    """The template is not in a state this move starts from."""


def acting_role(actor: Actor, client: Client | None) -> str:
    """The role `actor` takes on `client`'s templates: BSP staff only as far as their staff role
    reaches the templates area (an appeals agent entering a client may not comment, unpause or
    move a template; an account manager only on their own clients); '' when it does not.
    Members and keys are bound to their client by the request that built the actor."""
    if actor.is_staff and not actor.may(Area.TEMPLATES, client=_client(client)):
        return ""
    return actor.role


def transition_check(*, action: ReviewAction, state: str | None, role: str) -> ReviewState | None:
    """The state after `action`, or an exception: PermissionDenied for the wrong role,
    TransitionNotAllowed for the wrong state. Role first, so nobody learns states they may not
    change."""
    transition = TRANSITIONS[action]
    if role not in transition.roles:
        raise PermissionDenied(f"Your role may not {action.label.lower()} templates.")
    if state not in transition.sources:
        shown = ReviewState(state).label.lower() if state else "not created"
        raise TransitionNotAllowed(
            f"A template that is {shown} cannot be {_past(action)}."
            if action != ReviewAction.CREATE
            else "This template exists already."
        )
    if action == ReviewAction.EDIT:
        return EDIT_TARGET[state]
    return transition.target


def _past(action: ReviewAction) -> str:
    return {
        ReviewAction.EDIT: "edited",
        ReviewAction.SUBMIT: "submitted",
        ReviewAction.REQUEST_CHANGES: "sent back for changes",
        ReviewAction.REJECT: "rejected",
        ReviewAction.APPROVE: "approved",
        ReviewAction.SEND: "sent to Meta",
    }.get(action, action.label.lower())


def _client(client: Client | None) -> Client:
    return client if client is not None else Client.objects.get(schema_name=connection.schema_name)


def _lock(template: MessageTemplate) -> MessageTemplate:
    return MessageTemplate.objects.select_for_update().get(pk=template.pk)


def _latest_revision(template: MessageTemplate) -> TemplateRevision | None:
    return template.revisions.order_by("-number").first()


def _audit(action: str, *, actor: Actor, client: Client, template, before=None, after=None):
    audit_record(
        action=f"template.{action}",
        actor=actor.principal,
        client=client,
        target=template,
        before=before,
        after=after,
    )
    before_state = (before or {}).get("state")
    after_state = (after or {}).get("state")
    if after_state and after_state != before_state:  # a move in the review workflow
        from integrations.events import event_emit

        event_emit(
            event_type="template.review_changed",
            data={
                "template_id": template.pk,
                "name": template.name,
                "language": template.language,
                "action": action,
                "previous_state": before_state,
                "state": after_state,
            },
        )
