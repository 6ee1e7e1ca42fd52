"""Issue 14's walk-through, template pages: Meta's "NONE" reason is not shown (defect 4), a long
reviewer comment is kept with the real reason (8), lint errors block saving and submitting (9),
and a new template's editor opens without errors (10)."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from templates_review.choices import ReviewState
from templates_review.models import MessageTemplate
from tests.factories import MessageTemplateFactory
from tests.people import make_account_manager
from tests.templates_review.conftest import submit

EDITOR = {
    "name": "order_ready",
    "language": "en_US",
    "category": "UTILITY",
    "parameter_format": "positional",
    "body": "Hello {{1}}, your order is ready for pickup. Thank you.",
    "examples": "Ana",
}


def _make(client, **kwargs):
    with schema_context(client.schema_name):
        return MessageTemplateFactory(**kwargs)


@pytest.mark.parametrize("reason", ["", "NONE", "none"])
def test_an_approved_template_shows_no_rejection_reason(web, acme, acme_waba, acme_viewer, reason):
    template = _make(
        acme,
        review_state=ReviewState.SENT_TO_META,
        meta_id="7001",
        meta_status="approved",
        rejection_reason=reason,
    )

    page = web(acme, acme_viewer).get(f"/templates/{template.pk}/").content.decode()

    assert "Rejected because" not in page
    assert "None" not in page.split("<main", 1)[1]


def test_a_rejected_template_shows_its_reason(web, acme, acme_waba, acme_viewer):
    template = _make(
        acme,
        review_state=ReviewState.SENT_TO_META,
        meta_id="7002",
        meta_status="rejected",
        rejection_reason="INVALID_FORMAT",
    )

    page = web(acme, acme_viewer).get(f"/templates/{template.pk}/").content.decode()

    assert "Rejected because" in page


def test_a_long_reviewer_comment_comes_back_with_the_real_reason(
    web, acme, acme_waba, acme_agent, staff_reviewer
):
    template = submit(acme, acme_agent, name="long_comment")
    comment = "Please reword the second line. " * 200  # 6,200 characters

    response = web(None, staff_reviewer).post(
        f"/staff/templates/acme/{template.pk}/request_changes/",
        {"reason": "promotional", "comment": comment},
    )

    assert response.status_code == 400
    body = response.content.decode()
    assert "Choose a reason." not in body
    assert f"at most 5000 characters (it has {len(comment.strip())})" in body
    assert comment.strip() in body  # what was typed is still in the box
    with schema_context(acme.schema_name):
        assert MessageTemplate.objects.get(pk=template.pk).review_state == ReviewState.SUBMITTED


def test_a_decision_without_a_reason_says_so_and_keeps_the_comment(
    web, acme, acme_waba, acme_agent, staff_reviewer
):
    template = submit(acme, acme_agent, name="no_reason")

    response = web(None, staff_reviewer).post(
        f"/staff/templates/acme/{template.pk}/reject/", {"reason": "", "comment": "Scam wording"}
    )

    assert response.status_code == 400
    body = response.content.decode()
    assert "Choose a reason." in body
    assert "Scam wording</textarea>" in body


def test_another_managers_client_is_not_decided_from_the_queue(
    web, acme, globex, acme_waba, acme_agent, staff_manager
):
    make_account_manager(staff_manager, globex)
    template = submit(acme, acme_agent, name="not_theirs")

    response = web(None, staff_manager).post(
        f"/staff/templates/acme/{template.pk}/reject/", {"reason": "abusive_content", "comment": ""}
    )

    assert response.status_code == 404


def test_a_draft_with_lint_errors_is_kept_but_cannot_go_to_the_bsp(
    web, acme, acme_waba, acme_agent
):
    """Drafts may hold errors while the author works on them (nothing is lost); the submit is
    what lint errors block (templates_review.services.template_submission_check)."""
    bad = {**EDITOR, "name": "Order Ready!", "body": "{{1}} {{3}}"}
    http = web(acme, acme_agent)

    saved = http.post("/templates/new/", bad)

    assert saved.status_code == 302
    with schema_context(acme.schema_name):
        template = MessageTemplate.objects.get(name="Order Ready!")
    assert http.post(f"/templates/{template.pk}/submit/").status_code == 302
    with schema_context(acme.schema_name):
        assert MessageTemplate.objects.get(pk=template.pk).review_state == ReviewState.DRAFT
    assert "Fix the" in http.get(f"/templates/{template.pk}/").content.decode()


def test_a_template_with_lint_errors_cannot_be_submitted(web, acme, acme_waba, acme_agent):
    template = _make(acme, name="Bad Name")
    http = web(acme, acme_agent)

    response = http.post(f"/templates/{template.pk}/submit/")

    assert response.status_code == 302
    with schema_context(acme.schema_name):
        assert MessageTemplate.objects.get(pk=template.pk).review_state == ReviewState.DRAFT
    page = http.get(f"/templates/{template.pk}/").content.decode()
    assert "Fix the 1 error the checks found before submitting" in page


def test_a_new_templates_editor_opens_without_errors(web, acme, acme_waba, acme_agent):
    page = web(acme, acme_agent).get("/templates/new/").content.decode()

    assert 'class="finding sev-error"' not in page
    assert "The checks run as you type." in page


def test_the_api_refuses_to_submit_a_template_with_lint_errors(api, acme, acme_waba, acme_agent):
    template = _make(acme, name="Bad Name")

    response = api(acme, user=acme_agent).post(
        f"/api/v1/templates/{template.pk}/submit/", {}, format="json"
    )

    assert response.status_code == 409
    assert "Fix the 1 error" in response.json()["detail"]
    with schema_context(acme.schema_name):
        assert MessageTemplate.objects.get(pk=template.pk).review_state == ReviewState.DRAFT
