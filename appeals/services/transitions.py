"""The workflow: one service per row of `appeals.choices.TRANSITIONS`, all through
`_transition` (lock, check the table and the role, move the SLA clock, save, audit, staff index,
e-mail after commit)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from appeals import choices as c
from appeals import sla
from appeals.models import AppealTicket
from appeals.services.attachments import attachment_add
from appeals.services.base import AppealInvalid, AppealStateError, _user, side_of
from appeals.services.notify import _notice_body, _notify, appeal_event_emit
from appeals.services.thread import _message_create
from appeals.services.work_index import work_item_sync_appeal
from portal.audit.services import audit_record
from tenants.actors import Actor
from tenants.models import Client, User
from tenants.permissions import Area
from tenants.selectors import current_client

# --- Transitions --------------------------------------------------------------------------


def _bank(ticket: AppealTicket, now: datetime, hours: sla.BusinessHours) -> None:
    if ticket.resolution_running_since is not None:
        ticket.resolution_used += sla.business_seconds_between(
            ticket.resolution_running_since, now, hours
        )
        ticket.resolution_running_since = None


def _move_clock(ticket: AppealTicket, target: str, now: datetime) -> None:
    """Start, pause, resume or stop staff's resolution clock for the new status."""
    hours = sla.hours_from_settings()
    if target == c.Status.SUBMITTED:
        ticket.submitted_at, ticket.resolution_used = now, 0
        ticket.resolution_running_since = now
    elif target in c.CLOCK_RUNNING:
        if ticket.resolution_running_since is None and ticket.resolved_at is None:
            ticket.resolution_running_since = now
    else:
        _bank(ticket, now, hours)
        if target == c.Status.OUTCOME and ticket.resolved_at is None:
            ticket.resolved_at = now


CLOCK_FIELDS = [
    "status",
    "submitted_at",
    "first_response_at",
    "resolution_used",
    "resolution_running_since",
    "resolved_at",
    "updated_at",
]


def _transition(
    *,
    ticket: AppealTicket,
    action: str,
    actor: Any,
    client: Client | None,
    fields: dict[str, Any] | Callable[[AppealTicket], dict[str, Any]] | None = None,
    message: str = "",
    check=None,
    after=None,
    upload=None,
) -> AppealTicket:
    client = client or current_client()
    step = c.TRANSITIONS[action]
    role = Actor.of(actor, client=client).role_for(Area.APPEALS, client=client)
    with transaction.atomic():
        locked = AppealTicket.objects.select_for_update().get(pk=ticket.pk)
        if role not in step.roles:
            raise PermissionDenied(f"Your role does not allow this step ({step.label.lower()}).")
        if locked.status not in step.sources:
            raise AppealStateError(
                f"This appeal is {locked.get_status_display().lower()}: "
                f"“{step.label}” does not apply now."
            )
        if check is not None:
            check(locked)
        if callable(fields):  # decided on the locked row (another request may have changed it)
            fields = fields(locked)
        now = timezone.now()
        before = locked.status
        for name, value in (fields or {}).items():
            setattr(locked, name, value)
        _move_clock(locked, step.target, now)
        side = side_of(role)
        if side == c.Side.STAFF and locked.submitted_at and locked.first_response_at is None:
            locked.first_response_at = now
        locked.status = step.target
        locked.updated_at = now
        if step.target == c.Status.CLOSED:
            locked.closed_at = now
        update = [*CLOCK_FIELDS, *(fields or {})]
        if step.target == c.Status.CLOSED:
            update.append("closed_at")
        locked.save(update_fields=update)
        audit_record(
            action=f"appeal.{action}",
            actor=actor,
            client=client,
            target=locked,
            before={"status": before},
            after={"status": locked.status, **{k: _plain(v) for k, v in (fields or {}).items()}},
        )
        appeal_event_emit(
            ticket=locked, event_type="appeal.transitioned", action=action, previous_status=before
        )
        if message.strip():
            posted = _message_create(
                ticket=locked, actor=actor, role=role, body=message, internal=False, now=now
            )
            appeal_event_emit(
                ticket=locked,
                event_type="appeal.message",
                message_id=posted.pk,
                side=posted.side,
                author=posted.author_label,
                body=posted.body,
            )
            if upload is not None:
                attachment_add(
                    ticket=locked, actor=actor, upload=upload, message=posted, client=client
                )
        if after is not None:
            after(locked)
        work_item_sync_appeal(ticket=locked, client=client)
        _notify(
            ticket=locked,
            client=client,
            to_side=c.Side.CLIENT if side == c.Side.STAFF else c.Side.STAFF,
            subject=f"{locked.reference} {locked.title}: {locked.get_status_display().lower()}",
            body=_notice_body(
                locked, actor, f"moved the appeal to “{locked.get_status_display()}”.", message
            ),
        )
    return locked


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, User):
        return value.email
    return value


