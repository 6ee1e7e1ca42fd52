"""The staff queue row (public WorkItem) is written and removed in the transaction of the
tenant-side change: a rolled-back change leaves no queue row and no state change."""

from __future__ import annotations

import pytest
from django.db import transaction

from templates_review import services
from templates_review.choices import ReviewReason, ReviewState
from templates_review.services import Actor
from tenants.models import WorkItem, WorkKind
from tests.factories import MessageTemplateFactory


def queue_rows(client):
    return WorkItem.objects.filter(kind=WorkKind.TEMPLATE_REVIEW, client=client)


def author(user):
    return Actor(principal=user, role="agent", label=user.email)


def reviewer(user):
    return Actor(principal=user, role="template_reviewer", label=user.email)


def test_submit_puts_the_template_in_the_queue_with_lint_and_diff(in_acme, acme_agent):
    template = MessageTemplateFactory(
        name="dangling_one",
        components=[
            {
                "type": "BODY",
                "text": "Your order arrives on {{1}}",
                "example": {"body_text": [["Monday"]]},
            }
        ],
    )

    services.template_submit(template=template, actor=author(acme_agent))

    template.refresh_from_db()
    item = queue_rows(in_acme).get()
    assert (item.object_id, item.title, item.status, item.band) == (
        str(template.pk),
        "dangling_one",
        "submitted",
        "error",
    )
    assert item.sort_key == int(template.submitted_at.timestamp())
    assert [f["code"] for f in item.data["findings"]] == ["param.dangling_end"]
    assert item.data["diff_from"] is None
    assert ["+", "name: dangling_one"] in item.data["diff"]


def test_rolled_back_submit_leaves_no_queue_row(in_acme, acme_agent):
    template = MessageTemplateFactory()

    seen_inside = []

    def submit_then_fail():
        with transaction.atomic():
            services.template_submit(template=template, actor=author(acme_agent))
            seen_inside.append(queue_rows(in_acme).count())  # written inside the transaction
            raise RuntimeError("the caller's transaction fails after the submit")

    with pytest.raises(RuntimeError):
        submit_then_fail()

    assert seen_inside == [1]
    template.refresh_from_db()
    assert template.review_state == ReviewState.DRAFT
    assert not queue_rows(in_acme).exists()


def test_audit_failure_rolls_back_the_queue_removal(in_acme, staff_reviewer, monkeypatch):
    template = MessageTemplateFactory(review_state=ReviewState.SUBMITTED)
    services._queue_sync(template=template, client=in_acme)

    def failing_audit(*args, **kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr("templates_review.services.common.audit_record", failing_audit)
    with pytest.raises(RuntimeError):
        services.template_reject(
            template=template, actor=reviewer(staff_reviewer), reason=ReviewReason.SCAM
        )

    template.refresh_from_db()
    assert template.review_state == ReviewState.SUBMITTED
    assert queue_rows(in_acme).get().status == "submitted"
    assert not template.comments.exists()


@pytest.mark.parametrize(
    ("decide", "kwargs"),
    [
        (services.template_request_changes, {"reason": ReviewReason.INVALID_FORMAT}),
        (services.template_reject, {"reason": ReviewReason.ABUSIVE_CONTENT}),
    ],
)
def test_sending_back_or_rejecting_removes_the_queue_row(in_acme, staff_reviewer, decide, kwargs):
    template = MessageTemplateFactory(review_state=ReviewState.DRAFT)
    services.template_submit(template=template, actor=author(staff_reviewer))

    decide(template=template, actor=reviewer(staff_reviewer), **kwargs)

    assert not queue_rows(in_acme).exists()


def test_approval_keeps_the_row_until_meta_has_the_template(in_acme, acme_agent, staff_reviewer):
    template = MessageTemplateFactory()
    services.template_submit(template=template, actor=author(acme_agent))

    services.template_approve(template=template, actor=reviewer(staff_reviewer))

    assert queue_rows(in_acme).get().status == "approved"


def test_resubmission_diff_is_from_the_last_approved_revision(in_acme, acme_agent, staff_reviewer):
    template = MessageTemplateFactory(name="diffed")
    services.template_submit(template=template, actor=author(acme_agent))
    services.template_approve(template=template, actor=reviewer(staff_reviewer))
    template.refresh_from_db()
    template.review_state = ReviewState.SENT_TO_META  # as after a send
    template.meta_id = "990123"
    template.save(update_fields=["review_state", "meta_id"])
    services.template_edit(
        template=template,
        actor=author(acme_agent),
        category="utility",
        components=[
            {
                "type": "BODY",
                "text": "Hello {{1}}, your parcel has shipped. Thank you.",
                "example": {"body_text": [["Ana"]]},
            }
        ],
    )

    services.template_submit(template=template, actor=author(acme_agent))

    item = queue_rows(in_acme).get()
    assert item.data["diff_from"] == 1
    assert item.data["edit_of_meta_template"] is True
    changed = [pair for pair in item.data["diff"] if pair[0] in "+-"]
    assert changed == [
        ["-", "body: Hello {{1}}, your order has shipped. Thank you."],
        ["+", "body: Hello {{1}}, your parcel has shipped. Thank you."],
    ]
