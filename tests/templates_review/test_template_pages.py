"""Client template pages (list by status, editor with live lint, detail with diff and
comments, submit) and the staff review queue on the public host, with role and cross-tenant
checks, and constant query counts on the list pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from portal.audit.models import AuditLog
from templates_review.choices import ReviewState
from templates_review.models import MessageTemplate
from tenants.models import WorkItem, WorkKind
from tests.factories import MessageTemplateFactory
from tests.templates_review.conftest import submit

EDITOR = {
    "name": "order_ready",
    "language": "en_US",
    "category": "UTILITY",
    "parameter_format": "positional",
    "body": "Hello {{1}}, your order is ready for pickup. Thank you.",
    "examples": "Ana",
}


def in_schema(client, fn):
    with schema_context(client.schema_name):
        return fn()


def make(client, **kwargs):
    return in_schema(client, lambda: MessageTemplateFactory(**kwargs))


def test_list_filters_by_status_and_shows_pause_time_left(web, acme, acme_waba, acme_viewer):
    make(acme, name="draft_one")
    make(
        acme,
        name="paused_one",
        review_state=ReviewState.SENT_TO_META,
        meta_id="1",
        meta_status="paused",
        pause_count=1,
        paused_until=timezone.now() + timedelta(hours=2, minutes=30),
    )
    make(
        acme,
        name="disabled_one",
        review_state=ReviewState.SENT_TO_META,
        meta_id="2",
        meta_status="disabled",
        pause_count=3,
    )
    http = web(acme, acme_viewer)

    everything = http.get("/templates/").content.decode()
    assert "draft_one" in everything
    assert "paused_one" in everything
    assert "paused, 2\xa0hours, 29\xa0minutes left" in everything
    assert "disabled after 3 pauses" in everything
    assert "New template" not in everything  # viewers do not draft
    paused = http.get("/templates/?status=meta_paused").content.decode()
    assert "paused_one" in paused
    assert "draft_one" not in paused


def test_list_page_queries_do_not_grow_with_rows(web, acme, acme_waba, acme_agent):
    make(acme, name="first")
    http = web(acme, acme_agent)
    http.get("/templates/")  # the first request of a session also saves the session
    with CaptureQueriesContext(connection) as one_row:
        http.get("/templates/")
    for n in range(15):
        make(acme, name=f"row_{n}")
    with CaptureQueriesContext(connection) as many_rows:
        page = http.get("/templates/").content.decode()
    assert page.count('href="/templates/') >= 16
    assert len(many_rows) == len(one_row)
    assert sum("templates_review_messagetemplate" in q["sql"] for q in many_rows) == 1


def test_list_is_paged_50_at_a_time_by_name_and_keeps_the_status_filter(
    web, acme, acme_waba, acme_viewer
):
    for n in range(55):
        make(acme, name=f"t_{n:02d}")
    make(
        acme, name="t_zz_paused", review_state=ReviewState.SENT_TO_META, meta_id="9",
        meta_status="paused",
    )  # fmt: skip
    http = web(acme, acme_viewer)

    first = http.get("/templates/").content.decode()
    assert "t_00" in first
    assert "t_49" in first
    assert "t_50" not in first
    last_id = in_schema(acme, lambda: MessageTemplate.objects.get(name="t_49").pk)
    assert f'href="?after={last_id}">Next templates' in first
    assert "First page" not in first

    second = http.get(f"/templates/?after={last_id}").content.decode()
    assert "t_49" not in second
    assert all(f"t_{n}" in second for n in range(50, 55))
    assert "t_zz_paused" in second
    assert "Next templates" not in second
    assert 'href="?">← First page' in second

    paused = http.get(f"/templates/?status=meta_paused&after={last_id}").content.decode()
    assert "t_zz_paused" in paused
    assert "t_5" not in paused
    # A bad cursor is the first page, never an error.
    for bad in ("x", "-1", "9" * 30, "999999"):
        response = http.get(f"/templates/?after={bad}")
        assert response.status_code == 200
        assert "t_00" in response.content.decode()


def test_list_cursor_of_another_client_shows_only_this_clients_templates(
    web, acme, acme_waba, globex, globex_owner
):
    for n in range(5):
        make(acme, name=f"acme_{n}")
    theirs = make(acme, name="acme_secret_template")
    mine = in_schema(globex, lambda: MessageTemplateFactory(name="globex_template"))
    assert in_schema(globex, lambda: not MessageTemplate.objects.filter(pk=theirs.pk).exists())
    page = web(globex, globex_owner).get(f"/templates/?after={theirs.pk}").content.decode()
    # The cursor is read in globex's schema only: acme's id is unknown there, so the first page.
    assert "acme_" not in page
    assert mine.name in page


def test_live_lint_returns_findings_and_preview_and_saves_nothing(web, acme, acme_waba, acme_agent):
    audit_rows = AuditLog.objects.count()
    response = web(acme, acme_agent).post(
        "/templates/lint/",
        {**EDITOR, "body": "Your order is ready for pickup on {{1}}"},
        HTTP_HX_REQUEST="true",
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-code="param.dangling_end"' in page
    assert "Your order is ready for pickup on Ana" in page  # the preview uses the example
    assert AuditLog.objects.count() == audit_rows
    assert not in_schema(acme, lambda: MessageTemplate.objects.exists())


def test_editor_form_carries_the_debounced_live_lint(web, acme, acme_waba, acme_agent):
    page = web(acme, acme_agent).get("/templates/new/").content.decode()
    assert 'hx-trigger="input changed delay:400ms"' in page
    assert 'hx-post="/templates/lint/"' in page


def test_agent_drafts_edits_submits_and_comments(web, acme, acme_waba, acme_agent):
    http = web(acme, acme_agent)

    created = http.post("/templates/new/", EDITOR)
    template = in_schema(acme, lambda: MessageTemplate.objects.get(name="order_ready"))
    assert created.status_code == 302
    assert created.url == f"/templates/{template.pk}/"
    assert template.components == [
        {
            "type": "BODY",
            "text": EDITOR["body"],
            "example": {"body_text": [["Ana"]]},
        }
    ]
    http.post(
        f"/templates/{template.pk}/edit/",
        {**EDITOR, "body": "Hi {{1}}, your order is ready for pickup. Thank you."},
    )
    detail = http.get(f"/templates/{template.pk}/").content.decode()
    assert "Changes from r1 to r2" in detail
    assert "- body: Hello {{1}}, your order is ready for pickup. Thank you." in detail
    assert "+ body: Hi {{1}}, your order is ready for pickup. Thank you." in detail

    http.post(f"/templates/{template.pk}/submit/")
    http.post(f"/templates/{template.pk}/comments/", {"body": "Urgent, please."})

    template = in_schema(acme, lambda: MessageTemplate.objects.get(pk=template.pk))
    assert template.review_state == ReviewState.SUBMITTED
    detail = http.get(f"/templates/{template.pk}/").content.decode()
    assert "Submitted for review" in detail
    assert "Urgent, please." in detail


def test_viewer_cannot_open_the_editor_or_submit(web, acme, acme_waba, acme_viewer):
    template = make(acme)
    http = web(acme, acme_viewer)
    assert http.get("/templates/new/").status_code == 403
    assert http.post("/templates/new/", EDITOR).status_code == 403
    assert http.post(f"/templates/{template.pk}/submit/").status_code == 403
    assert http.post(f"/templates/{template.pk}/comments/", {"body": "x"}).status_code == 403
    assert in_schema(acme, lambda: MessageTemplate.objects.get(pk=template.pk).review_state) == (
        ReviewState.DRAFT
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/templates/"),
        ("get", "/templates/new/"),
        ("post", "/templates/lint/"),
        ("get", "/templates/{id}/"),
        ("get", "/templates/{id}/edit/"),
        ("post", "/templates/{id}/edit/"),
        ("post", "/templates/{id}/submit/"),
        ("post", "/templates/{id}/comments/"),
    ],
)
def test_globex_owner_cannot_use_acme_template_pages(
    web, acme, acme_waba, globex_owner, method, path
):
    template = make(acme)
    audit_rows = AuditLog.objects.count()

    response = getattr(web(acme, globex_owner), method)(path.format(id=template.pk), EDITOR)

    assert response.status_code in (302, 403)
    if response.status_code == 302:
        assert "/auth/login/" in response.url
    assert AuditLog.objects.count() == audit_rows
    assert in_schema(acme, lambda: MessageTemplate.objects.get(pk=template.pk).revision_count) == 1


def test_acme_template_ids_are_not_found_on_globex(web, acme, acme_waba, globex, globex_owner):
    template = make(acme)
    assert web(globex, globex_owner).get(f"/templates/{template.pk}/").status_code == 404


# --- the staff queue ------------------------------------------------------------------------


def test_queue_lists_every_clients_templates_oldest_first_with_lint_and_diff(
    web, acme, globex, acme_waba, globex_waba, acme_agent, globex_agent, staff_reviewer
):
    first = submit(
        acme,
        acme_agent,
        name="acme_dangling",
        components=[
            {"type": "BODY", "text": "Arrives on {{1}}", "example": {"body_text": [["Monday"]]}}
        ],
    )
    second = submit(globex, globex_agent, name="globex_clean")
    WorkItem.objects.filter(object_id=str(first.pk), client=acme).update(sort_key=1000)
    WorkItem.objects.filter(object_id=str(second.pk), client=globex).update(sort_key=2000)

    page = web(None, staff_reviewer).get("/staff/templates/").content.decode()

    assert page.index("acme_dangling") < page.index("globex_clean")
    assert "Acme Retail" in page
    assert "Globex Logistics" in page
    assert "End the message with text or punctuation after the last parameter" in page
    assert "+ body: Arrives on {{1}}" in page
    assert "Approve and send to Meta" in page


def test_queue_page_is_one_query_however_many_clients(
    web, acme, globex, acme_waba, globex_waba, acme_agent, globex_agent, staff_reviewer
):
    submit(acme, acme_agent, name="only_one")
    http = web(None, staff_reviewer)
    http.get("/staff/templates/")  # the first request of a session also saves the session
    with CaptureQueriesContext(connection) as one_client:
        http.get("/staff/templates/")
    for n in range(5):
        submit(acme, acme_agent, name=f"acme_{n}")
        submit(globex, globex_agent, name=f"globex_{n}")
    with CaptureQueriesContext(connection) as two_clients:
        page = http.get("/staff/templates/").content.decode()
    assert page.count('class="card queue-item"') == 11
    assert len(two_clients) == len(one_client)
    queue_queries = [q["sql"] for q in two_clients if "tenants_workitem" in q["sql"]]
    assert len(queue_queries) == 1
    assert not any("c_acme" in q["sql"] or "c_globex" in q["sql"] for q in two_clients)


def test_queue_is_staff_only(web, acme, acme_waba, acme_owner):
    assert web(None, acme_owner).get("/staff/templates/").status_code == 403
    assert web(None).get("/staff/templates/").status_code == 302


def test_non_reviewer_staff_see_the_queue_but_cannot_decide(
    web, acme, acme_waba, acme_agent, staff_manager
):
    from tests.people import make_account_manager

    make_account_manager(staff_manager, acme)  # their own client: they see it, cannot decide
    template = submit(acme, acme_agent, name="waiting")
    http = web(None, staff_manager)

    assert "Approve and send to Meta" not in http.get("/staff/templates/").content.decode()
    response = http.post(
        f"/staff/templates/acme/{template.pk}/reject/", {"reason": "scam", "comment": ""}
    )
    assert response.status_code == 403
    assert in_schema(acme, lambda: MessageTemplate.objects.get(pk=template.pk).review_state) == (
        ReviewState.SUBMITTED
    )


def test_reviewer_requests_changes_from_the_queue(web, acme, acme_waba, acme_agent, staff_reviewer):
    template = submit(acme, acme_agent, name="needs_work")

    response = web(None, staff_reviewer).post(
        f"/staff/templates/acme/{template.pk}/request_changes/",
        {"reason": "invalid_format", "comment": "Add an example for {{1}}."},
    )

    assert response.status_code == 302
    template = in_schema(acme, lambda: MessageTemplate.objects.get(pk=template.pk))
    assert template.review_state == ReviewState.CHANGES_REQUESTED
    assert not WorkItem.objects.filter(kind=WorkKind.TEMPLATE_REVIEW, client=acme).exists()
    comment = in_schema(acme, lambda: template.comments.get())
    assert (comment.reason, comment.body) == ("invalid_format", "Add an example for {{1}}.")


def test_queue_action_on_another_clients_id_finds_nothing(
    web, acme, globex, acme_waba, acme_agent, staff_reviewer
):
    template = submit(acme, acme_agent, name="acme_only")
    response = web(None, staff_reviewer).post(
        f"/staff/templates/globex/{template.pk}/reject/", {"reason": "scam"}
    )
    assert response.status_code == 404
    assert in_schema(acme, lambda: MessageTemplate.objects.get(pk=template.pk).review_state) == (
        ReviewState.SUBMITTED
    )


def test_reviewer_approves_from_the_queue_and_meta_gets_it(
    web,
    acme,
    acme_waba,
    acme_agent,
    staff_reviewer,
    meta_at_sim,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    template = submit(acme, acme_agent, name="queue_approved")

    with django_capture_on_commit_callbacks(execute=True):
        response = web(None, staff_reviewer).post(f"/staff/templates/acme/{template.pk}/approve/")

    assert response.status_code == 302
    template = in_schema(acme, lambda: MessageTemplate.objects.get(pk=template.pk))
    assert (template.review_state, template.meta_status) == ("sent_to_meta", "pending")
    assert meta_at_sim.state.templates[template.meta_id]["name"] == "queue_approved"


def test_editor_warns_when_it_cannot_show_every_part(web, acme, acme_waba, acme_agent):
    body = {
        "type": "BODY",
        "text": "Hello {{1}}, see the photo. Thanks.",
        "example": {"body_text": [["A"]]},
    }
    flow = make(
        acme,
        name="with_flow",
        components=[body, {"type": "BUTTONS", "buttons": [{"type": "FLOW", "text": "Book"}]}],
    )
    media = make(
        acme,
        name="with_image",
        components=[
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["h"]}},
            body,
        ],
    )
    plain = make(acme, name="plain_text")
    http = web(acme, acme_agent)

    assert "saving here replaces them" in http.get(f"/templates/{flow.pk}/edit/").content.decode()
    # the full editor shows a media header and keeps Meta's handle of its example
    assert (
        "saving here replaces them" not in http.get(f"/templates/{media.pk}/edit/").content.decode()
    )
    assert (
        "saving here replaces them" not in http.get(f"/templates/{plain.pk}/edit/").content.decode()
    )


def test_metas_rejection_is_shown_in_plain_words_with_its_recommendation(
    web, acme, acme_waba, acme_viewer
):
    template = make(
        acme,
        name="rejected_by_meta",
        review_state=ReviewState.SENT_TO_META,
        meta_id="77",
        meta_status="rejected",
        rejection_reason="INVALID_FORMAT",
        rejection_info={
            "reason": "The template's parameters are not formatted correctly.",
            "recommendation": "Check the braces and the order of the parameters.",
        },
    )

    page = web(acme, acme_viewer).get(f"/templates/{template.pk}/").content.decode()

    assert "Meta found a format problem (parameters, braces or examples)." in page
    assert "Check the braces and the order of the parameters." in page


def test_a_comment_too_long_comes_back_with_the_error_and_nothing_lost(
    web, acme, acme_waba, acme_agent
):
    template = make(acme)
    text = "Please look at this. " * 260  # over 5,000 characters

    response = web(acme, acme_agent).post(f"/templates/{template.pk}/comments/", {"body": text})

    assert response.status_code == 400
    page = response.content.decode()
    assert "Ensure this value has at most 5000 characters" in page
    assert text.strip() in page
    assert in_schema(acme, lambda: template.comments.count()) == 0
