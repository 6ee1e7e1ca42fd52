"""Writes of the template review workflow. Run inside the client's schema.

One service per move of `choices.TRANSITIONS`: each locks the template, checks the move against
the table and the actor's role, saves with `update_fields`, writes an audit row and keeps the
staff queue row (`tenants.WorkItem`, kind template_review) in step, all in one transaction, so a
rolled-back change leaves no queue row behind. Sending to Meta talks HTTP outside any lock and
records the outcome in a transaction of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from compliance.models import WhatsAppAccount
from portal.audit.services import audit_record
from portal.celery import enqueue_for_schema
from portal.meta import types as meta
from portal.meta.client import GraphClient
from portal.meta.errors import MetaError, MetaRateLimited, MetaTemplateEditRefused
from portal.meta.types import CreatedTemplate
from templates_review.choices import (
    COMMENTERS,
    EDIT_TARGET,
    QUEUED_STATES,
    STAFF_ROLES,
    TRANSITIONS,
    ReviewAction,
    ReviewReason,
    ReviewState,
)
from templates_review.diff import line_diff, revision_lines
from templates_review.linter import Severity, lint_template
from templates_review.models import MessageTemplate, ReviewComment, TemplateRevision
from tenants.models import Client, WorkItem, WorkKind

MAX_QUEUE_FINDINGS = 12


@dataclass(frozen=True)
class Actor:
    """Who acts and in which role: a client role, `api_key`, or a BSP staff role."""

    principal: Any  # a User, an API key principal, or None (the system)
    role: str
    label: str = ""

    @property
    def user(self):
        return self.principal if getattr(self.principal, "_meta", None) else None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


class TransitionNotAllowed(Exception):
    """The template is not in a state this move starts from."""


def transition_check(*, action: ReviewAction, state: str | None, role: str) -> ReviewState | None:
    """The state after `action`, or an exception: PermissionDenied for the wrong role,
    TransitionNotAllowed for the wrong state. Role first, so nobody learns states they may not
    change."""
    transition = TRANSITIONS[action]
    if role not in transition.roles:
        raise PermissionDenied(f"Your role may not {action.label.lower()} templates.")
    if state not in transition.sources:
        shown = ReviewState(state).label.lower() if state else "not created"
        raise TransitionNotAllowed(
            f"A template that is {shown} cannot be {_past(action)}."
            if action != ReviewAction.CREATE
            else "This template exists already."
        )
    if action == ReviewAction.EDIT:
        return EDIT_TARGET[state]
    return transition.target


def _past(action: ReviewAction) -> str:
    return {
        ReviewAction.EDIT: "edited",
        ReviewAction.SUBMIT: "submitted",
        ReviewAction.REQUEST_CHANGES: "sent back for changes",
        ReviewAction.REJECT: "rejected",
        ReviewAction.APPROVE: "approved",
        ReviewAction.SEND: "sent to Meta",
    }.get(action, action.label.lower())


def _client(client: Client | None) -> Client:
    return client if client is not None else Client.objects.get(schema_name=connection.schema_name)


def _lock(template: MessageTemplate) -> MessageTemplate:
    return MessageTemplate.objects.select_for_update().get(pk=template.pk)


def _latest_revision(template: MessageTemplate) -> TemplateRevision | None:
    return template.revisions.order_by("-number").first()


def _revision_add(
    *, template: MessageTemplate, actor: Actor, content: dict[str, Any]
) -> TemplateRevision:
    template.revision_count += 1
    return TemplateRevision.objects.create(
        template=template,
        number=template.revision_count,
        author=actor.user,
        author_label=actor.label or str(actor.principal or "system"),
        **content,
    )


def _audit(action: str, *, actor: Actor, client: Client, template, before=None, after=None):
    audit_record(
        action=f"template.{action}",
        actor=actor.principal,
        client=client,
        target=template,
        before=before,
        after=after,
    )


def _content(
    *,
    name: str,
    language: str,
    category: str,
    parameter_format: str,
    components: list[dict],
) -> dict[str, Any]:
    category = meta.TemplateCategory.from_meta(category)
    if category == meta.TemplateCategory.UNKNOWN:
        raise ValidationError({"category": "Choose marketing, utility or authentication."})
    if parameter_format not in ("positional", "named"):
        raise ValidationError({"parameter_format": "Parameters are positional or named."})
    name, language = name.strip(), language.strip()
    if not name or not language:
        raise ValidationError("A template needs a name and a language.")
    return {
        "name": name,
        "language": language,
        "category": category.value,
        "parameter_format": parameter_format,
        "components": list(components),
    }


# --- the staff queue ----------------------------------------------------------------------


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
        },
        updated_at=timezone.now(),
    )
    WorkItem.objects.bulk_create(
        [item],
        update_conflicts=True,
        unique_fields=["kind", "client", "object_id"],
        update_fields=["title", "subtitle", "status", "band", "sort_key", "data", "updated_at"],
    )


# --- client moves -------------------------------------------------------------------------


def template_create_draft(
    *,
    actor: Actor,
    account: WhatsAppAccount,
    name: str,
    language: str,
    category: str,
    components: list[dict],
    parameter_format: str = "positional",
    client: Client | None = None,
) -> MessageTemplate:
    """A new draft with its first revision."""
    state = transition_check(action=ReviewAction.CREATE, state=None, role=actor.role)
    content = _content(
        name=name,
        language=language,
        category=category,
        parameter_format=parameter_format,
        components=components,
    )
    client = _client(client)
    with transaction.atomic():
        if MessageTemplate.objects.filter(
            account=account, name=content["name"], language=content["language"]
        ).exists():
            raise ValidationError(
                {"name": f"A template {content['name']} in {content['language']} exists already."}
            )
        template = MessageTemplate.objects.create(account=account, review_state=state, **content)
        _revision_add(template=template, actor=actor, content=content)
        template.save(update_fields=["revision_count"])
        _audit("created", actor=actor, client=client, template=template, after=_summary(template))
    return template


def template_edit(
    *,
    template: MessageTemplate,
    actor: Actor,
    components: list[dict],
    category: str,
    name: str | None = None,
    language: str | None = None,
    parameter_format: str | None = None,
    client: Client | None = None,
) -> MessageTemplate:
    """A new revision. Name, language and parameter format are fixed once Meta has the
    template (Meta edits change only the category and the components)."""
    client = _client(client)
    with transaction.atomic():
        locked = _lock(template)
        target = transition_check(
            action=ReviewAction.EDIT, state=locked.review_state, role=actor.role
        )
        at_meta = bool(locked.meta_id)
        current = _latest_revision(locked) or locked
        content = _content(
            name=current.name if at_meta or name is None else name,
            language=current.language if at_meta or language is None else language,
            category=category,
            parameter_format=current.parameter_format
            if at_meta or parameter_format is None
            else parameter_format,
            components=components,
        )
        if (
            not at_meta
            and (content["name"], content["language"]) != (locked.name, locked.language)
            and MessageTemplate.objects.filter(
                account_id=locked.account_id, name=content["name"], language=content["language"]
            )
            .exclude(pk=locked.pk)
            .exists()
        ):
            raise ValidationError(
                {"name": f"A template {content['name']} in {content['language']} exists already."}
            )
        before = {"state": locked.review_state, "revision": locked.revision_count}
        revision = _revision_add(template=locked, actor=actor, content=content)
        fields = ["revision_count", "review_state", "updated_at"]
        if not at_meta:  # the row mirrors the draft until Meta has it
            for key, value in content.items():
                setattr(locked, key, value)
            fields += list(content)
        locked.review_state = target
        locked.updated_at = timezone.now()
        locked.save(update_fields=fields)
        _audit(
            "edited",
            actor=actor,
            client=client,
            template=locked,
            before=before,
            after={"state": locked.review_state, "revision": revision.number},
        )
    return locked


def template_submit(
    *, template: MessageTemplate, actor: Actor, client: Client | None = None
) -> MessageTemplate:
    """Hand the latest revision to the BSP's reviewers: the template joins the staff queue."""
    client = _client(client)
    with transaction.atomic():
        locked = _lock(template)
        before = locked.review_state
        locked.review_state = transition_check(
            action=ReviewAction.SUBMIT, state=before, role=actor.role
        )
        locked.submitted_at = timezone.now()
        locked.updated_at = locked.submitted_at
        locked.send_error = ""
        locked.save(update_fields=["review_state", "submitted_at", "updated_at", "send_error"])
        _audit(
            "submitted",
            actor=actor,
            client=client,
            template=locked,
            before={"state": before},
            after={"state": locked.review_state, "revision": locked.revision_count},
        )
        _queue_sync(template=locked, client=client)
    return locked


