"""The template review queue's items written in Python around the preview
(`templates_review.staff_rows`) are the markup the template loop they replace wrote, byte for
byte, for items of every shape and for a reviewer, a viewer and a refused decision."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.template import engines

from portal.rows import csrf_field
from templates_review.choices import ReviewReason
from templates_review.diff import diff_html
from templates_review.preview import render_preview
from templates_review.staff_rows import QueueChrome, queue_item_parts
from tenants.models import Client, WorkItem

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TOKEN = "tok<&>" + "x" * 58
QUEUE = (
    Path(__file__).resolve().parents[2]
    / "templates_review/templates/templates_review/staff_queue.html"
)

# The queue's `{% for %}` body before it moved to Python (staff_queue.html).
OLD_LOOP = """{% for item in items %}
<article class="card queue-item" id="queue-{{ item.client.slug }}-{{ item.object_id }}" aria-label="{{ item.title }}">
  <header class="row">
    <div>
      <h2>{{ item.title }} <span class="muted">r{{ item.data.revision }}</span></h2>
      <p class="muted">{{ item.client.name }} · {{ item.subtitle }} · waiting {{ item.waiting_since|timesince }}{% if item.data.edit_of_meta_template %} · edit of a template Meta has{% endif %}</p>
    </div>
    <span class="badge">{% if item.status == "approved" and not item.data.send_error %}Sending to Meta…{% elif item.status == "approved" %}Approved, not at Meta{% else %}Submitted{% endif %}</span>
  </header>
  {% if item.data.send_error %}<p class="message error">Meta refused it: {{ item.data.send_error }}</p>{% endif %}
  <div class="grid">
    <div>
      <h3>Preview</h3>
      {% include "templates_review/partials/preview.html" with preview=item.preview %}
    </div>
    <div>
      <h3>Checks</h3>
      {% if item.data.findings %}
      <ul class="findings">{% for f in item.data.findings %}<li class="finding sev-{{ f.severity }}"><strong>{{ f.severity|capfirst }}</strong>{% if f.component %} · {{ f.component|lower }}{% endif %}: {{ f.message }}</li>{% endfor %}</ul>
      {% if item.data.findings_total > item.data.findings|length %}<p class="muted">{{ item.data.findings_total }} findings in all</p>{% endif %}
      {% else %}<p class="ok-note">No problems found.</p>{% endif %}
    </div>
    <div>
      <h3>{% if item.data.diff_from %}Changes since approved r{{ item.data.diff_from }}{% else %}New template{% endif %}</h3>
      <pre class="diff">{{ item.diff_html }}</pre>
    </div>
  </div>
  {% if can_review %}
  <div class="queue-actions row">
    <form method="post" action="{{ item.approve_url }}">{% csrf_token %}<button class="primary">{% if item.status == "approved" %}Send to Meta again{% else %}Approve and send to Meta{% endif %}</button></form>
    {% if item.status == "submitted" %}
    <form method="post" action="{{ item.request_changes_url }}" class="stack">
      {% csrf_token %}
      {% if kept and kept.slug == item.client.slug and kept.object_id == item.object_id %}
      <div class="form-error" role="alert">{% for e in kept.errors %}<p>{{ e }}</p>{% endfor %}</div>
      <label>Reason <select name="reason"><option value="">Choose a reason…</option>{% for value, label in reasons %}<option value="{{ value }}"{% if value == kept.reason %} selected{% endif %}>{{ label }}</option>{% endfor %}</select></label>
      <label>Comment <textarea name="comment" rows="4" maxlength="{{ comment_max }}">{{ kept.comment }}</textarea></label>
      {% else %}
      <label>Reason <select name="reason">{{ reason_options }}</select></label>
      <label>Comment <textarea name="comment" rows="2" maxlength="{{ comment_max }}"></textarea></label>
      {% endif %}
      <small class="muted">Up to {{ comment_max }} characters.</small>
      <div class="row"><button>Request changes</button> <button formaction="{{ item.reject_url }}">Reject</button></div>
    </form>
    {% endif %}
  </div>
  {% endif %}
</article>
{% endfor %}"""  # noqa: E501


def _new_loop() -> str:
    """The loop as the page's template has it now."""
    source = QUEUE.read_text()
    loop = re.search(r"{% for item in items %}.*?{% empty %}", source, re.S).group(0)
    return loop.removesuffix("{% empty %}") + "{% endfor %}"


