"""The evidence bundle: one ZIP (an HTML summary and CSV tables) built from our own records for
Meta's review of an appeal. It holds no part of the thread, so no internal note can leak."""

from __future__ import annotations

import csv
import io
import statistics
import zipfile
from datetime import datetime, timedelta

from django.db.models import Count, F, Q
from django.template.loader import render_to_string

from appeals.models import AppealTicket
from compliance.choices import ConsentKind
from compliance.exports import csv_safe
from compliance.models import ConsentEvent, HealthEvent, HealthSnapshot
from portal.db import replica_for_reads
from tenants.models import Client

# The timeline reaches this far back before the enforcement.
LOOKBACK = timedelta(days=90)
MAX_CONSENT_ROWS = 10_000


def _masked(phone: str | None) -> str:
    """Phone numbers leave us masked: the reviewer needs the evidence, not the person. A contact
    known only by its WhatsApp user id (BSUID) has no phone to show."""
    if not phone:
        return "(no phone: WhatsApp user id only)"
    return f"{phone[:3]}…{phone[-4:]}" if len(phone) > 7 else "…"


def _csv(header: list[str], rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    # Text from people and from Meta is made inert for spreadsheets; numbers stay numbers.
    writer.writerows([csv_safe(v) if isinstance(v, str) else v for v in row] for row in rows)
    return out.getvalue().encode("utf-8")


def consent_figures(*, since: datetime, until: datetime, using: str = "default") -> dict:
    """Opt-ins per source and category, opt-outs per source, and how fast opt-outs were
    recorded after the person asked (seconds from `occurred_at` to `recorded_at`)."""
    events = ConsentEvent.objects.using(using).filter(
        occurred_at__gte=since, occurred_at__lte=until
    )
    by_source = list(
        events.values("kind", "source", "category")
        .annotate(n=Count("id"))
        .order_by("kind", "source", "category")
    )
    delays = [
        max(0.0, (recorded - occurred).total_seconds())
        for occurred, recorded in events.filter(kind=ConsentKind.OPT_OUT).values_list(
            "occurred_at", "recorded_at"
        )[:MAX_CONSENT_ROWS]
    ]
    return {
        "by_source": by_source,
        "opt_ins": sum(r["n"] for r in by_source if r["kind"] == ConsentKind.OPT_IN),
        "opt_outs": sum(r["n"] for r in by_source if r["kind"] == ConsentKind.OPT_OUT),
        "opt_out_median_seconds": int(statistics.median(delays)) if delays else None,
        "opt_out_max_seconds": int(max(delays)) if delays else None,
        "opt_outs_with_evidence": events.filter(kind=ConsentKind.OPT_OUT)
        .exclude(wording="", channel="", page_url="")
        .count(),
    }


def _templates(ticket: AppealTicket, using: str):
    from templates_review.models import MessageTemplate

    if ticket.template_id:
        qs = MessageTemplate.objects.using(using).filter(pk=ticket.template_id)
    else:
        qs = MessageTemplate.objects.using(using).filter(account_id=ticket.account_id)
    return list(qs.prefetch_related("history").order_by("name", "language")[:200])


def _timeline(ticket: AppealTicket, since: datetime, using: str):
    events = HealthEvent.objects.using(using).filter(occurred_at__gte=since)
    if ticket.number_id:
        events = events.filter(
            Q(number_id=ticket.number_id) | Q(account_id=ticket.account_id, number__isnull=True)
        )
    else:
        events = events.filter(account_id=ticket.account_id)
    snapshots = HealthSnapshot.objects.using(using).filter(taken_at__gte=since)
    snapshots = (
        snapshots.filter(number_id=ticket.number_id)
        if ticket.number_id
        else snapshots.filter(number__account_id=ticket.account_id)
    )
    return (
        list(events.select_related("number").order_by("occurred_at", "id")[:2000]),
        list(
            snapshots.annotate(phone=F("number__display_phone_number")).order_by("taken_at")[:5000]
        ),
    )


def evidence_bundle_build(*, ticket: AppealTicket, client: Client, now: datetime) -> bytes:
    since = ticket.blocked_at - LOOKBACK
    db = replica_for_reads()  # our records up to a few seconds ago (portal/db.py)
    figures = consent_figures(since=since, until=now, using=db)
    templates = _templates(ticket, db)
    events, snapshots = _timeline(ticket, since, db)
    consent_rows = ConsentEvent.objects.using(db).filter(
        occurred_at__gte=since, occurred_at__lte=now
    )
    consent_rows = consent_rows.select_related("contact").order_by("occurred_at", "id")[
        :MAX_CONSENT_ROWS
    ]
    html = render_to_string(
        "appeals/evidence/index.html",
        {
            "ticket": ticket,
            "client": client,
            "now": now,
            "since": since,
            "figures": figures,
            "templates": templates,
            "events": events,
        },
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("index.html", html)
        bundle.writestr(
            "consent_summary.csv",
            _csv(
                ["kind", "source", "category", "count"],
                [(r["kind"], r["source"], r["category"], r["n"]) for r in figures["by_source"]],
            ),
        )
        bundle.writestr(
            "consent_events.csv",
            _csv(
                [
                    "occurred_at",
                    "recorded_at",
                    "contact",
                    "kind",
                    "category",
                    "source",
                    "wording_version",
                    "channel",
                    "page_url",
                ],
                [
                    (
                        e.occurred_at.isoformat(),
                        e.recorded_at.isoformat(),
                        _masked(e.contact.phone),
                        e.kind,
                        e.category,
                        e.source,
                        e.wording_version,
                        e.channel,
                        e.page_url,
                    )
                    for e in consent_rows
                ],
            ),
        )
        bundle.writestr(
            "templates.csv",
            _csv(
                ["name", "language", "category", "meta_status", "quality", "pause_count"],
                [
                    (t.name, t.language, t.category, t.meta_status, t.quality, t.pause_count)
                    for t in templates
                ],
            ),
        )
        bundle.writestr(
            "template_history.csv",
            _csv(
                [
                    "template",
                    "language",
                    "occurred_at",
                    "meta_status",
                    "quality",
                    "category",
                    "reason",
                ],
                [
                    (
                        t.name,
                        t.language,
                        h.occurred_at.isoformat(),
                        h.meta_status,
                        h.quality,
                        h.category,
                        h.reason,
                    )
                    for t in templates
                    for h in sorted(t.history.all(), key=lambda h: (h.occurred_at, h.pk))
                ],
            ),
        )
        bundle.writestr(
            "health_timeline.csv",
            _csv(
                ["occurred_at", "kind", "severity", "number", "title", "detail"],
                [
                    (
                        e.occurred_at.isoformat(),
                        e.kind,
                        e.severity,
                        e.number.display_phone_number if e.number_id else "",
                        e.title,
                        e.detail,
                    )
                    for e in events
                ],
            ),
        )
        bundle.writestr(
            "health_snapshots.csv",
            _csv(
                ["taken_at", "number", "status", "quality", "messaging_limit", "score", "band"],
                [
                    (
                        s.taken_at.isoformat(),
                        s.phone,
                        s.status,
                        s.quality,
                        s.messaging_limit,
                        s.score,
                        s.band,
                    )
                    for s in snapshots
                ],
            ),
        )
    return buffer.getvalue()
