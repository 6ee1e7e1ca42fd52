"""`recovery_items`: the plan with its items' templates, the templates read only when an item
names one."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from appeals.selectors import recovery_items
from templates_review.models import MessageTemplate
from tests.appeals.conftest import open_appeal
from tests.factories.appeals import RecoveryItemFactory

pytestmark = pytest.mark.django_db


def test_no_plan_is_one_query(acme, acme_waba, acme_owner, django_assert_num_queries):
    ticket = open_appeal(acme, acme_waba, acme_owner)
    with schema_context(acme.schema_name):
        assert MessageTemplate.objects.count() == 0  # the schema is set: no SET in the count
        with django_assert_num_queries(1):
            assert recovery_items(ticket=ticket) == []


def test_items_come_with_their_templates_in_order(
    acme, acme_waba, acme_owner, django_assert_num_queries
):
    ticket = open_appeal(acme, acme_waba, acme_owner)
    with schema_context(acme.schema_name):
        apology = MessageTemplate.objects.create(
            account=acme_waba,
            name="apology",
            language="en",
            category="utility",
            components=[{"type": "BODY", "text": "Sorry for the messages."}],
        )
        second = RecoveryItemFactory(ticket=ticket, position=2)
        first = RecoveryItemFactory(ticket=ticket, position=1, template=apology)

        with django_assert_num_queries(2):  # the items, then their one template
            items = recovery_items(ticket=ticket)
            texts = [i.template.components[0]["text"] if i.template else None for i in items]

    assert [i.pk for i in items] == [first.pk, second.pk]
    assert texts == ["Sorry for the messages.", None]
