"""The dashboard's alert items, written by the `alert_items` tag, are the markup the item
template wrote: side by side for appealable and other events, with and without detail, for
someone who may operate and someone who may not, with values that need escaping."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance import choices as c
from compliance.models import Alert, HealthEvent
from compliance.selectors import alerts_open

# The loop as the dashboard had it, before the items were written by the tag.
ITEM_TEMPLATE = """{% load appeals %}    {% for alert in alerts %}
    <li class="alert-item sev-{{ alert.event.severity }}" id="alert-{{ alert.pk }}">
      <div>
        <strong>{{ alert.event.title }}</strong>
        <span class="muted">{{ alert.event.occurred_at|date:"Y-m-d H:i" }}</span>
        {% if alert.event.detail %}<p class="muted">{{ alert.event.detail }}</p>{% endif %}
      </div>
      {% if can_operate and alert.event|appealable %}<a class="button small" href="{% url 'appeal-open' %}?event={{ alert.event.pk }}">Open an appeal</a>{% endif %}
      {% if can_operate %}
      <form method="post" action="{% url 'alert-acknowledge' alert.pk %}" hx-post="{% url 'alert-acknowledge' alert.pk %}" hx-target="#alert-{{ alert.pk }}" hx-swap="outerHTML">
        {% csrf_token %}<button class="small">Acknowledge</button>
      </form>
      {% endif %}
    </li>
    {% endfor %}"""  # noqa: E501


@pytest.mark.parametrize("can_operate", [True, False])
def test_each_item_is_what_the_item_template_wrote(acme, acme_number, can_operate):
    kinds = [c.EventKind.FLAGGED, c.EventKind.QUALITY_DROP, c.EventKind.LIMIT_DROP]
    with schema_context(acme.schema_name):
        for n, kind in enumerate(kinds):
            event = HealthEvent.objects.create(
                kind=kind, severity=c.Severity.CRITICAL if n == 0 else c.Severity.WARNING,
                title=f"Number <{n}> & \"flagged\"", detail="" if n == 1 else "Meta's <b>note</b>",
                source=c.EventSource.WEBHOOK, occurred_at=timezone.now(),
                account=acme_number.account, number=acme_number, dedupe_key=f"a{n}",
            )  # fmt: skip
            Alert.objects.create(event=event)
        alerts = list(alerts_open())
        context = {"alerts": alerts, "can_operate": can_operate, "csrf_token": "tok<en>"}
        old = Template(ITEM_TEMPLATE).render(Context(context))
        new = Template("{% load dashboard %}    {% alert_items alerts can_operate %}").render(
            Context(context)
        )
    assert new == old
    assert "Number &lt;0&gt; &amp; &quot;flagged&quot;" in old
    assert ("Open an appeal" in old) is can_operate
    assert ('value="tok&lt;en&gt;"' in old) is can_operate
