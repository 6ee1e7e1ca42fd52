from django import template

from appeals import choices as c
from appeals.sla import format_business_duration, local_time_text

register = template.Library()

LABELS = {
    "ok": "On time",
    "due_soon": "Due soon",
    "breached": "Breached",
    "paused": "Paused",
    "met": "Met",
    "missed": "Missed",
    "stopped": "Clock stopped",
}


@register.filter
def clock_state(clock, warn_at) -> str:
    return clock.state(warn_at_percent=int(warn_at)) if clock else ""


@register.filter
def clock_label(state: str) -> str:
    return LABELS.get(state, state)


# Plain dicts: the inbox renders these per row.
STATUS_LABELS = dict(c.Status.choices)
PRIORITY_LABELS = dict(c.Priority.choices)


@register.filter
def status_label(value: str) -> str:
    """A staff index row's status value as people read it ('in_staff_review' → 'In staff
    review')."""
    return STATUS_LABELS.get(value, value)


@register.filter
def priority_label(value: str) -> str:
    return PRIORITY_LABELS.get(value, value)


@register.filter
def business_duration(seconds) -> str:
    return format_business_duration(int(seconds or 0))


@register.filter
def business_time(moment) -> str:
    """A due time in the business-hours time zone, with the zone named."""
    return local_time_text(moment) if moment else ""


APPEALABLE_EVENTS = frozenset(
    {
        "restriction",
        "violation",
        "ban_scheduled",
        "banned",
        "flagged",
        "template_paused",
        "template_disabled",
        "template_rejected",
    }
)


@register.filter
def appealable(event) -> bool:
    """An enforcement event a client may appeal (the dashboard's alerts link to the form)."""
    return getattr(event, "kind", "") in APPEALABLE_EVENTS


@register.filter
def inbox_state(item) -> str:
    """A staff index row's SLA state now: breached, due_soon, ok, paused (waiting on the client
    or on Meta) or stopped (Meta's outcome is recorded)."""
    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    data = item.data or {}
    if not data.get("due_at"):
        return "stopped" if data.get("outcome") else "paused"
    now = timezone.now()
    if parse_datetime(data["due_at"]) <= now:
        return "breached"
    if data.get("warn_at") and parse_datetime(data["warn_at"]) <= now:
        return "due_soon"
    return "ok"


@register.filter
def inbox_due(item) -> str:
    """'first response by 2026-11-25 14:00 Europe/Berlin', or '' when no clock runs."""
    from django.utils.dateparse import parse_datetime

    data = item.data or {}
    if not data.get("due_at"):
        return ""
    clock = "first response" if data.get("clock") == "first_response" else "resolution"
    return f"{clock} by {local_time_text(parse_datetime(data['due_at']))}"
