"""Staff's SLA clocks of an appeal, its row in the public staff work index (written in the
same transaction as the appeal) and the breach warnings read from that index."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_tenants.utils import get_public_schema_name, schema_context

from appeals import choices as c
from appeals import sla
from appeals.models import AppealTicket
from tenants.models import Client, User, WorkItem, WorkKind
from tenants.services import work_items_upsert

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
    work_items_upsert([item])


# --- Breach warnings (public schema: one query on the staff index) --------------------------

WARN_HORIZON_DAYS = 14


def sla_warnings_send(*, now: datetime | None = None) -> int:
    """E-mail staff once per due time when an appeal's clock is due soon, and once when it is
    breached. Reads the staff index only, so the cost does not grow with the number of clients."""

    from integrations import notify

    now = now or timezone.now()
    horizon = int((now + timedelta(days=WARN_HORIZON_DAYS)).timestamp())
    items = list(
        WorkItem.objects.filter(kind=WorkKind.APPEAL, sort_key__lte=horizon)
        .select_related("client")
        .order_by("sort_key", "id")
    )
    # Assignees who have left get nothing; their appeals' warnings go to the appeals agents.
    assignees = {(i.data or {}).get("assignee") for i in items} - {None, ""}
    active = set(
        User.objects.filter(is_active=True, is_staff=True, email__in=assignees).values_list(
            "email", flat=True
        )
        if assignees
        else []
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
        if data.get("assignee") in active:
            recipients = [data["assignee"]]
        else:
            if agents is None:  # the one rule: appeals agents when nobody active is assigned
                agents = notify.notification_recipients(
                    audience=notify.APPEALS_STAFF, event_type="appeal.sla_warning"
                )
            recipients = agents
        clock = "first response" if data.get("clock") == "first_response" else "resolution"
        # Queued in the public schema's outbox with its marker, or neither.
        with schema_context(get_public_schema_name()), transaction.atomic():
            if recipients:
                notify.email_queue(
                    recipients=recipients,
                    subject=f"[{item.client.name}] {item.title}: {clock} {what}",
                    body=f"The {clock} clock of {item.title} ({item.client.name}) {what}.\n\n"
                    f"https://{settings.PORTAL_DOMAIN}/staff/appeals/{item.client.slug}/"
                    f"{item.object_id}/",
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
