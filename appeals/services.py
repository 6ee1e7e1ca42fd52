"""Writes for appeals. Run inside the client's schema (staff pages enter it with schema_context).

Every state change goes through `_transition`: it locks the ticket, checks the step against the
one table (`appeals.choices.TRANSITIONS`) and the actor's role, moves the SLA clock, saves with
`update_fields`, writes the audit row, mirrors the ticket into the staff work index in the same
transaction, and e-mails the other side after commit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from appeals import choices as c
from appeals import sla
from appeals.models import (
    APPEAL_WINDOW,
    AppealAttachment,
    AppealMessage,
    AppealTicket,
    RecoveryItem,
)
from compliance.choices import EventKind
from compliance.models import HealthEvent, PhoneNumber, WhatsAppAccount
from portal.audit.services import audit_record
from tenants.choices import ClientRole, StaffRole
from tenants.models import Client, Membership, User, WorkItem, WorkKind
from tenants.selectors import current_client


class AppealStateError(Exception):
    """The step does not apply to the appeal in its current state (the API answers 409)."""


class AppealInvalid(ValueError):
    """The input is missing something the step needs; `errors` maps fields to reasons."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(errors.values()))


# --- Who is acting ------------------------------------------------------------------------


def actor_role(actor: Any, *, client: Client) -> str | None:
    """The role an actor takes on this client's appeals: a staff role for BSP staff, the
    membership role for client users, `api_key` for an API key of this client."""
    api_key = getattr(actor, "api_key", None)
    if api_key is not None:
        return c.API_KEY_ROLE if api_key.client_id == client.pk else None
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.is_active:
        return None
    if actor.is_staff:
        if actor.staff_role:
            return actor.staff_role
        return StaffRole.SUPERUSER.value if actor.is_superuser else None
    role = (
        Membership.objects.filter(user=actor, client=client).values_list("role", flat=True).first()
    )
    return role


def side_of(role: str | None) -> str:
    return c.Side.CLIENT if role in c.CLIENT_ROLES else c.Side.STAFF


def _user(actor: Any) -> User | None:
    return actor if isinstance(actor, User) else None


# --- Opening an appeal --------------------------------------------------------------------

_TEMPLATE_RESTRICTIONS = {
    "business_initiated_messaging",
    "utility_templates",
    "direct_send_utility_templates",
}


def prefill_from_event(*, event: HealthEvent) -> dict[str, Any]:
    """What an enforcement event tells about the appeal: subject, block type, dates, violation."""
    data = event.data or {}
    expires = data.get("expires_at")
    ends_at = parse_datetime(expires) if isinstance(expires, str) else None
    subject = c.SubjectKind.WABA
    template = None
    if event.number_id:
        subject = c.SubjectKind.PHONE_NUMBER
    elif event.template_name and event.account_id:
        from templates_review.models import MessageTemplate

        template = (
            MessageTemplate.objects.filter(account_id=event.account_id, name=event.template_name)
            .order_by("id")
            .first()
        )
        subject = c.SubjectKind.TEMPLATE if template else c.SubjectKind.WABA
    kind = event.kind
    if kind == EventKind.RESTRICTION:
        raw = str(data.get("restriction_type", "")).lower()
        if ends_at is None:
            block = c.BlockType.LOCKED
        elif raw in _TEMPLATE_RESTRICTIONS:
            block = c.BlockType.TEMPLATE_BLOCK
        else:
            block = c.BlockType.MESSAGING_BLOCK
    elif kind in (EventKind.BANNED, EventKind.BAN_SCHEDULED):
        block = c.BlockType.DISABLED
    elif kind in (EventKind.FLAGGED, EventKind.STATUS_CHANGE, EventKind.QUALITY_DROP):
        block = c.BlockType.NUMBER_RESTRICTED
    elif kind in (
        EventKind.TEMPLATE_PAUSED,
        EventKind.TEMPLATE_DISABLED,
        EventKind.TEMPLATE_REJECTED,
    ):
        block = c.BlockType.TEMPLATE_BLOCK
    else:
        block = c.BlockType.WARNING
    account_id = event.account_id or (event.number.account_id if event.number_id else None)
    return {
        "title": event.title[:200],
        "subject_kind": subject,
        "account_id": account_id,
        "number_id": event.number_id,
        "template_id": template.pk if template else None,
        "block_type": block,
        "violation_type": str(data.get("violation_type", ""))[:100],
        "blocked_at": event.occurred_at,
        "block_ends_at": ends_at,
        "source_event_id": event.pk,
    }


