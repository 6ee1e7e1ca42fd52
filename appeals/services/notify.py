"""E-mail to the other side of an appeal (after commit; internal notes never reach it)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from appeals import choices as c
from appeals.models import AppealTicket
from appeals.services.base import _label
from integrations import notify
from tenants.models import Client

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
    assignee (if still active), else every appeals agent, and the client's account manager.
    The rule itself is `integrations.notify.notification_recipients`."""
    if side == c.Side.CLIENT:
        return notify.notification_recipients(
            audience=notify.CLIENT_ADMINS,
            client=client,
            event_type="appeal.notice",
            extra_member_ids=[ticket.created_by_id] if ticket.created_by_id else [],
        )
    return notify.notification_recipients(
        audience=notify.APPEALS_STAFF,
        client=client,
        event_type="appeal.notice",
        assignee_id=ticket.assignee_id,
        with_account_manager=True,
    )


def _notify(*, ticket: AppealTicket, client: Client, to_side: str, subject: str, body: str):
    """Queue the notice in the caller's transaction (the e-mail outbox of this schema)."""
    recipients = recipients_for(ticket=ticket, client=client, side=to_side)
    portal = (
        f"https://{client.slug}.{settings.PORTAL_DOMAIN}/appeals/{ticket.pk}/"
        if to_side == c.Side.CLIENT
        else f"https://{settings.PORTAL_DOMAIN}/staff/appeals/{client.slug}/{ticket.pk}/"
    )
    notify.email_queue(
        recipients=recipients, subject=f"[{client.name}] {subject}", body=f"{body}\n\n{portal}"
    )


def appeal_event_emit(*, ticket: AppealTicket, event_type: str, **data: Any) -> None:
    """An appeal's outbound webhook (what the client may see only: never internal notes)."""
    from integrations.events import event_emit

    event_emit(
        event_type=event_type,
        data={
            "appeal_id": ticket.pk,
            "reference": ticket.reference,
            "title": ticket.title,
            "status": ticket.status,
            **data,
        },
    )
