"""Approval sends the template to the Meta simulator over real HTTP: a creation, Meta's review
(approval and rejection) coming back as webhooks, Meta's refusals in plain words, and Meta's
edit rules (in review, once per 24 hours for approved templates) refused by the simulator."""

from __future__ import annotations

import pytest
from django.db import connection

from compliance.models import Alert
from portal.audit.models import AuditLog
from portal.meta.client import GraphClient
from portal.meta.services import webhook_delivery_process, webhook_delivery_store
from portal.meta.types import TemplateCategory
from templates_review import services
from templates_review.choices import ReviewState
from templates_review.models import MessageTemplate
from templates_review.services import Actor, TemplateSendFailed
from tenants.models import WorkItem, WorkKind
from tests.assets import ACME_WABA
from tests.factories import MessageTemplateFactory
from tests.templates_review.conftest import TOKEN, approve_and_send
from tests.webhooks import body_of

GOOD_BODY = {
    "type": "BODY",
    "text": "Hello {{1}}, your order {{2}} has shipped today. Thank you for shopping with us.",
    "example": {"body_text": [["Ana", "A-1001"]]},
}


def author(user):
    return Actor(principal=user, role="agent", label=user.email)


def reviewer(user):
    return Actor(principal=user, role="template_reviewer", label=user.email)


def deliver_all(client, envelopes):
    """Meta's webhooks through our intake and processing (as the worker would)."""
    connection.set_schema_to_public()
    for payload in envelopes:
        delivery_id = webhook_delivery_store(body=body_of(payload))
        webhook_delivery_process(delivery_id=delivery_id)
    connection.set_tenant(client)


def submitted(name, user, components=None):
    template = MessageTemplateFactory(name=name, components=components or [dict(GOOD_BODY)])
    return services.template_submit(template=template, actor=author(user))


def test_approval_creates_the_template_at_meta_and_meta_approves_it(
    in_acme, sim, graph, acme_agent, staff_reviewer
):
    template = submitted("shipping_notice", acme_agent)

    approve_and_send(template=template, actor=reviewer(staff_reviewer), graph=graph)

    template.refresh_from_db()
    at_meta = sim.state.templates[template.meta_id]
    assert (at_meta["name"], at_meta["status"], at_meta["components"]) == (
        "shipping_notice",
        "PENDING",
        [GOOD_BODY],
    )
    assert (template.review_state, template.meta_status, template.send_error) == (
        "sent_to_meta",
        "pending",
        "",
    )
    assert template.display_status == "In Meta review"
    assert not WorkItem.objects.filter(kind=WorkKind.TEMPLATE_REVIEW, client=in_acme).exists()
    assert AuditLog.objects.filter(action="template.sent_to_meta").get().after["edit"] is False

    deliver_all(in_acme, sim.advance(60))  # the simulator's review delay

    template.refresh_from_db()
    assert (template.meta_status, template.display_status) == ("approved", "Approved")
    assert template.history.filter(meta_status="approved").exists()


def test_meta_rejection_is_recorded_with_its_reason_and_the_client_is_alerted(
    in_acme, sim, graph, acme_agent, staff_reviewer
):
    template = submitted("spring_promo_code", acme_agent)  # the demo rejects *promo* names
    approve_and_send(template=template, actor=reviewer(staff_reviewer), graph=graph)

    deliver_all(in_acme, sim.advance(60))

    template.refresh_from_db()
    assert (template.review_state, template.meta_status, template.rejection_reason) == (
        "sent_to_meta",
        "rejected",
        "PROMOTIONAL",
    )
    alert = Alert.objects.select_related("event").get()
    assert alert.event.title == "Template spring_promo_code rejected: promotional"
    # The client may edit a template Meta rejected: it becomes a draft again.
    services.template_edit(
        template=template,
        actor=author(acme_agent),
        category="utility",
        components=[dict(GOOD_BODY)],
    )
    template.refresh_from_db()
    assert template.review_state == ReviewState.DRAFT


def test_meta_refusal_at_creation_is_shown_in_plain_words_and_the_item_stays_queued(
    in_acme, sim, graph, acme_agent, staff_reviewer
):
    dangling = {"type": "BODY", "text": "Your code is {{1}}", "example": {"body_text": [["7"]]}}
    template = submitted("code_notice", acme_agent, components=[dangling])

    with pytest.raises(TemplateSendFailed) as refused:
        approve_and_send(template=template, actor=reviewer(staff_reviewer), graph=graph)

    assert str(refused.value) == "The template may not start or end with a parameter."
    template.refresh_from_db()
    assert (template.review_state, template.meta_id, template.send_error) == (
        "approved",
        None,
        "The template may not start or end with a parameter.",
    )
    item = WorkItem.objects.get(kind=WorkKind.TEMPLATE_REVIEW, client=in_acme)
    assert (item.status, item.data["send_error"]) == ("approved", str(refused.value))
    row = AuditLog.objects.get(action="template.send_failed")
    assert (row.after["code"], row.after["subcode"]) == (100, 2388299)


def meta_template(name="order_update", meta_id="3110000001"):
    """The demo WABA's approved template, as the sync stores it."""
    template = MessageTemplateFactory(
        name=name,
        review_state=ReviewState.SENT_TO_META,
        meta_id=meta_id,
        meta_status="approved",
    )
    return template


def edit_and_send(template, text, acme_agent, staff_reviewer, graph):
    services.template_edit(
        template=template,
        actor=author(acme_agent),
        category="utility",
        components=[{**GOOD_BODY, "text": text}],
    )
    services.template_submit(template=template, actor=author(acme_agent))
    return approve_and_send(template=template, actor=reviewer(staff_reviewer), graph=graph)


