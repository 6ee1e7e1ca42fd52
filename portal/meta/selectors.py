"""What staff see of the webhook pipeline: counts by state, changes grouped by what went wrong,
deliveries, and one delivery with its raw body. Constant queries per page, on indexed columns."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from portal.meta.models import ChangeState, DeliveryState, WebhookChange, WebhookDelivery
from portal.meta.webhooks.contract import handled_fields

# Applied and late changes are the bulk of the table: counted over the last day only.
RECENT = timedelta(hours=24)
PAGE = 100
RAW_BODY_SHOWN = 200_000  # bytes of a raw body shown on the page


@dataclass(frozen=True)
class ChangeFilter:
    state: str = ChangeState.FAILED
    client_id: int | None = None
    field: str = ""
    error: str | None = None  # one group's exact reason

    def queryset(self):
        qs = WebhookChange.objects.filter(state=self.state)
        if self.state in (ChangeState.APPLIED, ChangeState.LATE):
            qs = qs.filter(created_at__gte=timezone.now() - RECENT)
        if self.client_id:
            qs = qs.filter(client_id=self.client_id)
        if self.field:
            qs = qs.filter(field=self.field)
        if self.error is not None:
            qs = qs.filter(error=self.error)
        return qs


def state_counts() -> dict[str, int]:
    since = timezone.now() - RECENT
    recent = Q(state__in=[ChangeState.APPLIED, ChangeState.LATE], created_at__gte=since)
    rows = (
        WebhookChange.objects.filter(recent | ~Q(state__in=[ChangeState.APPLIED, ChangeState.LATE]))
        .values("state")
        .annotate(n=Count("id"))
    )
    counts = dict.fromkeys(ChangeState.values, 0)
    counts.update({row["state"]: row["n"] for row in rows})
    return counts


def change_groups(change_filter: ChangeFilter, limit: int = PAGE) -> list[dict]:
    """Identical rows (same field, client and reason) as one group, most recent first."""
    return list(
        change_filter.queryset()
        .values("field", "client_id", "client__name", "error")
        .annotate(
            count=Count("id"),
            first=Min("created_at"),
            last=Max("created_at"),
            example=Max("id"),
            retrying=Count("id", filter=Q(next_attempt_at__isnull=False)),
        )
        .order_by("-last")[:limit]
    )


def changes_of_group(change_filter: ChangeFilter, limit: int = PAGE) -> list[WebhookChange]:
    return list(
        change_filter.queryset().select_related("client").order_by("-created_at", "-id")[:limit]
    )


def deliveries(state: str, limit: int = PAGE) -> list[WebhookDelivery]:
    return list(
        WebhookDelivery.objects.filter(state=state)
        .defer("body")
        .order_by("-received_at", "-id")[:limit]
    )


def delivery_counts() -> dict[str, int]:
    rows = (
        WebhookDelivery.objects.exclude(state=DeliveryState.PROCESSED)
        .values("state")
        .annotate(n=Count("id"))
    )
    counts = {state: 0 for state in DeliveryState.values if state != DeliveryState.PROCESSED}
    counts.update({row["state"]: row["n"] for row in rows})
    return counts


def delivery_body_text(delivery: WebhookDelivery) -> tuple[str, bool]:
    """The raw body for display (pretty JSON when it parses), and whether it was cut."""
    raw = bytes(delivery.body)
    cut = len(raw) > RAW_BODY_SHOWN
    raw = raw[:RAW_BODY_SHOWN]
    text = raw.decode("utf-8", errors="replace")
    if not cut:
        with contextlib.suppress(ValueError, RecursionError):
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    return text, cut


def field_names() -> list[str]:
    """The fields to filter by: those the portal handles (others are listed as unroutable)."""
    return sorted(handled_fields())
