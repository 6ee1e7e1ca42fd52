"""The contact list's rows, written by the view (`_contact_rows`), are the markup the row
template wrote: side by side for contacts by number, by BSUID and with both, named or not."""

from __future__ import annotations

from django.template import Context, Template
from django_tenants.utils import schema_context

from compliance import choices as c
from compliance.consent_selectors import states_by_contact
from compliance.consent_views import _contact_rows
from compliance.models import Contact
from tests.factories import ConsentStateFactory, ContactFactory

# The loop body as the contact list had it, before the rows were written by the view.
ROW_TEMPLATE = """{% for contact in contacts %}
    <tr>
      <td><a href="{% url 'consent-contact' contact.label %}"><strong>{{ contact.label }}</strong></a>{% if contact.phone and contact.bsuid %}<br><span class="muted">{{ contact.bsuid }}</span>{% endif %}</td>
      <td>{{ contact.name|default:"—" }}</td>
      {% for label, status, status_label in contact.category_states %}<td><span class="badge consent-{{ status }}">{{ status_label }}</span></td>{% endfor %}
    </tr>
  {% endfor %}"""  # noqa: E501


def test_each_row_is_what_the_row_template_wrote(acme, web, acme_owner):
    with schema_context(acme.schema_name):
        named = ContactFactory(name="Ana <b>&\"x'")
        ConsentStateFactory(contact=named, category=c.ConsentCategory.MARKETING)
        both = ContactFactory(bsuid="US.1234567890abcdef", name="")
        ConsentStateFactory(
            contact=both, category=c.ConsentCategory.UTILITY, status=c.ConsentStatus.OPTED_OUT
        )
        Contact.objects.create(phone=None, bsuid="US.99887766554433")
        contacts = list(Contact.objects.order_by("pk"))
        states = states_by_contact(contacts=contacts)
        for contact in contacts:
            contact.category_states = states[contact.pk]
        old = Template(ROW_TEMPLATE).render(Context({"contacts": contacts}))
        _contact_rows(contacts)
    assert "".join(contact.row for contact in contacts) == old
    assert "Ana &lt;b&gt;&amp;&quot;x&#x27;" in old
    assert "US.1234567890abcdef" in old

    page = web(acme, acme_owner).get("/contacts/").content.decode()
    assert all(contact.row in page for contact in contacts)
