"""The client dashboard's live figures, each read in a fixed number of queries (no query per row,
whatever the number of appeals, contacts or templates): open appeals with the next due time,
consent, templates by state with the paused ones' time left, and Meta's scheduled ban."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from appeals import choices as ac
from compliance import choices as c
from compliance.models import ConsentEvent, ConsentState, Contact, WhatsAppAccount
from portal.meta import types as meta

OPT_OUT_WINDOW = timedelta(days=7)
APPEALS_SHOWN = 3


# The appeals not yet filed at Meta: Meta's appeal deadline is what falls due for them.
NOT_AT_META = (
    ac.Status.DRAFT,
    ac.Status.SUBMITTED,
    ac.Status.IN_STAFF_REVIEW,
    ac.Status.WAITING_ON_CLIENT,
    ac.Status.READY_FOR_META,
)


def _sql(queryset: QuerySet) -> tuple[str, tuple]:
    return queryset.order_by().query.sql_with_params()


def _open_appeals() -> QuerySet:
    from appeals.models import AppealTicket

    return AppealTicket.objects.exclude(status=ac.Status.CLOSED)


def live_figures(*, now: datetime | None = None) -> dict:
    """Open appeals (how many wait on the client, drafts, the nearest due time and the appeals
    due next) and consent (contacts, opted in per category, opt-outs in the last 7 days), in two
    queries: every count in one statement, each over its own queryset as a subquery (so each
    keeps its plan and its index), then the few appeals due next."""
    now = now or timezone.now()
    categories = c.ConsentCategory.values
    contacts_sql, contacts_params = _sql(Contact.objects.values("pk"))
    opt_outs_sql, opt_outs_params = _sql(recent_opt_outs(now=now).values("pk"))
    states_sql, states_params = _sql(
        ConsentState.objects.filter(status=c.ConsentStatus.OPTED_IN).values("category")
    )
    appeals_sql, appeals_params = _sql(_open_appeals().values("status", "appeal_deadline"))
    per_category = ", ".join("count(*) FILTER (WHERE s.category = %s)" for _ in categories)
    # The subqueries are the ORM's own SQL, with their values as parameters.
    sql = (
        f"SELECT (SELECT count(*) FROM ({contacts_sql}) n), "  # noqa: S608
        f"(SELECT count(*) FROM ({opt_outs_sql}) o), "
        f"(SELECT ARRAY[{per_category}] FROM ({states_sql}) s), "
        "count(*), count(*) FILTER (WHERE a.status = %s), count(*) FILTER (WHERE a.status = %s), "
        f"min(a.appeal_deadline) FILTER (WHERE a.status = ANY(%s)) FROM ({appeals_sql}) a"
    )
    params = (
        *contacts_params,
        *opt_outs_params,
        *categories,
        *states_params,
        ac.Status.WAITING_ON_CLIENT,
        ac.Status.DRAFT,
        [str(status) for status in NOT_AT_META],
        *appeals_params,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        contacts, opt_outs, opted_in, open_, waiting, drafts, next_due = cursor.fetchone()
    return {
        "appeals": {
            "open": open_,
            "waiting_on_you": waiting,
            "drafts": drafts,
            "next_due": next_due,
            "due": appeals_due(now=now),
        },
        "consent": {
            "contacts": contacts,
            "opted_in": [
                (value, label, count)
                for (value, label), count in zip(c.ConsentCategory.choices, opted_in, strict=True)
            ],
            "opt_outs_7d": opt_outs,
        },
    }


def appeals_due(*, now: datetime) -> list:
    """The APPEALS_SHOWN open appeals not yet filed at Meta with the nearest appeal deadline,
    each with its time left (`due_in`) or `overdue`."""
    due = list(
        _open_appeals()
        .filter(status__in=NOT_AT_META)
        .order_by("appeal_deadline", "pk")
        .only("pk", "title", "status", "appeal_deadline")[:APPEALS_SHOWN]
    )
    for ticket in due:
        ticket.due_in = ticket.appeal_deadline - now
        ticket.overdue = ticket.appeal_deadline <= now
    return due


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


def accounts_of_note(*, now: datetime | None = None) -> tuple[list[BanCountdown], list]:
    """The WABAs the dashboard warns about, in one query: those Meta scheduled for disabling
    (by id, each with the time left to Meta's date) and those the portal does not work now
    (not active; in the accounts' order)."""
    now = now or timezone.now()
    accounts = list(
        WhatsAppAccount.objects.filter(
            Q(ban_state=meta.BanState.SCHEDULED_FOR_DISABLE)
            | ~Q(connection_state=c.ConnectionState.ACTIVE)
        )
    )
    countdowns = []
    for account in sorted(accounts, key=lambda a: a.pk):
        if account.ban_state != meta.BanState.SCHEDULED_FOR_DISABLE:
            continue
        on = ban_date_parse(account.ban_date)
        countdowns.append(
            BanCountdown(
                account=account,
                on=on,
                left=max(on - now, timedelta(0)) if on else None,
                as_written=account.ban_date,
            )
        )
    return countdowns, [a for a in accounts if a.connection_state != c.ConnectionState.ACTIVE]