def appeal_create(
    *,
    actor: Any,
    title: str,
    subject_kind: str,
    account: WhatsAppAccount | None = None,
    number: PhoneNumber | None = None,
    template=None,
    block_type: str,
    blocked_at: datetime,
    block_ends_at: datetime | None = None,
    violation_type: str = "",
    api_uses: str = "",
    consent_process: str = "",
    improvement_plan: str = "",
    priority: str = c.Priority.NORMAL,
    source_event: HealthEvent | None = None,
    client: Client | None = None,
) -> AppealTicket:
    """Open a draft appeal. The subject must match its kind; the account follows the subject."""
    client = client or current_client()
    role = actor_role(actor, client=client)
    if role not in c.CREATE_ROLES:
        raise PermissionDenied("Your role does not allow opening an appeal.")
    errors = {}
    if subject_kind == c.SubjectKind.PHONE_NUMBER:
        if number is None:
            errors["number"] = "Choose the phone number the appeal is about."
        else:
            account = number.account
    elif subject_kind == c.SubjectKind.TEMPLATE:
        if template is None:
            errors["template"] = "Choose the template the appeal is about."
        else:
            account = template.account
    elif subject_kind != c.SubjectKind.WABA:
        errors["subject_kind"] = "Choose what the appeal is about."
    if account is None and "number" not in errors and "template" not in errors:
        errors["account"] = "Choose the WhatsApp Business Account the appeal is about."
    if block_type not in c.BlockType.values:
        errors["block_type"] = "Choose the kind of block Meta applied."
    if not title.strip():
        errors["title"] = "Give the appeal a short title."
    if block_ends_at is not None and block_ends_at < blocked_at:
        errors["block_ends_at"] = "The block cannot end before it started."
    if errors:
        raise AppealInvalid(errors)
    now = timezone.now()
    with transaction.atomic():
        ticket = AppealTicket.objects.create(
            title=title.strip()[:200],
            subject_kind=subject_kind,
            account=account,
            number=number if subject_kind == c.SubjectKind.PHONE_NUMBER else None,
            template=template if subject_kind == c.SubjectKind.TEMPLATE else None,
            block_type=block_type,
            violation_type=violation_type.strip()[:100],
            source_event=source_event,
            blocked_at=blocked_at,
            block_ends_at=block_ends_at,
            appeal_deadline=blocked_at + APPEAL_WINDOW,
            api_uses=api_uses.strip(),
            consent_process=consent_process.strip(),
            improvement_plan=improvement_plan.strip(),
            priority=priority,
            created_by=_user(actor),
            created_at=now,
            updated_at=now,
        )
        audit_record(
            action="appeal.created",
            actor=actor,
            client=client,
            target=ticket,
            after={
                "status": ticket.status,
                "subject": ticket.subject_label,
                "block_type": block_type,
                "source_event": source_event.pk if source_event else None,
            },
        )
    return ticket


ANSWER_FIELDS = ("title", "api_uses", "consent_process", "improvement_plan", "priority")


