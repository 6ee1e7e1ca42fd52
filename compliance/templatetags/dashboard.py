"""Dashboard helpers: a time span in plain words."""

from __future__ import annotations

from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def span(value: timedelta | None) -> str:
    """`2 d 3 h`, `3 h 20 min`, `12 min`; '' for None, `0 min` for a span that is over."""
    if value is None:
        return ""
    minutes = max(int(value.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"
