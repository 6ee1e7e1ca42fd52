"""E-mail to the other side of an appeal (after commit; internal notes never reach it)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from appeals import choices as c
from appeals.models import AppealTicket
from appeals.services.base import _label
from tenants.choices import ClientRole, StaffRole
from tenants.models import Client, Membership, User

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
