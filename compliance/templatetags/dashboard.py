"""Dashboard helpers: a time span in plain words, the open alerts' items."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.urls import reverse
from django.utils.safestring import mark_safe

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


@register.simple_tag(takes_context=True)
def alert_items(context, alerts: list, can_operate: bool) -> str:
    """The dashboard's open alerts as list items, written here once an alert instead of by
    the template's tags (three `{% url %}`, a date, a filter and ~15 lookups an alert). The
    markup is what the item template wrote (tests/compliance/test_alert_items.py holds them
    side by side); values are escaped, and the forms carry the page's CSRF token as
    `{% csrf_token %}` did."""
    from appeals.templatetags.appeals import appealable
    from portal.rows import csrf_field, escape, local_date
    from portal.template_urls import url_filler

    acknowledge = url_filler("alert-acknowledge")
    appeal_open = reverse("appeal-open")
    csrf = csrf_field(context.get("csrf_token", ""))
    items = []
    for alert in alerts:
        event = alert.event
        detail = f'<p class="muted">{escape(event.detail)}</p>' if event.detail else ""
        appeal = ack = ""
        if can_operate and appealable(event):
            appeal = (
                f'<a class="button small" href="{escape(appeal_open)}?event={escape(event.pk)}">'
                "Open an appeal</a>"
            )
        if can_operate:
            url = escape(acknowledge(alert.pk))
            ack = (
                f'\n      <form method="post" action="{url}" hx-post="{url}" '
                f'hx-target="#alert-{escape(alert.pk)}" hx-swap="outerHTML">\n'
                f"        {csrf}"
                '<button class="small">Acknowledge</button>\n      </form>\n      '
            )
        at = local_date(event.occurred_at, "Y-m-d H:i")
        items.append(
            f'\n    <li class="alert-item sev-{escape(event.severity)}" '
            f'id="alert-{escape(alert.pk)}">\n      <div>\n'
            f"        <strong>{escape(event.title)}</strong>\n"
            f'        <span class="muted">{at}</span>\n        {detail}\n      </div>\n'
            f"      {appeal}\n      {ack}\n    </li>\n    "
        )
    return mark_safe("".join(items))  # noqa: S308 - every value in it is escaped
