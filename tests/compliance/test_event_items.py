"""The number page's timeline items, written by the view (`_event_items`), are the markup the
item template wrote: side by side for events with and without detail, of each source, with
values that need escaping."""

from __future__ import annotations

from datetime import timedelta

from django.template import Context, Template
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance import choices as c
from compliance.models import HealthEvent
from compliance.selectors import events_for_number
from compliance.views import _event_items

# The loop body as the number page had it, before the items were written by the view.
ITEM_TEMPLATE = """{% for event in events %}
    <li class="sev-{{ event.severity }}">
      <time datetime="{{ event.occurred_at|date:'c' }}">{{ event.occurred_at|date:"Y-m-d H:i" }}</time>
      <strong>{{ event.title }}</strong> <span class="badge">{{ event.get_source_display }}</span>
      {% if event.detail %}<p class="muted">{{ event.detail }}</p>{% endif %}
    </li>
    {% endfor %}"""  # noqa: E501


def test_each_item_is_what_the_item_template_wrote(acme, acme_number, web, acme_owner):
    now = timezone.now()
    with schema_context(acme.schema_name):
        for n, source in enumerate(c.EventSource.values):
            HealthEvent.objects.create(
                kind=c.EventKind.QUALITY_DROP, severity=c.Severity.WARNING,
                title=f"Quality <dropped> & \"{n}\"", detail="" if n % 2 else "Seen <b>'x'</b>",
                source=source, occurred_at=now - timedelta(hours=n, microseconds=n),
                account=acme_number.account, number=acme_number, dedupe_key=f"k{n}",
            )  # fmt: skip
        events = list(events_for_number(number=acme_number))
        old = Template(ITEM_TEMPLATE).render(Context({"events": events}))
        _event_items(events)
    assert "".join(event.html for event in events) == old
    assert "Quality &lt;dropped&gt; &amp; &quot;0&quot;" in old

    page = web(acme, acme_owner).get(f"/numbers/{acme_number.pk}/").content.decode()
    assert events[0].html in page
