from django import template

from appeals.sla import format_business_duration

register = template.Library()

LABELS = {
    "ok": "On time",
    "due_soon": "Due soon",
    "breached": "Breached",
    "paused": "Paused",
    "met": "Met",
    "missed": "Missed",
}


@register.filter
def clock_state(clock, warn_at) -> str:
    return clock.state(warn_at_percent=int(warn_at)) if clock else ""


@register.filter
def clock_label(state: str) -> str:
    return LABELS.get(state, state)


@register.filter
def business_duration(seconds) -> str:
    return format_business_duration(int(seconds or 0))


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
