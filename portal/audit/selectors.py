"""Reading the audit trail: a client's own activity, filtered, in plain words, and as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from portal.audit.models import AuditLog

# Plain words for the actions a client sees; others read as the action's own name.
ACTION_LABELS = {
    "client.staff_entry": "BSP staff opened your portal",
    "appeal.staff_opened": "BSP staff opened your appeal",
    "appeal.created": "Appeal opened",
    "api_key.created": "API key created",
    "api_key.rotated": "API key rotated",
    "api_key.revoked": "API key revoked",
    "invitation.created": "Invitation sent",
    "invitation.accepted": "Invitation accepted",
    "invitation.revoked": "Invitation withdrawn",
    "membership.granted": "Member added",
    "membership.role_changed": "Member's role changed",
    "membership.removed": "Member removed",
    "notifications.updated": "Notification settings changed",
    "consent.opt_in": "Opt-in recorded",
    "consent.opt_out": "Opt-out recorded",
    "consent.import_create": "Consent import uploaded",
    "consent.import_finish": "Consent import finished",
    "consent.policy_update": "Messaging policy changed",
    "alert.acknowledged": "Alert acknowledged",
    "client.created": "Client created",
    "client.status_changed": "Client status changed",
    "waba.linked": "WhatsApp account linked",
}
ACTIVITY_EXPORT_LIMIT = 100_000
CSV_COLUMNS = ("at", "actor", "action", "description", "object_type", "object_id", "ip_address")


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action) or action.replace("_", " ").replace(".", ": ").capitalize()


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def client_activity(
    *,
    client,
    actor: str = "",
    action: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[AuditLog]:
    """The client's own audit rows, newest first (index audit_client_at). `actor` matches the
    actor's label (e-mail) in part, `action` the action's code in part; `since`/`until` are
    whole days, both included."""
    qs = AuditLog.objects.filter(client=client)
    if actor:
        qs = qs.filter(actor_label__icontains=actor)
    if action:
        qs = qs.filter(action__icontains=action)
    if since:
        qs = qs.filter(at__gte=_day_start(since))
    if until:
        qs = qs.filter(at__lt=_day_start(until + timedelta(days=1)))
    return qs.order_by("-at", "-id")


def client_actions(*, client) -> list[str]:
    """The distinct actions in the client's trail (for the filter's suggestions)."""
    return sorted(
        AuditLog.objects.filter(client=client).values_list("action", flat=True).distinct()
    )


def activity_csv_lines(rows: QuerySet[AuditLog]) -> Iterator[str]:
    """The rows as CSV, each cell guarded against spreadsheet formulas (as the consent export)."""
    from compliance.exports import csv_safe

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def line(values) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([csv_safe(v) for v in values])
        return buffer.getvalue()

    yield line(CSV_COLUMNS)
    for row in rows[:ACTIVITY_EXPORT_LIMIT].iterator(chunk_size=2000):
        yield line(
            (
                row.at.isoformat(),
                row.actor_label or "system",
                row.action,
                action_label(row.action),
                row.object_type,
                row.object_id,
                row.ip_address or "",
            )
        )