def review_comment_add(
    *, template: MessageTemplate, actor: Actor, body: str, client: Client | None = None
) -> ReviewComment:
    if actor.role not in COMMENTERS:
        raise PermissionDenied("Your role may not comment on templates.")
    body = body.strip()
    if not body:
        raise ValidationError({"body": "Write a comment first."})
    client = _client(client)
    with transaction.atomic():
        comment = ReviewComment.objects.create(
            template=template,
            revision=_latest_revision(template),
            author=actor.user,
            author_label=actor.label or str(actor.principal or ""),
            by_staff=actor.is_staff,
            body=body,
        )
        audit_record(
            action="template.commented",
            actor=actor.principal,
            client=client,
            target=comment,
            after={"template": template.pk},
        )
    return comment


# --- reviewer moves -----------------------------------------------------------------------


def _decide(
    *,
    template: MessageTemplate,
    actor: Actor,
    action: ReviewAction,
    audit_action: str,
    reason: ReviewReason | None,
    comment: str,
    client: Client | None,
) -> MessageTemplate:
    client = _client(client)
    with transaction.atomic():
        locked = _lock(template)
        before = locked.review_state
        target = transition_check(action=action, state=before, role=actor.role)
        fields = ["review_state", "updated_at"]
        locked.review_state = target
        locked.updated_at = timezone.now()
        if action == ReviewAction.APPROVE:
            locked.approved_revision = _latest_revision(locked)
            locked.send_error = ""
            fields += ["approved_revision", "send_error"]
        locked.save(update_fields=fields)
        if reason is not None or comment.strip():
            ReviewComment.objects.create(
                template=locked,
                revision=_latest_revision(locked),
                author=actor.user,
                author_label=actor.label or str(actor.principal or ""),
                by_staff=True,
                body=comment.strip(),
                reason=reason.value if reason is not None else "",
                action=action.value,
            )
        after: dict[str, Any] = {"state": target, "revision": locked.revision_count}
        if reason is not None:
            after |= {"reason": reason.value, "meta_reason": reason.meta_reason.value}
        _audit(
            audit_action,
            actor=actor,
            client=client,
            template=locked,
            before={"state": before},
            after=after,
        )
        _queue_sync(template=locked, client=client)
    return locked


