"""Template tasks: sending an approved template to Meta, away from the reviewer's request."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from portal.celery import TenantOnlyTask, app
from portal.meta.errors import MetaRateLimited
from templates_review import services
from templates_review.choices import ReviewState
from templates_review.models import MessageTemplate
from tenants.actors import Actor
from tenants.models import User


@app.task(
    base=TenantOnlyTask, bind=True, name="templates_review.tasks.template_send", max_retries=5
)
def template_send(self, template_id: int, reviewer_id: int | None) -> str:
    """Send an approved template to Meta for the reviewer who approved it. Safe to run twice:
    only an approved template with no recorded refusal is sent. Meta busy or unreachable: try
    again later (the last attempt records Meta's answer in plain words)."""
    template = MessageTemplate.objects.filter(pk=template_id).first()
    if template is None or template.review_state != ReviewState.APPROVED or template.send_error:
        return "nothing to send"  # sent already, or refused and waiting for staff
    reviewer = User.objects.filter(pk=reviewer_id).first() if reviewer_id else None
    actor = Actor.staff(reviewer) if reviewer is not None else Actor(None, "")
    try:
        with services.meta_graph() as graph:
            services.template_send_to_meta(
                template=template,
                actor=actor,
                graph=graph,
                retry_later=self.request.retries < self.max_retries,
            )
    except MetaRateLimited as exc:
        raise self.retry(countdown=min(max(exc.retry_after or 60, 1), 3600)) from None
    except services.TemplateSendFailed:
        return "refused"
    except services.TransitionNotAllowed:  # another send got there first
        return "nothing to send"
    except PermissionDenied:  # the reviewer who approved it may no longer send
        services.template_send_stopped(template=template, reason=services.REVIEWER_GONE)
        return "refused"
    return "sent"