def test_edit_of_an_approved_template_goes_to_meta_as_an_edit(
    in_acme, sim, graph, acme_agent, staff_reviewer
):
    template = meta_template()
    text = "Hello {{1}}, order {{2}} is on its way to you now. Thank you for waiting."

    edit_and_send(template, text, acme_agent, staff_reviewer, graph)

    at_meta = sim.state.templates["3110000001"]
    assert (at_meta["status"], at_meta["components"][0]["text"]) == ("PENDING", text)
    template.refresh_from_db()
    assert (template.review_state, template.meta_status, template.meta_id) == (
        "sent_to_meta",
        "pending",
        "3110000001",
    )
    assert AuditLog.objects.filter(action="template.sent_to_meta").get().after["edit"] is True


def test_second_edit_within_24_hours_is_refused_by_meta_in_plain_words(
    in_acme, sim, graph, acme_agent, staff_reviewer
):
    template = meta_template()
    edit_and_send(
        template,
        "Hello {{1}}, order {{2}} is on its way to you now. Thank you for waiting.",
        acme_agent,
        staff_reviewer,
        graph,
    )
    deliver_all(in_acme, sim.advance(60))  # Meta approves the first edit
    template.refresh_from_db()
    assert template.meta_status == "approved"

    with pytest.raises(TemplateSendFailed) as refused:
        edit_and_send(
            template,
            "Hi {{1}}, your order {{2}} left our warehouse today. Thank you for waiting.",
            acme_agent,
            staff_reviewer,
            graph,
        )

    assert str(refused.value) == (
        "Meta allows an approved template to be edited once in 24 hours and 10 times in 30 "
        "days, and this template has reached that limit; send it again later."
    )
    template.refresh_from_db()
    assert (template.review_state, template.send_error) == ("approved", str(refused.value))
    assert sim.state.templates["3110000001"]["status"] == "APPROVED"  # Meta kept its version
    # A day later Meta accepts the same approved revision: staff send it again.
    sim.advance(24 * 3600)
    services.template_send_to_meta(template=template, actor=reviewer(staff_reviewer), graph=graph)
    template.refresh_from_db()
    assert (template.review_state, template.send_error) == ("sent_to_meta", "")


def test_edit_while_meta_is_reviewing_is_refused(in_acme, sim, graph, acme_agent, staff_reviewer):
    template = meta_template()
    edit_and_send(
        template,
        "Hello {{1}}, order {{2}} is on its way to you now. Thank you for waiting.",
        acme_agent,
        staff_reviewer,
        graph,
    )
    template.refresh_from_db()

    with pytest.raises(TemplateSendFailed) as refused:
        edit_and_send(
            template,
            "Hi {{1}}, your order {{2}} left our warehouse today. Thank you for waiting.",
            acme_agent,
            staff_reviewer,
            graph,
        )

    assert str(refused.value) == (
        "Meta cannot edit the template while it is pending: only approved, rejected or paused "
        "templates can be edited."
    )
    assert MessageTemplate.objects.get(pk=template.pk).review_state == "approved"


def test_category_change_of_an_approved_template_is_refused_in_its_own_words(
    in_acme, sim, graph, acme_agent, staff_reviewer
):
    template = meta_template()
    services.template_edit(
        template=template,
        actor=author(acme_agent),
        category="marketing",
        components=[dict(GOOD_BODY)],
    )
    services.template_submit(template=template, actor=author(acme_agent))

    with pytest.raises(TemplateSendFailed) as refused:
        approve_and_send(template=template, actor=reviewer(staff_reviewer), graph=graph)

    assert str(refused.value) == (
        "Meta does not allow the category of an approved template to change; keep it utility, "
        "or create a new template in the marketing category."
    )
    assert sim.state.templates["3110000001"]["category"] == "UTILITY"


def test_create_retried_after_a_lost_answer_is_recognised_as_the_template_meta_has(
    in_acme, sim, acme_agent, staff_reviewer
):
    template = submitted("lost_answer", acme_agent)
    # Meta creates the template but its answer comes too late; the client's retry then hears
    # "already exists" (2388024).
    sim.configure(
        errors={"next": [{"kind": "timeout", "delay": 1.0, "match": "message_templates"}]}
    )
    with GraphClient(
        token=TOKEN, base_url=sim.url, timeout=0.3, max_retries=2, sleep=lambda s: None
    ) as impatient:
        approve_and_send(template=template, actor=reviewer(staff_reviewer), graph=impatient)

    [at_meta] = [t for t in sim.state.templates.values() if t["name"] == "lost_answer"]
    template.refresh_from_db()
    assert (template.review_state, template.meta_id, template.meta_status) == (
        "sent_to_meta",
        at_meta["id"],
        "pending",
    )
    assert template.send_error == ""
    assert AuditLog.objects.get(action="template.sent_to_meta").after["meta_id"] == at_meta["id"]


def test_a_different_template_of_the_same_name_at_meta_is_still_a_refusal(
    in_acme, sim, graph, acme_agent, staff_reviewer
):
    graph.create_template(
        ACME_WABA,
        name="taken_name",
        language="en_US",
        category=TemplateCategory.UTILITY,
        components=[{**GOOD_BODY, "text": "Someone else wrote {{1}} and {{2}} here, long ago."}],
    )
    template = submitted("taken_name", acme_agent)

    with pytest.raises(TemplateSendFailed) as refused:
        approve_and_send(template=template, actor=reviewer(staff_reviewer), graph=graph)

    assert str(refused.value) == "A template with this name already exists in this language."
    template.refresh_from_db()
    assert (template.review_state, template.meta_id) == ("approved", None)
