"""Opening an appeal (from an enforcement event or from scratch), its guided answers, triage
(assignee and priority) and ticking off the recovery plan."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from appeals import choices as c
from appeals.models import APPEAL_WINDOW, AppealTicket, RecoveryItem
from appeals.services.base import AppealInvalid, AppealStateError, _user
from appeals.services.work_index import work_item_sync_appeal
from compliance.choices import EventKind
from compliance.models import HealthEvent, PhoneNumber, WhatsAppAccount
from portal.audit.services import audit_record
from portal.meta import types as meta
from tenants.actors import Actor
from tenants.models import Client, User
from tenants.permissions import Area
from tenants.selectors import current_client

# --- Opening an appeal --------------------------------------------------------------------

_TEMPLATE_RESTRICTIONS = {
    meta.RestrictionType.BUSINESS_INITIATED_MESSAGING,
    meta.RestrictionType.UTILITY_TEMPLATES,
    meta.RestrictionType.DIRECT_SEND_UTILITY_TEMPLATES,
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
        # The event keeps Meta's token as sent (any case): read it through the Meta enum.
        restriction = meta.RestrictionType.from_meta(data.get("restriction_type"))
        if ends_at is None:
            block = c.BlockType.LOCKED
        elif restriction in _TEMPLATE_RESTRICTIONS:
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
    role = Actor.of(actor, client=client).role_for(Area.APPEALS, client=client)
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
    if (
        Actor.of(actor, client=client).role_for(Area.APPEALS, client=client)
        not in c.CLIENT_OPERATORS
    ):
        raise PermissionDenied("Your role does not allow editing this appeal.")
    unknown = set(changes) - set(ANSWER_FIELDS)
    if unknown:
        raise AppealInvalid(dict.fromkeys(unknown, "This field cannot be changed here."))
    if "priority" in changes and changes["priority"] not in c.Priority.values:
        raise AppealInvalid({"priority": "Choose a priority."})
    with transaction.atomic():
        locked = AppealTicket.objects.select_for_update().get(pk=ticket.pk)
        if locked.status not in c.EDITABLE:
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
    if Actor.of(actor, client=client).role_for(Area.APPEALS, client=client) not in c.APPEAL_STAFF:
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


def recovery_item_set_done(
    *, item: RecoveryItem, actor: Any, done: bool, client: Client | None = None
) -> RecoveryItem:
    client = client or current_client()
    if (
        Actor.of(actor, client=client).role_for(Area.APPEALS, client=client)
        not in c.CLIENT_OPERATORS | c.APPEAL_STAFF
    ):
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