def template_request_changes(
    *,
    template: MessageTemplate,
    actor: Actor,
    reason: ReviewReason,
    comment: str = "",
    client: Client | None = None,
) -> MessageTemplate:
    return _decide(
        template=template,
        actor=actor,
        action=ReviewAction.REQUEST_CHANGES,
        audit_action="changes_requested",
        reason=ReviewReason(reason),
        comment=comment,
        client=client,
    )


def template_reject(
    *,
    template: MessageTemplate,
    actor: Actor,
    reason: ReviewReason,
    comment: str = "",
    client: Client | None = None,
) -> MessageTemplate:
    return _decide(
        template=template,
        actor=actor,
        action=ReviewAction.REJECT,
        audit_action="rejected",
        reason=ReviewReason(reason),
        comment=comment,
        client=client,
    )


def template_approve(
    *, template: MessageTemplate, actor: Actor, comment: str = "", client: Client | None = None
) -> MessageTemplate:
    """The BSP approves the latest revision. After the commit a task sends it to Meta
    (`tasks.template_send`), so the reviewer never waits on Meta; until Meta has it, it stays in
    the queue, shown as sending, or with Meta's refusal."""
    client = _client(client)
    with transaction.atomic():
        approved = _decide(
            template=template,
            actor=actor,
            action=ReviewAction.APPROVE,
            audit_action="approved",
            reason=None,
            comment=comment,
            client=client,
        )
        _send_later(template=approved, actor=actor, client=client)
    return approved