def appeal_update_answers(
    *, ticket: AppealTicket, actor: Any, client: Client | None = None, **changes: str
) -> AppealTicket:
    """Edit the guided answers while the appeal is a draft or waits on the client."""
    client = client or current_client()
    if actor_role(actor, client=client) not in c.CLIENT_OPERATORS:
        raise PermissionDenied("Your role does not allow editing this appeal.")
    unknown = set(changes) - set(ANSWER_FIELDS)
    if unknown:
        raise AppealInvalid(dict.fromkeys(unknown, "This field cannot be changed here."))
    if "priority" in changes and changes["priority"] not in c.Priority.values:
        raise AppealInvalid({"priority": "Choose a priority."})
    with transaction.atomic():
        locked = AppealTicket.objects.select_for_update().get(pk=ticket.pk)
        if locked.status not in (c.Status.DRAFT, c.Status.WAITING_ON_CLIENT):
            raise AppealStateError(
                "The answers can be changed only while the appeal is a draft or waits on you."
            )
        before = {name: getattr(locked, name) for name in changes}
        for name, value in changes.items():
            setattr(locked, name, value.strip())
        if not locked.title:
            raise AppealInvalid({"title": "Give the appeal a short title."})
        locked.updated_at = timezone.now()
        locked.save(update_fields=[*changes, "updated_at"])
        audit_record(
            action="appeal.answers_updated",
            actor=actor,
            client=client,
            target=locked,
            before=before,
            after={name: getattr(locked, name) for name in changes},
        )
        work_item_sync_appeal(ticket=locked, client=client)
    return locked


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
    role = actor_role(actor, client=client)
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
        if message.strip():
            posted = _message_create(
                ticket=locked, actor=actor, role=role, body=message, internal=False, now=now
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


def appeal_assign(
    *,
    ticket: AppealTicket,
    actor: Any,
    assignee: User | None,
    priority: str | None = None,
    client: Client | None = None,
) -> AppealTicket:
    """Staff triage: who works the appeal and how urgent it is."""
    client = client or current_client()
    if actor_role(actor, client=client) not in c.APPEAL_STAFF:
        raise PermissionDenied("Only BSP appeals staff assign appeals.")
    if assignee is not None and not (assignee.is_staff and assignee.is_active):
        raise AppealInvalid({"assignee": "Assign the appeal to an active staff member."})
    if priority is not None and priority not in c.Priority.values:
        raise AppealInvalid({"priority": "Choose a priority."})
    with transaction.atomic():
        locked = AppealTicket.objects.select_for_update().get(pk=ticket.pk)
        before = {"assignee": locked.assignee_id, "priority": locked.priority}
        locked.assignee = assignee
        if priority is not None:
            locked.priority = priority
        locked.updated_at = timezone.now()
        locked.save(update_fields=["assignee", "priority", "updated_at"])
        audit_record(
            action="appeal.assigned",
            actor=actor,
            client=client,
            target=locked,
            before=before,
            after={"assignee": locked.assignee_id, "priority": locked.priority},
        )
        work_item_sync_appeal(ticket=locked, client=client)
    return locked


# --- Thread -------------------------------------------------------------------------------


def _message_create(
    *, ticket: AppealTicket, actor: Any, role: str | None, body: str, internal: bool, now
) -> AppealMessage:
    return AppealMessage.objects.create(
        ticket=ticket,
        author=_user(actor),
        author_label=_label(actor),
        side=side_of(role),
        body=body.strip(),
        internal=internal,
        created_at=now,
    )


def _label(actor: Any) -> str:
    if isinstance(actor, User):
        return actor.get_full_name()
    return str(actor) if actor is not None else "system"


def appeal_message_post(
    *,
    ticket: AppealTicket,
    actor: Any,
    body: str,
    internal: bool = False,
    upload=None,
    client: Client | None = None,
) -> AppealMessage:
    """Add to the thread. Internal notes are for BSP staff only and never reach the client."""
    client = client or current_client()
    role = actor_role(actor, client=client)
    if role not in c.CLIENT_OPERATORS | c.APPEAL_STAFF:
        raise PermissionDenied("Your role does not allow writing in this appeal.")
    if internal and role not in c.APPEAL_STAFF:
        raise PermissionDenied("Only BSP staff write internal notes.")
    if not body.strip():
        raise AppealInvalid({"body": "Write a message."})
    with transaction.atomic():
        locked = AppealTicket.objects.select_for_update().get(pk=ticket.pk)
        if locked.status == c.Status.CLOSED:
            raise AppealStateError("This appeal is closed.")
        now = timezone.now()
        message = _message_create(
            ticket=locked, actor=actor, role=role, body=body, internal=internal, now=now
        )
        if upload is not None:
            attachment_add(
                ticket=locked, actor=actor, upload=upload, message=message, client=client
            )
        side = side_of(role)
        fields = ["updated_at"]
        locked.updated_at = now
        if (
            side == c.Side.STAFF
            and not internal
            and locked.submitted_at
            and locked.first_response_at is None
        ):
            locked.first_response_at = now
            fields.append("first_response_at")
        locked.save(update_fields=fields)
        audit_record(
            action="appeal.note_added" if internal else "appeal.message_posted",
            actor=actor,
            client=client,
            target=locked,
            after={"message": message.pk, "internal": internal},
        )
        work_item_sync_appeal(ticket=locked, client=client)
        # Staff do not work drafts (they are not in the inbox): a client's note to self on a
        # draft is not mailed to them.
        if not internal and not (side == c.Side.CLIENT and locked.status == c.Status.DRAFT):
            _notify(
                ticket=locked,
                client=client,
                to_side=c.Side.CLIENT if side == c.Side.STAFF else c.Side.STAFF,
                subject=f"{locked.reference} {locked.title}: new message",
                body=_notice_body(locked, actor, "wrote:", body),
            )
    return message


ALLOWED_UPLOADS = {
    # extension: (content type, check of the first bytes)
    "pdf": ("application/pdf", lambda head: head.startswith(b"%PDF-")),
    "png": ("image/png", lambda head: head.startswith(b"\x89PNG\r\n\x1a\n")),
    "jpg": ("image/jpeg", lambda head: head.startswith(b"\xff\xd8\xff")),
    "jpeg": ("image/jpeg", lambda head: head.startswith(b"\xff\xd8\xff")),
    "txt": ("text/plain", lambda head: _is_text(head)),
    "csv": ("text/csv", lambda head: _is_text(head)),
}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a cut in the middle of a character is fine
        return exc.start >= len(head) - 3
    return True


def attachment_check(*, name: str, size: int, head: bytes) -> tuple[str, str]:
    """(safe file name, content type) for an upload, or AppealInvalid with a plain reason."""
    limit = settings.APPEALS_ATTACHMENT_MAX_MB * 1024 * 1024
    if size > limit:
        raise AppealInvalid(
            {"file": f"The file is larger than {settings.APPEALS_ATTACHMENT_MAX_MB} MB."}
        )
    if size == 0:
        raise AppealInvalid({"file": "The file is empty."})
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in ALLOWED_UPLOADS:
        raise AppealInvalid({"file": "Attach a PDF, PNG, JPEG, TXT or CSV file."})
    content_type, looks_right = ALLOWED_UPLOADS[ext]
    if not looks_right(head):
        raise AppealInvalid({"file": f"The file's content is not a {ext.upper()} file."})
    stem = _SAFE_NAME.sub("-", name.rsplit(".", 1)[0]).strip("-.")[:80] or "file"
    return f"{stem}.{ext}", content_type


def attachment_add(
    *,
    ticket: AppealTicket,
    actor: Any,
    upload,
    message: AppealMessage | None = None,
    client: Client | None = None,
) -> AppealAttachment:
    """Store an upload on the appeal, under the client's own folder (the schema name)."""
    client = client or current_client()
    role = actor_role(actor, client=client)
    if role not in c.CLIENT_OPERATORS | c.APPEAL_STAFF:
        raise PermissionDenied("Your role does not allow adding files.")
    upload.seek(0)
    head = upload.read(512)
    upload.seek(0)
    name, content_type = attachment_check(name=upload.name, size=upload.size, head=head)
    internal = bool(message and message.internal)
    with transaction.atomic():
        attachment = AppealAttachment(
            ticket=ticket,
            message=message,
            original_name=name,
            content_type=content_type,
            size=upload.size,
            internal=internal,
            uploaded_by=_user(actor),
        )
        attachment.file.save(name, upload, save=False)
        attachment.save()
        # The client may read its audit trail: a note's file is marked and its name left out.
        audit_record(
            action="appeal.file_added",
            actor=actor,
            client=client,
            target=ticket,
            after={"attachment": attachment.pk, "internal": True}
            if internal
            else {"attachment": attachment.pk, "name": name, "size": upload.size},
        )
    return attachment


def evidence_bundle_attach(
    *, ticket: AppealTicket, actor: Any, client: Client | None = None
) -> AppealAttachment:
    """Build the evidence bundle from our own records and attach it to the appeal."""
    from appeals.evidence import evidence_bundle_build

    client = client or current_client()
    role = actor_role(actor, client=client)
    if role not in c.CLIENT_OPERATORS | c.APPEAL_STAFF:
        raise PermissionDenied("Your role does not allow building the evidence bundle.")
    now = timezone.now()
    content = evidence_bundle_build(ticket=ticket, client=client, now=now)
    name = f"evidence-{ticket.reference}-{now:%Y%m%d-%H%M%S}.zip"
    with transaction.atomic():
        attachment = AppealAttachment(
            ticket=ticket,
            kind=c.AttachmentKind.EVIDENCE_BUNDLE,
            original_name=name,
            content_type="application/zip",
            size=len(content),
            uploaded_by=_user(actor),
        )
        attachment.file.save(name, ContentFile(content), save=False)
        attachment.save()
        audit_record(
            action="appeal.evidence_built",
            actor=actor,
            client=client,
            target=ticket,
            after={"attachment": attachment.pk, "size": len(content)},
        )
    return attachment


def recovery_item_set_done(
    *, item: RecoveryItem, actor: Any, done: bool, client: Client | None = None
) -> RecoveryItem:
    client = client or current_client()
    if actor_role(actor, client=client) not in c.CLIENT_OPERATORS | c.APPEAL_STAFF:
        raise PermissionDenied("Your role does not allow changing the recovery plan.")
    with transaction.atomic():
        locked = RecoveryItem.objects.select_for_update().select_related("ticket").get(pk=item.pk)
        if locked.ticket.status != c.Status.RECOVERY:
            raise AppealStateError("The recovery plan is not open.")
        if done == (locked.done_at is not None):
            return locked
        locked.done_at = timezone.now() if done else None
        locked.done_by = _user(actor) if done else None
        locked.save(update_fields=["done_at", "done_by"])
        audit_record(
            action="appeal.recovery_done" if done else "appeal.recovery_reopened",
            actor=actor,
            client=client,
            target=locked.ticket,
            after={"item": locked.pk, "title": locked.title},
        )
    return locked


# --- SLA view of a ticket and the staff work index ----------------------------------------

# Paused and post-outcome appeals sort after every running clock (sort_key is epoch seconds).
SORT_PAUSED = 2_100_000_000
SORT_AFTER_OUTCOME = 2_140_000_000


def clocks(*, ticket: AppealTicket, now: datetime | None = None) -> dict[str, sla.Clock | None]:
    """Staff's first-response and resolution clocks as of `now` (None before submission)."""
    if ticket.submitted_at is None:
        return {"first_response": None, "resolution": None}
    now = now or timezone.now()
    hours = sla.hours_from_settings()
    first_target = int(settings.APPEALS_FIRST_RESPONSE_HOURS * 3600)
    responded = ticket.first_response_at is not None
    first_used = sla.business_seconds_between(
        ticket.submitted_at, ticket.first_response_at or now, hours
    )
    first = sla.Clock(
        used=first_used,
        target=first_target,
        running=not responded,
        stopped=responded,
        due_at=None
        if responded
        else sla.add_business_seconds(ticket.submitted_at, first_target, hours),
    )
    resolution = sla.clock_at(
        used=ticket.resolution_used,
        running_since=ticket.resolution_running_since,
        stopped=ticket.resolved_at is not None,
        target=int(settings.APPEALS_RESOLUTION_HOURS * 3600),
        now=now,
        hours=hours,
    )
    return {"first_response": first, "resolution": resolution}


def _due(ticket: AppealTicket, now: datetime) -> tuple[str, datetime | None, datetime | None]:
    """Which clock staff must beat next, when it is due and when to warn."""
    hours = sla.hours_from_settings()
    warn = settings.APPEALS_WARN_AT_PERCENT / 100
    if ticket.submitted_at and ticket.first_response_at is None:
        target = settings.APPEALS_FIRST_RESPONSE_HOURS * 3600
        return (
            "first_response",
            sla.add_business_seconds(ticket.submitted_at, target, hours),
            sla.add_business_seconds(ticket.submitted_at, target * warn, hours),
        )
    if ticket.resolution_running_since is not None and ticket.resolved_at is None:
        target = settings.APPEALS_RESOLUTION_HOURS * 3600
        since, used = ticket.resolution_running_since, ticket.resolution_used
        return (
            "resolution",
            sla.add_business_seconds(since, target - used, hours),
            sla.add_business_seconds(since, target * warn - used, hours),
        )
    return ("", None, None)


def work_item_sync_appeal(*, ticket: AppealTicket, client: Client) -> None:
    """Mirror the appeal into the public staff index (same transaction), sorted by SLA due
    time. Drafts and closed appeals are not staff's work: their row is removed."""
    if ticket.status in (c.Status.DRAFT, c.Status.CLOSED):
        WorkItem.objects.filter(
            kind=WorkKind.APPEAL, client=client, object_id=str(ticket.pk)
        ).delete()
        return
    now = timezone.now()
    clock, due, warn_at = _due(ticket, now)
    if due is not None:
        sort_key = int(due.timestamp())
    elif ticket.status in c.CLOCK_PAUSED:
        sort_key = SORT_PAUSED
    else:
        sort_key = SORT_AFTER_OUTCOME
    assignee = ticket.assignee if ticket.assignee_id else None
    # Warnings already sent for this due time stay sent (sla_warnings_send marks them).
    previous = (
        WorkItem.objects.filter(kind=WorkKind.APPEAL, client=client, object_id=str(ticket.pk))
        .values_list("sort_key", "data")
        .first()
    )
    markers = {}
    if previous is not None and previous[0] == sort_key:
        markers = {k: v for k, v in previous[1].items() if k in ("warned_for", "breached_for")}
    item = WorkItem(
        kind=WorkKind.APPEAL,
        client=client,
        object_id=str(ticket.pk),
        title=f"{ticket.reference} {ticket.title}"[:200],
        subtitle=f"{ticket.get_block_type_display()} · {ticket.subject_label}"[:200],
        status=ticket.status,
        band=ticket.priority,
        sort_key=sort_key,
        data={
            "clock": clock,
            "due_at": due.isoformat() if due else None,
            "warn_at": warn_at.isoformat() if warn_at else None,
            "assignee_id": assignee.pk if assignee else None,
            "assignee": assignee.email if assignee else "",
            "appeal_deadline": ticket.appeal_deadline.isoformat(),
            "meta_case_reference": ticket.meta_case_reference,
            "outcome": ticket.outcome,
            **markers,
        },
        updated_at=now,
    )
    WorkItem.objects.bulk_create(
        [item],
        update_conflicts=True,
        unique_fields=["kind", "client", "object_id"],
        update_fields=["title", "subtitle", "status", "band", "sort_key", "data", "updated_at"],
    )


# --- E-mail to the other side --------------------------------------------------------------


def _notice_body(ticket: AppealTicket, actor: Any, what: str, text: str = "") -> str:
    lines = [f"{_label(actor)} {what}"]
    if text.strip():
        lines += ["", text.strip()]
    lines += [
        "",
        f"Appeal {ticket.reference}: {ticket.title}",
        f"Status: {ticket.get_status_display()}",
    ]
    return "\n".join(lines)


def recipients_for(*, ticket: AppealTicket, client: Client, side: str) -> list[str]:
    """Client side: its owners and admins and whoever opened the appeal. Staff side: the
    assignee (if still active), else every appeals agent, and the client's account manager."""
    if side == c.Side.CLIENT:
        emails = set(
            Membership.objects.filter(
                client=client,
                role__in=[ClientRole.OWNER, ClientRole.ADMIN],
                user__is_active=True,
            ).values_list("user__email", flat=True)
        )
        if ticket.created_by_id:
            emails.update(
                Membership.objects.filter(
                    client=client, user_id=ticket.created_by_id, user__is_active=True
                ).values_list("user__email", flat=True)
            )
        return sorted(emails)
    staff = User.objects.filter(is_active=True, is_staff=True)
    emails = set()
    if ticket.assignee_id:  # an assignee who has left is as good as none
        emails = set(staff.filter(pk=ticket.assignee_id).values_list("email", flat=True))
    if not emails:
        emails = set(
            staff.filter(staff_role=StaffRole.APPEALS_AGENT).values_list("email", flat=True)
        )
    if client.account_manager_id:
        emails.update(staff.filter(pk=client.account_manager_id).values_list("email", flat=True))
    return sorted(emails)


def _notify(*, ticket: AppealTicket, client: Client, to_side: str, subject: str, body: str):
    recipients = recipients_for(ticket=ticket, client=client, side=to_side)
    if not recipients:
        return
    from appeals.tasks import notice_send

    portal = (
        f"https://{client.slug}.{settings.PORTAL_DOMAIN}/appeals/{ticket.pk}/"
        if to_side == c.Side.CLIENT
        else f"https://{settings.PORTAL_DOMAIN}/staff/appeals/{client.slug}/{ticket.pk}/"
    )
    text = f"{body}\n\n{portal}"
    transaction.on_commit(
        lambda: notice_send.delay(recipients, f"[{client.name}] {subject}", text), robust=True
    )


# --- Breach warnings (public schema: one query on the staff index) --------------------------

WARN_HORIZON_DAYS = 14


def sla_warnings_send(*, now: datetime | None = None) -> int:
    """E-mail staff once per due time when an appeal's clock is due soon, and once when it is
    breached. Reads the staff index only, so the cost does not grow with the number of clients."""
    from datetime import timedelta

    from django.core.mail import send_mail

    now = now or timezone.now()
    horizon = int((now + timedelta(days=WARN_HORIZON_DAYS)).timestamp())
    items = list(
        WorkItem.objects.filter(kind=WorkKind.APPEAL, sort_key__lte=horizon)
        .select_related("client")
        .order_by("sort_key", "id")
    )
    agents = None
    sent = 0
    for item in items:
        data = item.data or {}
        due = parse_datetime(data["due_at"]) if data.get("due_at") else None
        warn_at = parse_datetime(data["warn_at"]) if data.get("warn_at") else None
        if due is None:
            continue
        if due <= now and data.get("breached_for") != item.sort_key:
            marker, what = "breached_for", "is past its SLA"
        elif warn_at and warn_at <= now < due and data.get("warned_for") != item.sort_key:
            marker, what = "warned_for", f"is due by {sla.local_time_text(due)}"
        else:
            continue
        if data.get("assignee"):
            recipients = [data["assignee"]]
        else:
            if agents is None:
                agents = list(
                    User.objects.filter(
                        is_active=True, is_staff=True, staff_role=StaffRole.APPEALS_AGENT
                    ).values_list("email", flat=True)
                )
            recipients = agents
        clock = "first response" if data.get("clock") == "first_response" else "resolution"
        if recipients:
            send_mail(
                subject=f"[{item.client.name}] {item.title}: {clock} {what}",
                message=f"The {clock} clock of {item.title} ({item.client.name}) {what}.\n\n"
                f"https://{settings.PORTAL_DOMAIN}/staff/appeals/{item.client.slug}/"
                f"{item.object_id}/",
                from_email=None,
                recipient_list=recipients,
            )
            sent += 1
        _work_item_mark(item=item, marker=marker)
    return sent


def _work_item_mark(*, item: WorkItem, marker: str) -> None:
    """Note a sent warning on the index row as it is now (the appeal may have changed while the
    e-mail went out: its newer data stays); a row whose due time moved is left to warn again."""
    with transaction.atomic():
        fresh = WorkItem.objects.select_for_update().filter(pk=item.pk).first()
        if fresh is None or fresh.sort_key != item.sort_key:
            return
        fresh.data = {**fresh.data, marker: item.sort_key}
        fresh.save(update_fields=["data"])
