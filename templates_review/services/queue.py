"""The staff queue's row of a template (`tenants.WorkItem`, kind template_review), kept in step
with the template in the same transaction as the change."""

from __future__ import annotations

from django.utils import timezone

from templates_review.choices import QUEUED_STATES
from templates_review.diff import line_diff, revision_lines
from templates_review.linter import Severity, lint_template
from templates_review.models import MessageTemplate
from templates_review.services.common import _latest_revision
from tenants.models import Client, WorkItem, WorkKind
from tenants.services import work_items_upsert

MAX_QUEUE_FINDINGS = 12


def _queue_sync(*, template: MessageTemplate, client: Client) -> None:
    """Mirror the template into the public staff queue (same transaction): queued states get
    one upserted row with what the queue page shows; other states have none."""
    if template.review_state not in QUEUED_STATES:
        WorkItem.objects.filter(
            kind=WorkKind.TEMPLATE_REVIEW, client=client, object_id=str(template.pk)
        ).delete()
        return
    revision = _latest_revision(template)
    content = revision if revision is not None else template
    findings = lint_template(
        name=content.name,
        language=content.language,
        category=str(content.category).upper(),
        components=list(content.components),
        parameter_format=content.parameter_format,
    )
    approved = template.approved_revision
    if approved is not None and revision is not None and approved.pk == revision.pk:
        approved = None
    diff = line_diff(
        revision_lines(approved) if approved is not None else None,
        revision_lines(content),
    )
    waiting_since = template.submitted_at or timezone.now()
    item = WorkItem(
        kind=WorkKind.TEMPLATE_REVIEW,
        client=client,
        object_id=str(template.pk),
        title=content.name[:200],
        subtitle=f"{content.language} · {str(content.category).lower()} · "
        f"{template.account.name or template.account.meta_id}"[:200],
        status=template.review_state,
        band="error" if any(f.severity == Severity.ERROR for f in findings) else "",
        sort_key=int(waiting_since.timestamp()),
        data={
            "revision": revision.number if revision else 0,
            "edit_of_meta_template": bool(template.meta_id),
            "findings": [
                {
                    "severity": str(f.severity),
                    "code": f.code,
                    "message": f.message,
                    "component": f.component,
                }
                for f in findings[:MAX_QUEUE_FINDINGS]
            ],
            "findings_total": len(findings),
            "diff": [list(pair) for pair in diff],
            "diff_from": approved.number if approved is not None else None,
            "send_error": template.send_error,
            # The staff queue's client-side filters and WhatsApp preview read these.
            "category": str(content.category).lower(),
            "components": list(content.components),
            "parameter_format": content.parameter_format,
        },
        updated_at=timezone.now(),
    )
    work_items_upsert([item])
