"""The appeal's page reads the appeal in full but of its subject only what the label shows:
the same label as the full read, without a query more."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from appeals import choices as c
from appeals.selectors import appeal_get, appeal_get_for_page
from tests.factories import MessageTemplateFactory
from tests.factories.appeals import AppealTicketFactory


@pytest.mark.parametrize("kind", c.SubjectKind.values)
def test_the_subject_label_is_the_full_reads_in_one_query(acme, acme_waba, acme_number, kind):
    with schema_context(acme.schema_name):
        ticket = AppealTicketFactory(
            account=acme_waba, number=acme_number, subject_kind=kind,
            template=MessageTemplateFactory(name="order_update", language="pt_BR"),
        )  # fmt: skip
        full = appeal_get(ticket_id=ticket.pk)
        with CaptureQueriesContext(connection) as queries:
            page = appeal_get_for_page(ticket_id=ticket.pk)
            label = page.subject_label
            answers = (page.api_uses, page.consent_process, page.improvement_plan)
    assert len(queries) == 1
    assert label == full.subject_label
    assert answers == (full.api_uses, full.consent_process, full.improvement_plan)
