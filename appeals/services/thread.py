"""The thread: messages between client and staff, and staff-only internal notes."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from appeals import choices as c
from appeals.models import AppealMessage, AppealTicket
from appeals.services.attachments import attachment_add
from appeals.services.base import (
    AppealInvalid,
    AppealStateError,
    _label,
    _user,
    side_of,
)
from appeals.services.notify import _notice_body, _notify, appeal_event_emit
from appeals.services.work_index import work_item_sync_appeal
from portal.audit.services import audit_record
from tenants.actors import Actor
from tenants.models import Client
from tenants.permissions import Area
from tenants.selectors import current_client

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
    role = Actor.of(actor, client=client).role_for(Area.APPEALS, client=client)
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
        if not internal:  # internal notes never leave the portal
            appeal_event_emit(
                ticket=locked,
                event_type="appeal.message",
                message_id=message.pk,
                side=message.side,
                author=message.author_label,
                body=message.body,
            )
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