def _item(n: int, data: dict, **fields) -> WorkItem:
    client = Client(name=fields.pop("client_name", f"Client {n}"), slug=f"client-{n}")
    item = WorkItem(
        client=client,
        object_id=str(n),
        title=fields.pop("title", f"order_shipped_{n}"),
        subtitle=fields.pop("subtitle", "en_US · utility"),
        status=fields.pop("status", "submitted"),
        sort_key=int((NOW - timedelta(hours=n + 1)).timestamp()),
        data=data,
    )
    item.approve_url = f"/staff/templates/client-{n}/{n}/approve/"
    item.request_changes_url = f"/staff/templates/client-{n}/{n}/request_changes/"
    item.reject_url = f"/staff/templates/client-{n}/{n}/reject/"
    item.diff_html = diff_html(data.get("diff") or [])
    item.waiting_since = datetime.fromtimestamp(item.sort_key, UTC)
    item.preview = render_preview(components=data.get("components") or [])
    return item


BODY = {"type": "BODY", "text": "Hello {{1}}, *order* <{{2}}>", "example": {"body_text": [["Ana"]]}}
ITEMS = [
    {"revision": 1, "components": [BODY], "diff": [["+", "body: Hello <b>"]]},
    {
        "revision": 3,
        "diff_from": 2,
        "edit_of_meta_template": True,
        "components": [BODY, {"type": "FOOTER", "text": "Reply STOP & go"}],
        "findings": [
            {"severity": "error", "component": "BODY", "message": "Too <long>"},
            {"severity": "warning", "message": "No component"},
            {"component": "FOOTER"},
            "not a finding",
        ],
        "findings_total": 7,
        "diff": [["@", "@@ -1 +1 @@"], ["-", "old"], ["+", "new & better"]],
    },
    {"findings": [{"severity": "info", "message": "ok"}], "findings_total": 1},
    {"findings": [{"severity": "info", "message": "ok"}]},  # no total
    {"send_error": "Meta said <no> & more"},
    {},
]


def _items() -> list[WorkItem]:
    items = [_item(n, data) for n, data in enumerate(ITEMS)]
    items[4].status = "approved"
    items[5].status = "approved"
    items.append(_item(6, {"revision": 2}, client_name="<Acme & 'Sons'>", title='a"b<c>'))
    return items


def _both(*, can_review: bool, kept: dict | None) -> tuple[str, str]:
    reason_options = "".join(f'<option value="{v}">{v}</option>' for v, _ in ReviewReason.choices)
    context = {
        "can_review": can_review,
        "kept": kept,
        "csrf_token": TOKEN,
        "reason_options": engines["django"]
        .from_string("{{ x|safe }}")
        .render({"x": reason_options}),
        "reasons": ReviewReason.choices,
        "comment_max": 2000,
    }
    old_items, new_items = _items(), _items()
    chrome = QueueChrome(
        can_review=can_review,
        csrf_input=csrf_field(TOKEN),
        reason_options=context["reason_options"],
        reasons=ReviewReason.choices,
        comment_max=2000,
        kept=kept,
    )
    for item in new_items:
        item.before_preview, item.after_preview = queue_item_parts(item, chrome)
    engine = engines["django"]
    old = engine.from_string(OLD_LOOP).render({**context, "items": old_items})
    new = engine.from_string(_new_loop()).render({"items": new_items})
    return old, new


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("can_review", [True, False])
def test_queue_items_are_the_template_loops_markup(can_review):
    old, new = _both(can_review=can_review, kept=None)

    assert new == old
    assert "Hello Ana, <strong>order</strong> &lt;{{2}}&gt;" in new  # the preview, between
    assert "&lt;Acme &amp; &#x27;Sons&#x27;&gt;" in new
    assert ("Approve and send to Meta" in new) is can_review


@time_machine.travel(NOW, tick=False)
def test_a_refused_decision_is_the_template_loops_markup():
    kept = {
        "slug": "client-1",
        "object_id": "1",
        "reason": "promotional",
        "comment": "Too <salesy> & loud",
        "errors": ["Choose a reason.", "Ensure <this>"],
    }

    old, new = _both(can_review=True, kept=kept)

    assert new == old
    assert "Too &lt;salesy&gt; &amp; loud" in new
    assert '<option value="promotional" selected>' in new


@pytest.fixture(autouse=True)
def _no_database(django_db_blocker):
    """Items are written from values: no query."""
    with django_db_blocker.block():
        yield
