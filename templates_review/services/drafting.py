"""The client's moves: create a draft, edit it (a new revision), submit it for review, comment."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from compliance.models import WhatsAppAccount
from portal.audit.services import audit_record
from portal.meta import types as meta
from templates_review.choices import COMMENTERS, ReviewAction
from templates_review.models import MessageTemplate, ReviewComment, TemplateRevision
from templates_review.services.common import (
    Actor,
    _audit,
    _client,
    _latest_revision,
    _lock,
    acting_role,
    transition_check,
)
from templates_review.services.queue import _queue_sync
from tenants.models import Client


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
    client = _client(client)
    state = transition_check(
        action=ReviewAction.CREATE, state=None, role=acting_role(actor, client)
    )
    content = _content(
        name=name,
        language=language,
        category=category,
        parameter_format=parameter_format,
        components=components,
    )
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
            action=ReviewAction.EDIT, state=locked.review_state, role=acting_role(actor, client)
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
            action=ReviewAction.SUBMIT, state=before, role=acting_role(actor, client)
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
    client = _client(client)
    if acting_role(actor, client) not in COMMENTERS:
        raise PermissionDenied("Your role may not comment on templates.")
    body = body.strip()
    if not body:
        raise ValidationError({"body": "Write a comment first."})
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


def _summary(template: MessageTemplate) -> dict:
    return {
        "name": template.name,
        "language": template.language,
        "category": template.category,
        "state": template.review_state,
    }
