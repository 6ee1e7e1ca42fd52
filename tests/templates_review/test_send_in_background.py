"""Approval answers at once; the template goes to Meta in a Celery task after the commit. The
queue shows it as sending, then gone (Meta has it) or with Meta's refusal in plain words and a
button to send again. Meta being busy or unreachable makes the task retry, not fail."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction

from portal.audit.models import AuditLog
from portal.celery import TenantSchemaRequired
from templates_review import services
from templates_review.choices import ReviewState
from templates_review.models import MessageTemplate
from templates_review.services import Actor, sending
from templates_review.tasks import template_send
from tenants.models import WorkItem, WorkKind
from tests.templates_review.conftest import in_schema, submit

DANGLING = [{"type": "BODY", "text": "Your code is {{1}}", "example": {"body_text": [["7"]]}}]


def fetch(client, template):
    return in_schema(client, lambda: MessageTemplate.objects.get(pk=template.pk))


def queue_page(web, staff):
    return web(None, staff).get("/staff/templates/").content.decode()


def test_queue_approval_answers_at_once_and_the_task_sends_it_after_commit(
    web,
    acme,
    acme_waba,
    acme_agent,
    staff_reviewer,
    meta_at_sim,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    template = submit(acme, acme_agent, name="sent_later")

    with django_capture_on_commit_callbacks() as callbacks:
        response = web(None, staff_reviewer).post(
            f"/staff/templates/acme/{template.pk}/approve/", follow=True
        )

    assert "sent_later approved; it is on its way to Meta." in response.content.decode()
    assert fetch(acme, template).review_state == ReviewState.APPROVED
    assert not [t for t in meta_at_sim.state.templates.values() if t["name"] == "sent_later"]
    assert "Sending to Meta…" in queue_page(web, staff_reviewer)

    for callback in callbacks:
        callback()

    template = fetch(acme, template)
    assert (template.review_state, template.meta_status, template.send_error) == (
        "sent_to_meta",
        "pending",
        "",
    )
    assert meta_at_sim.state.templates[template.meta_id]["name"] == "sent_later"
    assert not WorkItem.objects.filter(kind=WorkKind.TEMPLATE_REVIEW, client=acme).exists()
    row = in_schema(acme, lambda: AuditLog.objects.get(action="template.sent_to_meta"))
    assert row.actor_id == staff_reviewer.pk


def test_meta_refusal_shows_in_the_queue_and_send_again_queues_a_new_attempt(
    web,
    acme,
    acme_waba,
    acme_agent,
    staff_reviewer,
    meta_at_sim,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    template = submit(acme, acme_agent, name="refused_later", components=DANGLING)
    http = web(None, staff_reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        http.post(f"/staff/templates/acme/{template.pk}/approve/")

    page = queue_page(web, staff_reviewer)
    assert "Meta refused it: The template may not start or end with a parameter." in page
    assert "Send to Meta again" in page
    assert "Sending to Meta…" not in page
    assert fetch(acme, template).review_state == ReviewState.APPROVED

    with django_capture_on_commit_callbacks() as callbacks:
        http.post(f"/staff/templates/acme/{template.pk}/approve/")

    assert len(callbacks) == 1
    assert fetch(acme, template).send_error == ""
    assert "Sending to Meta…" in queue_page(web, staff_reviewer)
    assert (
        in_schema(acme, lambda: AuditLog.objects.filter(action="template.send_requested").count())
        == 1
    )


def test_meta_busy_or_unreachable_makes_the_task_retry_not_fail(
    in_acme, acme_agent, staff_reviewer, meta_at_sim, eager_tasks, settings
):
    settings.META_MAX_RETRIES = 0  # the client gives up at once; Celery retries
    meta_at_sim.configure(errors={"next": [{"kind": "503"}, {"kind": "80008"}]})
    template = submit(in_acme, acme_agent, name="busy_meta")
    services.template_approve(template=template, actor=Actor(staff_reviewer, "template_reviewer"))

    assert template_send.apply(args=[template.pk, staff_reviewer.pk]).get() == "sent"

    template.refresh_from_db()
    assert (template.review_state, template.send_error) == ("sent_to_meta", "")
    assert not AuditLog.objects.filter(action="template.send_failed").exists()


def test_the_task_is_safe_to_run_twice(in_acme, acme_agent, staff_reviewer, meta_at_sim):
    template = submit(in_acme, acme_agent, name="twice")
    services.template_approve(template=template, actor=Actor(staff_reviewer, "template_reviewer"))

    first = template_send.apply(args=[template.pk, staff_reviewer.pk]).get()
    second = template_send.apply(args=[template.pk, staff_reviewer.pk]).get()

    assert (first, second) == ("sent", "nothing to send")
    assert len([t for t in meta_at_sim.state.templates.values() if t["name"] == "twice"]) == 1


def test_the_task_in_another_clients_schema_touches_nothing(
    acme, globex, acme_waba, acme_agent, staff_reviewer, meta_at_sim
):
    template = submit(acme, acme_agent, name="acme_own")
    in_schema(
        acme,
        lambda: services.template_approve(
            template=template, actor=Actor(staff_reviewer, "template_reviewer"), client=acme
        ),
    )
    connection.set_schema_to_public()

    result = template_send.apply(
        args=[template.pk, staff_reviewer.pk], headers={"_schema_name": globex.schema_name}
    ).get()

    assert result == "nothing to send"
    assert fetch(acme, template).review_state == ReviewState.APPROVED
    assert not meta_at_sim.state.templates or all(
        t["name"] != "acme_own" for t in meta_at_sim.state.templates.values()
    )
    with pytest.raises(TenantSchemaRequired):
        template_send.apply(args=[template.pk, staff_reviewer.pk]).get()


def test_only_reviewers_may_ask_for_a_send_again(in_acme, acme_agent, staff_manager, acme_owner):
    template = submit(in_acme, acme_agent, name="no_send")
    MessageTemplate.objects.filter(pk=template.pk).update(
        review_state=ReviewState.APPROVED, send_error="Meta refused."
    )
    for actor in (Actor(staff_manager, "account_manager"), Actor(acme_owner, "owner")):
        with pytest.raises(PermissionDenied):
            services.template_send_request(template=template, actor=actor)
    template.refresh_from_db()
    assert template.send_error == "Meta refused."


def test_a_task_that_loses_the_race_to_another_send_ends_quietly(
    in_acme, acme_agent, staff_reviewer, meta_at_sim, monkeypatch
):
    template = submit(in_acme, acme_agent, name="raced")
    services.template_approve(template=template, actor=Actor(staff_reviewer, "template_reviewer"))
    create = sending._create_at_meta

    def create_while_another_send_commits(**kwargs):
        created = create(**kwargs)
        MessageTemplate.objects.filter(pk=template.pk).update(
            review_state=ReviewState.SENT_TO_META, meta_id=created.id
        )
        return created

    monkeypatch.setattr(sending, "_create_at_meta", create_while_another_send_commits)

    assert template_send.apply(args=[template.pk, staff_reviewer.pk]).get() == "nothing to send"
    assert not AuditLog.objects.filter(action="template.sent_to_meta").exists()


def test_a_rolled_back_approval_sends_nothing(
    in_acme, acme_agent, staff_reviewer, django_capture_on_commit_callbacks
):
    template = submit(in_acme, acme_agent, name="rolled_back")

    def approve_then_fail():
        with transaction.atomic():
            services.template_approve(
                template=template, actor=Actor(staff_reviewer, "template_reviewer")
            )
            raise RuntimeError("something after the approval failed")

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError):
        approve_then_fail()

    assert callbacks == []
    assert MessageTemplate.objects.get(pk=template.pk).review_state == ReviewState.SUBMITTED
    assert WorkItem.objects.get(kind=WorkKind.TEMPLATE_REVIEW).status == ReviewState.SUBMITTED


def test_a_send_whose_reviewer_lost_the_role_stops_with_a_reason_not_stuck_sending(
    in_acme, acme_agent, staff_reviewer, meta_at_sim
):
    template = submit(in_acme, acme_agent, name="demoted")
    services.template_approve(template=template, actor=Actor(staff_reviewer, "template_reviewer"))
    type(staff_reviewer).objects.filter(pk=staff_reviewer.pk).update(staff_role="account_manager")

    assert template_send.apply(args=[template.pk, staff_reviewer.pk]).get() == "refused"

    template.refresh_from_db()
    assert (template.review_state, template.sending) == (ReviewState.APPROVED, False)
    assert template.send_error == (
        "The reviewer who approved it may no longer send templates to Meta; a template "
        "reviewer can send it again."
    )
    item = WorkItem.objects.get(kind=WorkKind.TEMPLATE_REVIEW, client=in_acme)
    assert item.data["send_error"] == template.send_error
    assert not [t for t in meta_at_sim.state.templates.values() if t["name"] == "demoted"]
