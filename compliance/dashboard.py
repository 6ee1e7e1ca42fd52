"""The client dashboard's live figures, each read in a fixed number of queries (no query per row,
whatever the number of appeals, contacts or templates): open appeals with the next due time,
consent, templates by state with the paused ones' time left, and Meta's scheduled ban."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from compliance import choices as c
from compliance.models import ConsentEvent, ConsentState, Contact, WhatsAppAccount
from portal.meta import types as meta

OPT_OUT_WINDOW = timedelta(days=7)
APPEALS_SHOWN = 3


def appeals_summary(*, now: datetime | None = None) -> dict:
    """Open appeals (not closed), how many wait on the client, and the nearest due times:
    Meta's appeal deadline for those not yet filed at Meta (two queries)."""
    from appeals import choices as ac
    from appeals.models import AppealTicket

    now = now or timezone.now()
    not_at_meta = [
        ac.Status.DRAFT,
        ac.Status.SUBMITTED,
        ac.Status.IN_STAFF_REVIEW,
        ac.Status.WAITING_ON_CLIENT,
        ac.Status.READY_FOR_META,
    ]
    open_ = AppealTicket.objects.exclude(status=ac.Status.CLOSED)
    figures = open_.aggregate(
        open=Count("pk"),
        waiting_on_you=Count("pk", filter=Q(status=ac.Status.WAITING_ON_CLIENT)),
        drafts=Count("pk", filter=Q(status=ac.Status.DRAFT)),
        next_due=Min("appeal_deadline", filter=Q(status__in=not_at_meta)),
    )
    due = list(
        open_.filter(status__in=not_at_meta)
        .order_by("appeal_deadline", "pk")
        .only("pk", "title", "status", "appeal_deadline")[:APPEALS_SHOWN]
    )
    for ticket in due:
        ticket.due_in = ticket.appeal_deadline - now
        ticket.overdue = ticket.appeal_deadline <= now
    return {**figures, "due": due}


def consent_summary(*, now: datetime | None = None) -> dict:
    """Contacts, opted in per category, and opt-outs recorded in the last 7 days (three
    aggregate queries)."""
    now = now or timezone.now()
    opted_in = ConsentState.objects.filter(status=c.ConsentStatus.OPTED_IN).aggregate(
        **{value: Count("pk", filter=Q(category=value)) for value in c.ConsentCategory.values}
    )
    return {
        "contacts": Contact.objects.count(),
        "opted_in": [(value, label, opted_in[value]) for value, label in c.ConsentCategory.choices],
        "opt_outs_7d": recent_opt_outs(now=now).count(),
    }


def recent_opt_outs(*, now: datetime) -> QuerySet[ConsentEvent]:
    """Opt-outs of the last OPT_OUT_WINDOW, read through `consent_event_opt_out_time` (only
    opt-outs are in it), so the count stays small however long the consent history grows."""
    return ConsentEvent.objects.filter(
        kind=c.ConsentKind.OPT_OUT, occurred_at__gte=now - OPT_OUT_WINDOW
    )


@dataclass(frozen=True)
class BanCountdown:
    account: WhatsAppAccount
    on: datetime | None  # Meta's date, when we can read it
    left: timedelta | None
    as_written: str


BAN_DATE_FORMATS = ("%B %d, %Y", "%b %d, %Y", "%Y-%m-%d", "%d %B %Y", "%Y-%m-%dT%H:%M:%S%z")


def ban_date_parse(text: str) -> datetime | None:
    """Meta's `waba_ban_date` is free text ("April 17, 2025"); a unix time or an ISO date also
    appear. None when it cannot be read (the page then shows it as written)."""
    text = (text or "").strip()
    if not text:
        return None
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    for fmt in BAN_DATE_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def bans_scheduled(*, now: datetime | None = None) -> list[BanCountdown]:
    """WABAs Meta scheduled for disabling, with the time left to Meta's date (one query)."""
    now = now or timezone.now()
    countdowns = []
    for account in WhatsAppAccount.objects.filter(
        ban_state=meta.BanState.SCHEDULED_FOR_DISABLE
    ).order_by("pk"):
        on = ban_date_parse(account.ban_date)
        countdowns.append(
            BanCountdown(
                account=account,
                on=on,
                left=max(on - now, timedelta(0)) if on else None,
                as_written=account.ban_date,
            )
        )
    return countdowns