def template_send_request(
    *, template: MessageTemplate, actor: Actor, client: Client | None = None
) -> MessageTemplate:
    """Staff ask for another attempt to send an approved template to Meta (after Meta refused
    it, or when a send seems stuck): the refusal is cleared and a task sends it again."""
    client = _client(client)
    with transaction.atomic():
        locked = _lock(template)
        transition_check(action=ReviewAction.SEND, state=locked.review_state, role=actor.role)
        before = locked.send_error
        locked.send_error = ""
        locked.updated_at = timezone.now()
        locked.save(update_fields=["send_error", "updated_at"])
        _audit(
            "send_requested",
            actor=actor,
            client=client,
            template=locked,
            before={"send_error": before},
            after={"state": locked.review_state},
        )
        _queue_sync(template=locked, client=client)
        _send_later(template=locked, actor=actor, client=client)
    return locked


def _send_later(*, template: MessageTemplate, actor: Actor, client: Client) -> None:
    from templates_review.tasks import template_send

    reviewer_id = actor.user.pk if actor.user is not None else None
    transaction.on_commit(
        lambda: enqueue_for_schema(template_send, client.schema_name, template.pk, reviewer_id),
        robust=True,  # the approval stands; "Send to Meta again" queues another attempt
    )


class TemplateSendFailed(Exception):
    """Meta refused the template or could not be reached; `str()` is in plain words."""


def meta_error_text(
    exc: MetaError, *, template: MessageTemplate, new_category: str | None = None
) -> str:
    """What Meta's refusal means for this template, in plain words. `new_category`: the
    category an edit asked for, if it differs from Meta's."""
    if isinstance(exc, MetaTemplateEditRefused):
        approved = template.meta_status == meta.TemplateStatus.APPROVED
        if approved and new_category:
            return (
                "Meta does not allow the category of an approved template to change; keep it "
                f"{str(template.category).lower()}, or create a new template in the "
                f"{str(new_category).lower()} category."
            )
        if approved:
            return (
                "Meta allows an approved template to be edited once in 24 hours and 10 times "
                "in 30 days, and this template has reached that limit; send it again later."
            )
        return (
            f"Meta cannot edit the template while it is "
            f"{template.get_meta_status_display().lower()}: only approved, rejected or paused "
            "templates can be edited."
        )
    return exc.plain_message


# "Content in this language already exists" (meta-platform.md; the simulator answers it too).
ALREADY_EXISTS_SUBCODE = 2388024


def _texts(components) -> list[tuple[str, str]]:
    """What a template says, part by part: enough to tell our template from another of the
    same name, whatever Meta adds to the components it stores."""
    return [
        (str(c.get("type", "")).upper(), str(c.get("text") or ""))
        for c in components
        if isinstance(c, dict)
    ]


def _create_at_meta(
    *, graph: GraphClient, template: MessageTemplate, revision: TemplateRevision
) -> CreatedTemplate:
    """Create the revision at Meta. A create whose answer was lost and that was sent again
    hears "already exists": if the template Meta has under this name and language says what
    the revision says, it is ours and the create succeeded; anything else is a refusal."""
    try:
        return graph.create_template(
            template.account.meta_id,
            name=revision.name,
            language=revision.language,
            category=meta.TemplateCategory(revision.category),
            components=list(revision.components),
            parameter_format=revision.parameter_format,
        )
    except MetaError as exc:
        if exc.subcode != ALREADY_EXISTS_SUBCODE:
            raise
        found = next(
            (
                info
                for info in graph.list_templates(template.account.meta_id)
                if (info.name, info.language) == (revision.name, revision.language)
            ),
            None,
        )
        if found is None or _texts(found.components) != _texts(revision.components):
            raise
        return CreatedTemplate(id=found.id, status=found.status, category=found.category)


