"""The client dashboard's "Message templates" card: counts by status from one query, each a
link to the template list filtered by that status; another client's templates never count."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from templates_review.choices import ReviewState
from tests.factories import MessageTemplateFactory


def make(client, **kwargs):
    with schema_context(client.schema_name):
        return MessageTemplateFactory(**kwargs)


def test_card_counts_templates_by_status_and_links_to_the_list(
    web, acme, globex, acme_waba, globex_waba, acme_viewer
):
    make(acme, review_state=ReviewState.DRAFT)
    make(acme, review_state=ReviewState.DRAFT)
    make(acme, review_state=ReviewState.SUBMITTED)
    make(acme, review_state=ReviewState.SENT_TO_META, meta_status="approved", meta_id="m1")
    make(acme, review_state=ReviewState.SENT_TO_META, meta_status="paused", meta_id="m2")
    make(globex, review_state=ReviewState.DRAFT)
    make(globex, review_state=ReviewState.DRAFT)

    page = web(acme, acme_viewer).get("/").content.decode()

    card = page[page.index("<h2>Message templates</h2>") :]
    card = card[: card.index("</section>")]
    assert '<a href="/templates/?status=draft">Draft</a> <strong>2</strong>' in card
    assert '<a href="/templates/?status=submitted">In BSP review</a> <strong>1</strong>' in card
    assert (
        '<a href="/templates/?status=meta_approved">Approved by Meta</a> <strong>1</strong>' in card
    )
    assert '<a href="/templates/?status=meta_paused">Paused</a> <strong>1</strong>' in card
    assert "Changes requested" not in card  # statuses with no template are left out
    assert '<a href="/templates/">All 5 templates</a>' in card


def test_card_without_templates_invites_a_first_draft(web, acme, acme_waba, acme_viewer):
    page = web(acme, acme_viewer).get("/").content.decode()

    card = page[page.index("<h2>Message templates</h2>") :]
    card = card[: card.index("</section>")]
    assert '<a href="/templates/">' in card
    assert "No templates yet" in card


def test_card_is_one_query_however_many_templates(web, acme, acme_waba, acme_viewer):
    http = web(acme, acme_viewer)
    make(acme, review_state=ReviewState.DRAFT)
    http.get("/")  # the first request of a session also saves the session
    with CaptureQueriesContext(connection) as one:
        http.get("/")
    for state in (ReviewState.SUBMITTED, ReviewState.REJECTED, ReviewState.CHANGES_REQUESTED):
        make(acme, review_state=state)
    with CaptureQueriesContext(connection) as many:
        http.get("/")

    template_queries = [q for q in many if "templates_review_messagetemplate" in q["sql"]]
    # the counts by state, and the paused templates' time left (issue 14): neither per template
    assert len(template_queries) == 2
    assert len(many) == len(one)
