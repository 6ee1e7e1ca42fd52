"""The appeals list's rows, written by the view (`_appeal_rows`), are the markup the row
template wrote: side by side for appeals of a WABA, a number and a template, with and without
an outcome, with values that need escaping."""

from __future__ import annotations

from django.template import Context, Template
from django_tenants.utils import schema_context

from appeals import choices as c
from appeals.models import AppealTicket
from appeals.selectors import appeals_for_client
from appeals.views import APPEAL_ROW_FIELDS, _appeal_rows
from tests.factories import MessageTemplateFactory
from tests.factories.appeals import AppealTicketFactory

# The loop body as the appeals list had it, before the rows were written by the view.
ROW_TEMPLATE = """{% for appeal in appeals %}
    <tr>
      <td><a href="{% url 'appeal-detail' appeal.pk %}"><strong>{{ appeal.reference }}</strong> {{ appeal.title }}</a></td>
      <td>{{ appeal.subject_label }}</td>
      <td>{{ appeal.get_block_type_display }}</td>
      <td><span class="badge">{{ appeal.get_status_display }}</span>{% if appeal.outcome %} <span class="badge">{{ appeal.get_outcome_display }}</span>{% endif %}</td>
      <td>{{ appeal.appeal_deadline|date:"Y-m-d" }}</td>
    </tr>
  {% endfor %}"""  # noqa: E501


def test_each_row_is_what_the_row_template_wrote(acme, acme_waba, acme_number, web, acme_owner):
    with schema_context(acme.schema_name):
        template = MessageTemplateFactory(name="order_<x>")
        AppealTicketFactory(account=acme_waba, title="Block <b>&\"1'")
        AppealTicketFactory(
            account=acme_waba, number=acme_number, subject_kind=c.SubjectKind.PHONE_NUMBER,
            status=c.Status.CLOSED, outcome=c.Outcome.values[0],
        )  # fmt: skip
        AppealTicketFactory(
            account=acme_waba, template=template, subject_kind=c.SubjectKind.TEMPLATE,
            block_type=c.BlockType.values[-1],
        )  # fmt: skip
        appeals = list(appeals_for_client().only(*APPEAL_ROW_FIELDS))
        old = Template(ROW_TEMPLATE).render(Context({"appeals": appeals}))
        _appeal_rows(appeals)
        assert AppealTicket.objects.count() == 3
    assert "".join(a.row for a in appeals) == old
    assert "Block &lt;b&gt;&amp;&quot;1&#x27;" in old
    assert "Template order_&lt;x&gt;" in old

    page = web(acme, acme_owner).get("/appeals/").content.decode()
    assert appeals[1].row in page
