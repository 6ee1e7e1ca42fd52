"""The staff lists' rows written in Python (`tenants.staff_rows`) are the markup the template
loops they replace wrote, byte for byte, for rows of every shape: escaping, missing keys,
None, empty values, a non-list `reasons`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.template import engines

from tenants.models import Client, WorkItem
from tenants.staff_rows import console_rows_html, fleet_rows_html

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

# Fleet health's `{% for %}` body before it moved to Python (tenants/staff_fleet.html).
FLEET_LOOP = """{% for item in items %}{% with d=item.data %}{# the row's data, looked up once #}
  <tr role="row">
    <td role="cell" data-label="Client"><span>{{ item.client.name }}<br><span class="muted">{{ d.waba_id|default:"" }}</span></span></td>
    <td role="cell" data-label="Number"><span><a href="{{ item.enter_url }}?next=/numbers/{{ item.object_id|urlencode }}/"><strong>{{ item.title }}</strong></a><br><span class="muted">{{ item.subtitle }}</span></span></td>
    <td role="cell" data-label="Status"><span><span class="badge status-{{ item.status }}">{{ item.status }}</span></span></td>
    <td role="cell" data-label="Quality"><span><span class="badge quality-{{ d.quality }}">{{ d.quality }}</span></span></td>
    <td role="cell" data-label="Limit"><span>{{ d.messaging_limit|default:"—" }}</span></td>{# slot: portfolio usage cell #}
    <td role="cell" data-label="Health" class="num"><span><span class="score band-{{ item.band }}">{{ item.sort_key }}</span></span></td>
    <td role="cell" data-label="Verification"><span>{{ d.verification|default:"—" }}</span></td>
    <td role="cell" data-label="Ban state"><span>{% if d.ban_state and d.ban_state != "none" %}<span class="badge">{{ d.ban_state }}</span>{% else %}{{ d.ban_state|default:"—" }}{% endif %}</span></td>
    <td role="cell" data-label="Last confirmed"><span>{% if item.last_confirmed %}<time datetime="{{ item.last_confirmed|date:'c' }}">{{ item.last_confirmed|timesince }} ago</time>{% else %}—{% endif %}</span></td>
    <td role="cell" data-label="Why" class="muted"><span>{{ d.reasons|join:" " }}</span></td>
  </tr>
  {% endwith %}{% endfor %}"""  # noqa: E501


# The staff console's `{% for %}` body before it moved to Python (partials/client_rows.html).
CONSOLE_LOOP = """{% for client in clients %}
<tr>
  <td><strong>{{ client.name }}</strong></td>
  <td><code>{{ client.slug }}</code></td>
  <td><span class="badge {{ client.status }}">{{ client.status_label }}</span></td>
  <td class="num">{{ client.member_count }}</td>
  <td class="num">{% if client.storage_bytes is not None %}{{ client.storage_bytes|filesizeformat }}{% else %}—{% endif %}</td>
  <td>{{ client.created_at|date:"Y-m-d" }}</td>
  <td><a href="{{ client.enter_url }}">Enter</a> · <a href="{{ client.link_waba_url }}">Link WABA</a></td>
</tr>
{% endfor %}"""  # noqa: E501


def _loop(source: str, **context) -> str:
    return engines["django"].from_string(source).render(context)


def _number(n: int, data: dict, **fields) -> WorkItem:
    client = Client(name=fields.pop("client_name", f"Client {n}"), slug=f"client-{n}")
    item = WorkItem(
        client=client,
        object_id=fields.pop("object_id", str(n)),
        title=fields.pop("title", f"+1 555-01{n:02d}"),
        subtitle=fields.pop("subtitle", f"Line {n}"),
        status=fields.pop("status", "connected"),
        band=fields.pop("band", "watch"),
        sort_key=fields.pop("sort_key", 40 + n),
        data=data,
    )
    item.enter_url = f"/auth/switch/client-{n}/"
    item.last_confirmed = fields.pop("last_confirmed", None)
    return item


FLEET_ROWS = [
    {
        "quality": "high",
        "messaging_limit": "tier_10k",
        "reasons": ["quality_low", "limit<drop>"],
        "waba_id": "3000000000",
        "verification": "verified",
        "ban_state": "none",
    },
    {"quality": None, "messaging_limit": None, "reasons": None, "waba_id": None, "ban_state": None},
    {},  # every key missing
    {"quality": "low", "messaging_limit": "", "reasons": [], "ban_state": "scheduled & <soon>"},
    {"quality": 'me"d', "reasons": "abc", "verification": "", "ban_state": "banned"},
    {"quality": "high", "reasons": [1, None, "x&y"], "messaging_limit": 250},
]


@time_machine.travel(NOW, tick=False)
def test_fleet_rows_are_the_template_loops_markup():
    items = [_number(n, data) for n, data in enumerate(FLEET_ROWS)]
    items.append(
        _number(
            9,
            {"quality": "medium"},
            client_name="<Acme & 'Sons'>",
            title='"+1" <555>',
            subtitle="Support & sales",
            object_id="12 3/4?x=&",
            status="FLAGGED<",
            band="at_risk",
            sort_key=-7,
            last_confirmed=NOW - timedelta(days=2, hours=3),
        )
    )
    items.append(_number(10, {"quality": "high"}, last_confirmed=NOW - timedelta(seconds=5)))
    items.append(_number(11, {}, last_confirmed=NOW - timedelta(days=2, hours=3)))  # as 9's

    assert str(fleet_rows_html(items)) == _loop(FLEET_LOOP, items=items)


def test_no_rows_is_no_markup():
    assert fleet_rows_html([]) == "" == _loop(FLEET_LOOP, items=[])


def test_console_rows_are_the_template_loops_markup(settings):
    settings.TIME_ZONE = "Europe/Berlin"  # the creation day is the local one, as in the loop
    clients = []
    for n, size in enumerate([None, 0, 1023, 5 * 1024**2 + 1, 3 * 1024**4]):
        client = Client(
            name=f"<Acme> & 'Sons' {n}",
            slug=f"acme-{n}",
            status=["active", "suspended", "odd<status>", "active", "active"][n],
            storage_bytes=size,
            created_at=datetime(2026, 3, 28, 23, 30, tzinfo=UTC) + timedelta(days=n),
        )
        client.member_count = n * 3
        client.status_label = f"Label <{n}>"
        client.enter_url = f"/auth/switch/acme-{n}/"
        client.link_waba_url = f"/staff/clients/acme-{n}/link-waba/"
        clients.append(client)

    new = str(console_rows_html(clients))

    assert new == _loop(CONSOLE_LOOP, clients=clients)
    assert "2026-03-29" in new  # 23:30 UTC is the next day in Berlin


@pytest.fixture(autouse=True)
def _no_database(django_db_blocker):
    """Rows are written from values: no query."""
    with django_db_blocker.block():
        yield