def _require_answers(ticket: AppealTicket) -> None:
    missing = ticket.missing_answers()
    if missing:
        labels = {
            "api_uses": "how you use the WhatsApp API",
            "consent_process": "how people opt in",
            "improvement_plan": "your improvement plan",
        }
        raise AppealInvalid(
            {name: f"Describe {labels[name]} before submitting." for name in missing}
        )


def appeal_submit(*, ticket: AppealTicket, actor: Any, client: Client | None = None):
    """Client → BSP: the guided answers are complete; staff's clocks start."""
    return _transition(
        ticket=ticket, action="submit", actor=actor, client=client, check=_require_answers
    )


def appeal_start_review(*, ticket: AppealTicket, actor: Any, client: Client | None = None):
    """Staff pick the appeal up (triage); the assignee defaults to whoever starts it."""

    def fields(locked: AppealTicket) -> dict[str, Any]:
        user = _user(actor)
        return {"assignee": user} if locked.assignee_id is None and user else {}

    return _transition(
        ticket=ticket, action="start_review", actor=actor, client=client, fields=fields
    )


def appeal_request_info(
    *, ticket: AppealTicket, actor: Any, question: str, client: Client | None = None
):
    """Staff ask the client for more; the clocks pause until the client answers."""
    if not question.strip():
        raise AppealInvalid({"body": "Write what the client should add."})
    return _transition(
        ticket=ticket, action="request_info", actor=actor, client=client, message=question
    )


def appeal_answer(
    *, ticket: AppealTicket, actor: Any, answer: str, upload=None, client: Client | None = None
):
    """The client answers staff's question (with a file if given, checked in the same
    transaction: a bad file changes nothing); back to staff review, clocks running again."""
    if not answer.strip():
        raise AppealInvalid({"body": "Write your answer."})
    return _transition(
        ticket=ticket, action="answer", actor=actor, client=client, message=answer, upload=upload
    )


def appeal_mark_ready(*, ticket: AppealTicket, actor: Any, client: Client | None = None):
    return _transition(ticket=ticket, action="mark_ready", actor=actor, client=client)


def appeal_submit_to_meta(
    *, ticket: AppealTicket, actor: Any, meta_case_reference: str, client: Client | None = None
):
    """Staff filed the appeal in Meta's Business Support Home; clocks pause while Meta decides."""
    reference = meta_case_reference.strip()
    if not reference:
        raise AppealInvalid({"meta_case_reference": "Give Meta's case reference."})
    return _transition(
        ticket=ticket,
        action="submit_to_meta",
        actor=actor,
        client=client,
        fields={"meta_case_reference": reference[:100]},
    )


def appeal_record_outcome(
    *, ticket: AppealTicket, actor: Any, outcome: str, note: str = "", client: Client | None = None
):
    """Meta's decision: reversed, unchanged, or acknowledged. Stops the resolution clock."""
    if outcome not in c.Outcome.values:
        raise AppealInvalid({"outcome": "Choose reversed, unchanged or acknowledged."})
    return _transition(
        ticket=ticket,
        action="record_outcome",
        actor=actor,
        client=client,
        fields={"outcome": outcome, "outcome_note": note.strip(), "outcome_at": timezone.now()},
        message=f"Meta's outcome: {c.Outcome(outcome).label}." + (f"\n\n{note}" if note else ""),
    )


def appeal_start_recovery(*, ticket: AppealTicket, actor: Any, client: Client | None = None):
    """Build the recovery plan (apology draft, contacts to follow up, process review)."""
    from appeals.recovery import recovery_plan_build

    return _transition(
        ticket=ticket,
        action="start_recovery",
        actor=actor,
        client=client,
        after=lambda locked: recovery_plan_build(ticket=locked),
    )


def appeal_close(*, ticket: AppealTicket, actor: Any, client: Client | None = None):
    return _transition(ticket=ticket, action="close", actor=actor, client=client)


def appeal_withdraw(*, ticket: AppealTicket, actor: Any, client: Client | None = None):
    return _transition(ticket=ticket, action="withdraw", actor=actor, client=client)


# What each step takes from a form or an API body: input name → the service's argument.
TRANSITION_INPUTS = {
    "request_info": {"body": "question"},
    "answer": {"body": "answer"},
    "submit_to_meta": {"meta_case_reference": "meta_case_reference"},
    "record_outcome": {"outcome": "outcome", "note": "note"},
}


def transition_arguments(action: str, data) -> dict[str, str]:
    """The service's keyword arguments for `action` from a form's or an API body's values."""
    return {
        arg: data.get(name, "") or "" for name, arg in TRANSITION_INPUTS.get(action, {}).items()
    }


# Services per action, for views and the API (one entry per row of the transition table).
TRANSITION_SERVICES = {
    "submit": appeal_submit,
    "start_review": appeal_start_review,
    "request_info": appeal_request_info,
    "answer": appeal_answer,
    "mark_ready": appeal_mark_ready,
    "submit_to_meta": appeal_submit_to_meta,
    "record_outcome": appeal_record_outcome,
    "start_recovery": appeal_start_recovery,
    "close": appeal_close,
    "withdraw": appeal_withdraw,
}
