"""Meta's side of a template: status, quality, pauses and category changes, from webhooks and
the sync. Each change is kept in the template's history; pauses, disables and rejections are also
health events of the account (they weigh on its numbers' health)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from compliance import services as compliance
from compliance.choices import EventKind, EventSource, Severity
from compliance.models import WhatsAppAccount
from portal.meta import types as meta
from templates_review.models import MessageTemplate, MetaTemplateHistory

PAUSE_HOURS = {meta.PauseTitle.FIRST_PAUSE: 3, meta.PauseTitle.SECOND_PAUSE: 6}


def _template(account: WhatsAppAccount, value: dict) -> MessageTemplate:
    meta_id = str(value.get("message_template_id") or "") or None
    name = str(value.get("message_template_name") or "")
    language = str(value.get("message_template_language") or "").replace("-", "_")
    template = None
    if meta_id:
        template = MessageTemplate.objects.filter(meta_id=meta_id).first()
    if template is None and name:
        template = MessageTemplate.objects.filter(
            account=account, name=name, language=language
        ).first()
    if template is None:
        template = MessageTemplate.objects.create(
            account=account,
            meta_id=meta_id,
            name=name or f"template {meta_id}",
            language=language,
            category=meta.TemplateCategory.from_meta(value.get("message_template_category")),
        )
    elif meta_id and not template.meta_id:
        template.meta_id = meta_id
        template.save(update_fields=["meta_id"])
    return template


def _history(template, key, occurred_at, **fields) -> bool:
    """Append a history row once per key; False if this change was seen before."""
    try:
        with transaction.atomic():
            MetaTemplateHistory.objects.create(
                template=template, occurred_at=occurred_at, dedupe_key=key, **fields
            )
    except IntegrityError:
        return False
    return True


def _event(template, *, account, kind, severity, title, key, occurred_at, value) -> None:
    """Meta's change as a health event of the account (the client's alert, when it warrants one)."""
    compliance.health_event_record(
        kind=kind,
        severity=severity,
        title=title,
        key=key,
        source=EventSource.WEBHOOK,
        occurred_at=occurred_at,
        account=account,
        template_name=template.name,
        data=value,
    )


def template_apply_meta_status(
    *, account: WhatsAppAccount, value: dict, occurred_at: datetime, key: str
) -> MessageTemplate:
    template = _template(account, value)
    status = meta.TemplateStatus.from_meta(value.get("event"))
    title = meta.PauseTitle.from_meta((value.get("other_info") or {}).get("title"))
    reason = str(value.get("reason") or "")
    if not _history(
        template,
        key,
        occurred_at,
        meta_status=status,
        reason=reason if reason.upper() != "NONE" else "",
        data=value,
    ):
        return template
    fields = ["meta_status", "updated_at"]
    template.meta_status = status
    template.updated_at = timezone.now()
    event = None
    if status == meta.TemplateStatus.PAUSED:
        template.pause_count = {
            meta.PauseTitle.FIRST_PAUSE: 1,
            meta.PauseTitle.SECOND_PAUSE: 2,
        }.get(title, template.pause_count + 1)
        hours = PAUSE_HOURS.get(title)
        template.paused_until = occurred_at + timedelta(hours=hours) if hours else None
        template.pause_title = title.value
        fields += ["pause_count", "paused_until", "pause_title"]
        event = (
            EventKind.TEMPLATE_PAUSED,
            Severity.WARNING,
            f"Template {template.name} paused"
            + (f" for {hours} hours" if hours else "")
            + " because of low quality",
        )
    elif status == meta.TemplateStatus.DISABLED:
        template.disabled_at = occurred_at
        template.paused_until = None
        template.pause_count = max(template.pause_count, 3 if title else template.pause_count)
        fields += ["disabled_at", "paused_until", "pause_count"]
        event = (
            EventKind.TEMPLATE_DISABLED,
            Severity.CRITICAL,
            f"Template {template.name} disabled after repeated low quality",
        )
    elif status == meta.TemplateStatus.REJECTED:
        template.rejection_reason = reason if reason.upper() != "NONE" else ""
        template.rejection_info = value.get("rejection_info") or {}
        fields += ["rejection_reason", "rejection_info"]
        event = (
            EventKind.TEMPLATE_REJECTED,
            Severity.WARNING,
            f"Template {template.name} rejected: {reason.replace('_', ' ').lower() or 'no reason'}",
        )
    elif status in (meta.TemplateStatus.APPROVED, meta.TemplateStatus.REINSTATED):
        was_paused = template.paused_until is not None or title == meta.PauseTitle.UNPAUSE
        template.paused_until = None
        fields.append("paused_until")
        event = (
            (EventKind.TEMPLATE_UNPAUSED, Severity.INFO, f"Template {template.name} unpaused")
            if was_paused
            else (EventKind.TEMPLATE_APPROVED, Severity.INFO, f"Template {template.name} approved")
        )
    template.save(update_fields=fields)
    if event:
        kind, severity, title_text = event
        _event(
            template,
            account=account,
            kind=kind,
            severity=severity,
            title=title_text,
            key=key,
            occurred_at=occurred_at,
            value=value,
        )
        compliance.account_reassess_numbers(account=account)
    return template


def template_apply_meta_quality(
    *, account: WhatsAppAccount, value: dict, occurred_at: datetime, key: str
) -> MessageTemplate:
    template = _template(account, value)
    quality = meta.Quality.from_meta(value.get("new_quality_score"))
    if not _history(template, key, occurred_at, quality=quality, data=value):
        return template
    template.quality = quality
    template.quality_updated_at = occurred_at
    template.save(update_fields=["quality", "quality_updated_at"])
    _event(
        template,
        account=account,
        kind=EventKind.TEMPLATE_QUALITY,
        severity=Severity.WARNING if quality == meta.Quality.LOW else Severity.INFO,
        title=f"Template {template.name} quality: {quality.value}",
        key=key,
        occurred_at=occurred_at,
        value=value,
    )
    return template


def template_apply_category_update(
    *, account: WhatsAppAccount, value: dict, occurred_at: datetime, key: str
) -> MessageTemplate:
    template = _template(account, value)
    new = meta.TemplateCategory.from_meta(value.get("new_category"))
    if not _history(template, key, occurred_at, category=new, data=value):
        return template
    if value.get("correct_category"):
        correct = meta.TemplateCategory.from_meta(value["correct_category"])
        when = value.get("category_update_timestamp")
        template.pending_category_change = {"correct_category": correct.value, "effective_at": when}
        title = f"Template {template.name} will become {correct.value} in 24 hours"
        severity = Severity.WARNING
    else:
        template.category = new
        template.pending_category_change = {}
        title = f"Template {template.name} is now {new.value}"
        severity = Severity.INFO
    template.save(update_fields=["category", "pending_category_change"])
    _event(
        template,
        account=account,
        kind=EventKind.TEMPLATE_CATEGORY,
        severity=severity,
        title=title,
        key=key,
        occurred_at=occurred_at,
        value=value,
    )
    return template


def template_upsert_from_meta(
    *, account: WhatsAppAccount, info: meta.TemplateInfo, confirmed_at: datetime
) -> MessageTemplate:
    """The sync's full view of one template; a status change no webhook told us about is
    recorded like one (so a missed webhook is repaired)."""
    return templates_upsert_from_meta(account=account, infos=[info], confirmed_at=confirmed_at)[0]


# What the sync copies from Meta's view onto a template already stored.
_SYNCED_FIELDS = (
    "meta_id",
    "category",
    "parameter_format",
    "components",
    "quality",
    "quality_updated_at",
    "rejection_reason",
    "meta_status",
)


def templates_upsert_from_meta(
    *, account: WhatsAppAccount, infos: list[meta.TemplateInfo], confirmed_at: datetime
) -> list[MessageTemplate]:
    """`template_upsert_from_meta` for each of an account's templates, in order, with the same
    effect, in a few queries instead of two or three per template: the stored rows are read in
    one query; new templates are inserted together; a stored template whose synced fields did
    not change only gets `last_confirmed_at` and `updated_at`, all in one UPDATE; a changed one
    is saved as before. Status changes no webhook told us about are then recorded, in order.

    A template is found as before: by Meta id anywhere in the schema, else by (account, name,
    language), lowest id first, seeing the rows earlier templates of the list claimed or created.
    """
    infos = list(infos)
    if not infos:
        return []
    stored = list(
        MessageTemplate.objects.filter(
            Q(meta_id__in=[info.id for info in infos])
            | Q(account=account, name__in={info.name for info in infos})
        ).order_by("pk")
    )
    by_meta_id = {t.meta_id: t for t in stored if t.meta_id}
    by_name: dict[tuple[str, str], MessageTemplate] = {}
    for t in stored:
        if t.account_id == account.pk:
            by_name.setdefault((t.name, t.language), t)
    templates: list[MessageTemplate] = []
    created: list[MessageTemplate] = []
    confirmed_only: list[MessageTemplate] = []
    status_changes: list[tuple[meta.TemplateInfo, str]] = []
    quality_changes: list[tuple[meta.TemplateInfo, str]] = []
    category_changes: list[tuple[meta.TemplateInfo, str]] = []
    for info in infos:
        template = by_meta_id.get(info.id) or by_name.get((info.name, info.language))
        seen_before = template is not None
        if template is None:
            template = MessageTemplate(account=account, name=info.name, language=info.language)
        previous_status = template.meta_status
        previous_quality, previous_category = template.quality, template.category
        before = [getattr(template, name) for name in _SYNCED_FIELDS]
        if template.meta_id and template.meta_id != info.id:
            by_meta_id.pop(template.meta_id, None)
        template.meta_id = info.id
        template.category = info.category
        template.parameter_format = info.parameter_format or template.parameter_format
        template.components = list(info.components)
        template.quality = info.quality
        template.quality_updated_at = info.quality_updated_at or template.quality_updated_at
        template.rejection_reason = info.rejected_reason or ""
        template.meta_status = info.status
        template.last_confirmed_at = confirmed_at
        template.updated_at = timezone.now()
        if not seen_before:
            created.append(template)
            by_name.setdefault((template.name, template.language), template)
        elif template.pk is None:
            pass  # listed twice: inserted below with the latest values
        elif before == [getattr(template, name) for name in _SYNCED_FIELDS]:
            confirmed_only.append(template)
        else:
            template.save()
        by_meta_id[info.id] = template
        templates.append(template)
        if seen_before and previous_status != info.status:
            status_changes.append((info, previous_status))
        if seen_before and previous_quality != info.quality:
            quality_changes.append((info, previous_quality))
        known = info.category != meta.TemplateCategory.UNKNOWN
        if seen_before and known and previous_category != info.category:
            category_changes.append((info, previous_category))
    if created:
        MessageTemplate.objects.bulk_create(created)
    if confirmed_only:
        MessageTemplate.objects.filter(pk__in=[t.pk for t in confirmed_only]).update(
            last_confirmed_at=confirmed_at, updated_at=timezone.now()
        )
    for info, previous_status in status_changes:
        template_apply_meta_status(
            account=account,
            value={
                **_identity(info),
                "event": info.raw.get("status", info.status.value.upper()),
                "reason": info.rejected_reason,
            },
            occurred_at=confirmed_at,
            key=_sync_key(info, "status", previous_status, info.status, confirmed_at),
        )
    for info, previous_quality in quality_changes:
        score = info.raw.get("quality_score")
        template_apply_meta_quality(
            account=account,
            value={
                **_identity(info),
                "previous_quality_score": previous_quality,
                "new_quality_score": (score.get("score") if isinstance(score, dict) else score)
                or info.quality.value,
            },
            occurred_at=confirmed_at,
            key=_sync_key(info, "quality", previous_quality, info.quality, confirmed_at),
        )
    for info, previous_category in category_changes:
        template_apply_category_update(
            account=account,
            value={
                **_identity(info),
                "previous_category": previous_category,
                "new_category": info.category.value,
            },
            occurred_at=confirmed_at,
            key=_sync_key(info, "category", previous_category, info.category, confirmed_at),
        )
    return templates


def _identity(info: meta.TemplateInfo) -> dict:
    return {
        "message_template_id": info.id,
        "message_template_name": info.name,
        "message_template_language": info.language,
    }


def _sync_key(info: meta.TemplateInfo, what: str, before, after, at: datetime) -> str:
    if what == "status":  # as before, so a change already recorded is not recorded again
        return compliance.dedupe_key("sync-template", info.id, before, after, at.isoformat())
    return compliance.dedupe_key(f"sync-template-{what}", info.id, before, after, at.isoformat())