def template_send_to_meta(
    *,
    template: MessageTemplate,
    actor: Actor,
    graph: GraphClient,
    client: Client | None = None,
    retry_later: bool = False,
) -> MessageTemplate:
    """Create the approved revision at Meta, or edit the template Meta has (Meta's edit rules
    apply). On success the template is in Meta's review (PENDING) and leaves the staff queue; on
    a refusal it stays approved in the queue with Meta's reason in plain words, and
    TemplateSendFailed is raised. With `retry_later`, Meta being busy or unreachable
    (MetaRateLimited) is not a refusal: it is raised as is, for the caller to try again."""
    client = _client(client)
    current = MessageTemplate.objects.select_related("approved_revision", "account").get(
        pk=template.pk
    )
    transition_check(action=ReviewAction.SEND, state=current.review_state, role=actor.role)
    revision = current.approved_revision
    if revision is None:
        raise TransitionNotAllowed("No approved revision to send.")
    category = meta.TemplateCategory(revision.category)
    # Meta refuses category edits of approved templates: send the category only if it changed.
    new_category = category if current.meta_id and category != current.category else None
    try:
        if current.meta_id:
            graph.edit_template(
                current.meta_id, components=list(revision.components), category=new_category
            )
            created = None
        else:
            created = _create_at_meta(graph=graph, template=current, revision=revision)
    except MetaError as exc:
        if retry_later and isinstance(exc, MetaRateLimited):
            raise
        message = meta_error_text(exc, template=current, new_category=new_category)
        with transaction.atomic():
            locked = _lock(current)
            if locked.review_state != ReviewState.APPROVED:  # a concurrent send got through
                raise TemplateSendFailed(message) from exc
            locked.send_error = message[:500]
            locked.save(update_fields=["send_error"])
            _audit(
                "send_failed",
                actor=actor,
                client=client,
                template=locked,
                after={"code": exc.code, "subcode": exc.subcode, "message": message},
            )
            _queue_sync(template=locked, client=client)
        raise TemplateSendFailed(message) from exc
    with transaction.atomic():
        locked = _lock(current)
        before = locked.review_state
        locked.review_state = transition_check(
            action=ReviewAction.SEND, state=before, role=actor.role
        )
        now = timezone.now()
        locked.sent_at = now
        locked.updated_at = now
        locked.send_error = ""
        locked.meta_status = (
            created.status
            if created is not None and created.status != meta.TemplateStatus.UNKNOWN
            else meta.TemplateStatus.PENDING
        )
        locked.components = list(revision.components)
        locked.category = (
            created.category
            if created is not None and created.category != meta.TemplateCategory.UNKNOWN
            else revision.category
        )
        fields = ["review_state", "sent_at", "updated_at", "send_error", "meta_status"]
        fields += ["components", "category"]
        if created is not None:
            locked.meta_id = created.id
            fields.append("meta_id")
        locked.save(update_fields=fields)
        _audit(
            "sent_to_meta",
            actor=actor,
            client=client,
            template=locked,
            before={"state": before},
            after={
                "state": locked.review_state,
                "meta_id": locked.meta_id,
                "revision": revision.number,
                "edit": created is None,
            },
        )
        _queue_sync(template=locked, client=client)
    return locked


def _summary(template: MessageTemplate) -> dict:
    return {
        "name": template.name,
        "language": template.language,
        "category": template.category,
        "state": template.review_state,
    }


def meta_graph() -> GraphClient:
    """The Graph API client with the BSP's system-user token (settings' META_GRAPH_URL)."""
    from portal.meta import credentials

    return GraphClient(token=credentials.system_user_token())
