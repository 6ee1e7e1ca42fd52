"""Sending an approved template to Meta: a create, or an edit under Meta's edit rules; Meta's
refusals in plain words. HTTP happens outside any lock; the outcome is recorded in a
transaction of its own."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from portal.meta import types as meta
from portal.meta.client import GraphClient
from portal.meta.errors import MetaError, MetaRateLimited, MetaTemplateEditRefused
from portal.meta.types import CreatedTemplate
from templates_review.choices import ReviewAction, ReviewState
from templates_review.models import MessageTemplate, TemplateRevision
from templates_review.services.common import (
    Actor,
    TransitionNotAllowed,
    _audit,
    _client,
    _lock,
    acting_role,
    transition_check,
)
from templates_review.services.media import components_with_header_handle
from templates_review.services.queue import _queue_sync
from tenants.models import Client


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
    *,
    graph: GraphClient,
    template: MessageTemplate,
    revision: TemplateRevision,
    components: list[dict],
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
            components=components,
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
    transition_check(
        action=ReviewAction.SEND, state=current.review_state, role=acting_role(actor, client)
    )
    revision = current.approved_revision
    if revision is None:
        raise TransitionNotAllowed("No approved revision to send.")
    category = meta.TemplateCategory(revision.category)
    # Meta refuses category edits of approved templates: send the category only if it changed.
    new_category = category if current.meta_id and category != current.category else None
    try:
        # A media header's stored example is uploaded now; its handle goes with the components.
        components = components_with_header_handle(
            graph=graph, template=current, components=list(revision.components)
        )
        if current.meta_id:
            graph.edit_template(current.meta_id, components=components, category=new_category)
            created = None
        else:
            created = _create_at_meta(
                graph=graph, template=current, revision=revision, components=components
            )
    except MetaError as exc:
        if retry_later and isinstance(exc, MetaRateLimited):
            raise
        message = meta_error_text(exc, template=current, new_category=new_category)
        _refusal_record(
            template=current,
            actor=actor,
            client=client,
            message=message,
            after={"code": exc.code, "subcode": exc.subcode},
        )
        raise TemplateSendFailed(message) from exc
    with transaction.atomic():
        locked = _lock(current)
        before = locked.review_state
        locked.review_state = transition_check(
            action=ReviewAction.SEND, state=before, role=acting_role(actor, client)
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
        locked.components = components
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


def _refusal_record(
    *, template: MessageTemplate, actor: Actor, client: Client, message: str, after: dict
) -> None:
    """Why the send did not happen, on the template and its queue row (unless a concurrent
    send got through meanwhile)."""
    with transaction.atomic():
        locked = _lock(template)
        if locked.review_state != ReviewState.APPROVED:
            return
        locked.send_error = message[:500]
        locked.save(update_fields=["send_error"])
        _audit(
            "send_failed",
            actor=actor,
            client=client,
            template=locked,
            after={**after, "message": message},
        )
        _queue_sync(template=locked, client=client)


REVIEWER_GONE = (
    "The reviewer who approved it may no longer send templates to Meta; a template reviewer "
    "can send it again."
)


def template_send_stopped(
    *, template: MessageTemplate, reason: str, client: Client | None = None
) -> None:
    """A send that cannot go ahead (the reviewer who approved it may no longer send): the
    template stays approved in the queue with the reason, for a reviewer to send again,
    instead of showing as sending for ever."""
    _refusal_record(
        template=template,
        actor=Actor(principal=None, role="system", label="portal"),
        client=_client(client),
        message=reason,
        after={"stopped": True},
    )


def meta_graph() -> GraphClient:
    """The Graph API client with the BSP's system-user token (settings' META_GRAPH_URL)."""
    from portal.meta import credentials

    return GraphClient(token=credentials.system_user_token())
