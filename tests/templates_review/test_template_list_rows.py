"""The templates list's rows, written by the view (`_template_rows`), are the markup the row
template wrote: side by side for templates in every state, with values that need escaping."""

from __future__ import annotations

from datetime import timedelta

from django.template import Context, Template
from django.utils import timezone
from django_tenants.utils import schema_context

from templates_review.choices import ReviewState
from templates_review.models import MessageTemplate
from templates_review.views import TEMPLATE_ROW_FIELDS, _template_rows
from tests.factories import MessageTemplateFactory

# The loop body as the list template had it, before the rows were written by the view.
ROW_TEMPLATE = """{% for template in templates %}
  <tr>
    <td><a href="{% url 'template-detail' template.pk %}"><strong>{{ template.name }}</strong></a> <span class="muted">{{ template.language }}</span></td>
    <td>{{ template.get_category_display }}</td>
    <td>
      <span class="badge tstatus-{{ template.status_key }}">{{ template.display_status }}</span>
      {% with left=template.pause_time_left %}{% if left %}<br><span class="muted">paused, {{ template.paused_until|timeuntil }} left</span>{% endif %}{% endwith %}
      {% if template.meta_status == "disabled" %}<br><span class="muted">disabled after {{ template.pause_count }} pauses</span>{% endif %}
    </td>
    <td>{% if template.review_state == "sent_to_meta" %}<span class="badge quality-{{ template.quality }}">{{ template.get_quality_display }}</span>{% else %}<span class="muted">—</span>{% endif %}</td>
    <td class="muted">{{ template.updated_at|date:"Y-m-d H:i" }}</td>
  </tr>
  {% endfor %}"""  # noqa: E501


def test_each_row_is_what_the_row_template_wrote(acme, web, acme_owner):
    now = timezone.now()
    with schema_context(acme.schema_name):
        MessageTemplateFactory(name="draft_<b>&\"x'", language="pt_BR", category="marketing")
        MessageTemplateFactory(review_state=ReviewState.SUBMITTED, category="authentication")
        sent = {"review_state": ReviewState.SENT_TO_META, "quality": "medium"}
        MessageTemplateFactory(**sent, meta_id="1", meta_status="approved")
        MessageTemplateFactory(**sent, meta_id="2", meta_status="pending")
        MessageTemplateFactory(
            **sent, meta_id="3", meta_status="paused", pause_count=1,
            paused_until=now + timedelta(hours=5, minutes=7),
        )  # fmt: skip
        MessageTemplateFactory(
            **sent, meta_id="4", meta_status="paused", paused_until=now - timedelta(hours=1)
        )
        MessageTemplateFactory(**sent, meta_id="5", meta_status="disabled", pause_count=3)
        MessageTemplateFactory(review_state=ReviewState.SENT_TO_META, meta_id="6")
        templates = list(MessageTemplate.objects.only(*TEMPLATE_ROW_FIELDS).order_by("pk"))
        old = Template(ROW_TEMPLATE).render(Context({"templates": templates}))
        _template_rows(templates)
        assert "".join(t.row for t in templates) == old
        assert "draft_&lt;b&gt;&amp;&quot;x&#x27;" in old  # the values are escaped
        assert "5\xa0hours" in old
        assert "disabled after 3 pauses" in old

    page = web(acme, acme_owner).get("/templates/").content.decode()
    assert templates[4].row in page
