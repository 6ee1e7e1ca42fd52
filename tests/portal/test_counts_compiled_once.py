"""`portal.db.counts_compiled_once`: counts compiled by the ORM once, then the same SQL run each
time, so each call counts the rows as they are now, in the tenant the connection is on."""

from django.db import connection
from django.db.models import Count, Q
from django.test.utils import CaptureQueriesContext

from portal import db
from portal.db import counts_compiled_once
from templates_review.models import MessageTemplate
from tests.factories import MessageTemplateFactory


def counts() -> dict[str, int]:
    return counts_compiled_once(
        "test_counts",
        MessageTemplate.objects.all(),
        total=Count("pk"),
        drafts=Count("pk", filter=Q(review_state="draft")),
    )


def test_each_call_counts_the_rows_as_they_are_now_and_equals_the_orms(acme, monkeypatch):
    monkeypatch.setattr(db, "_COMPILED_COUNTS", {})
    connection.set_tenant(acme)
    assert counts() == {"total": 0, "drafts": 0}
    MessageTemplateFactory(review_state="draft")
    MessageTemplateFactory(review_state="submitted")
    with CaptureQueriesContext(connection) as queries:
        assert counts() == {"total": 2, "drafts": 1}  # after the write, not what was compiled
    assert len(queries) == 1
    orm = MessageTemplate.objects.aggregate(
        total=Count("pk"), drafts=Count("pk", filter=Q(review_state="draft"))
    )
    assert counts() == orm


def test_the_compiled_sql_counts_the_current_tenants_rows_only(acme, globex, monkeypatch):
    monkeypatch.setattr(db, "_COMPILED_COUNTS", {})
    connection.set_tenant(acme)
    MessageTemplateFactory(review_state="draft")
    assert counts() == {"total": 1, "drafts": 1}  # compiled here, on acme
    connection.set_tenant(globex)
    assert counts() == {"total": 0, "drafts": 0}
    MessageTemplateFactory(review_state="submitted")
    assert counts() == {"total": 1, "drafts": 0}
