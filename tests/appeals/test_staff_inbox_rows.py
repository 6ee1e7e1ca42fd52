"""The staff appeals inbox's rows written in Python (`appeals.staff_rows`) are the markup the
template loop they replace wrote, byte for byte, for rows in every SLA state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.template import engines

from appeals.staff_rows import inbox_rows_html
from tenants.models import Client, WorkItem

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

# The inbox's `{% for %}` body before it moved to Python (appeals/staff_inbox.html).
OLD_LOOP = """{% load appeals %}{% for item in items %}
  <tr>
    <td>{{ item.client.name }}</td>
    <td><a href="{{ item.detail_url }}"><strong>{{ item.title }}</strong></a><br><span class="muted">{{ item.subtitle }}</span></td>
    <td><span class="badge">{{ item.status|status_label }}</span></td><td>{{ item.band|priority_label }}</td>
    <td>{% with state=item|inbox_state %}<span class="badge sla-{{ state }}">{{ state|clock_label }}</span> {{ item|inbox_due }}{% endwith %}</td>
    <td>{{ item.data.assignee|default:"—" }}</td>
  </tr>
  {% endfor %}"""  # noqa: E501


def _at(hours: float) -> str:
    return (NOW + timedelta(hours=hours)).isoformat()


ROWS = [
    ({"due_at": _at(-1), "clock": "first_response", "assignee": "ana@bsp.example"}, "submitted"),
    ({"due_at": _at(5), "warn_at": _at(-1), "clock": "resolution"}, "in_staff_review"),
    ({"due_at": _at(30), "warn_at": _at(20), "assignee": None}, "ready_to_submit"),
    ({"outcome": "approved"}, "closed"),
    ({"assignee": "<b>&'bob'</b>"}, "waiting_on_client"),
    ({}, "some_new_status"),
]


def _items() -> list[WorkItem]:
    items = []
    for n, (data, status) in enumerate(ROWS):
        item = WorkItem(
            client=Client(name=f"Client <{n}> & co", slug=f"client-{n}"),
            object_id=str(n),
            title=f'AP-{n} Messaging block "{n}"',
            subtitle="WABA 3000 & <more>",
            status=status,
            band=["urgent", "high", "normal", "low", "", "odd<band>"][n],
            data=data,
        )
        item.detail_url = f"/staff/appeals/client-{n}/{n}/"
        items.append(item)
    return items


@time_machine.travel(NOW, tick=False)
def test_inbox_rows_are_the_template_loops_markup():
    items = _items()

    new = str(inbox_rows_html(items))

    assert new == engines["django"].from_string(OLD_LOOP).render({"items": items})
    for state in ("breached", "due_soon", "ok", "paused", "stopped"):
        assert f"sla-{state}" in new


def test_no_rows_is_no_markup():
    assert inbox_rows_html([]) == ""


@pytest.fixture(autouse=True)
def _no_database(django_db_blocker):
    """Rows are written from values: no query."""
    with django_db_blocker.block():
        yield
