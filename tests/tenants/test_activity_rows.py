"""The activity page's rows, written by the view (`_activity_row_html`), are the markup the row
template wrote: side by side for rows with no actor, values of every JSON type and values that
need escaping."""

from __future__ import annotations

from django.template import Context, Template

from portal.audit.models import AuditLog
from portal.audit.selectors import action_label
from tenants.console_views import _activity_row_html

# The loop body as the activity page had it, before the rows were written by the view.
ROW_TEMPLATE = """{% for row in rows %}
      <tr data-action="{{ row.action }}">
        <td><time datetime="{{ row.at|date:'c' }}">{{ row.at|date:"Y-m-d H:i" }}</time></td>
        <td>{{ row.actor_label|default:"system" }}</td>
        <td>{{ row.label }}</td>
        <td class="muted">{% if row.after %}{% for k, v in row.after.items %}{{ k }}: {{ v }}{% if not forloop.last %}; {% endif %}{% endfor %}{% endif %}</td>
      </tr>
    {% endfor %}"""  # noqa: E501


def test_each_row_is_what_the_row_template_wrote(acme, web, acme_owner):
    afters = [
        None,
        {},
        {"role": "admin", "email": "a<b>&\"c'@x.example"},
        {"count": 1200, "ratio": 0.25, "on": True, "off": None, "list": [1, "<2>"], "d": {"k": 1}},
    ]
    for n, after in enumerate(afters):
        AuditLog.objects.create(
            client=acme, action=f"member.<{n}>", actor_label="" if n % 2 else "o@acme.example",
            after=after,
        )  # fmt: skip
    rows = list(AuditLog.objects.filter(client=acme).order_by("pk"))
    for row in rows:
        row.label = action_label(row.action)
    old = Template(ROW_TEMPLATE).render(Context({"rows": rows}))
    _activity_row_html(rows)
    assert "".join(row.html for row in rows) == old
    assert "a&lt;b&gt;&amp;&quot;c&#x27;@x.example" in old
    assert "<td>system</td>" in old

    page = web(acme, acme_owner).get("/settings/activity/").content.decode()
    assert rows[2].html in page
