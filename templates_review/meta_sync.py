"""Meta's side of a template: status, quality, pauses, category and content changes, from
webhooks and the sync. Each change is kept in the template's history; pauses, disables and
rejections are also health events of the account (they weigh on its numbers' health).

Meta's order: status, quality and category each carry the time Meta stated for them
(`meta_status_at`, `quality_updated_at`, `category_at`); a webhook stated earlier is kept in the
history and as an event ("delivered late"), and leaves the template alone; a sync read taken
before a webhook applied does not undo it.

The webhook appliers (`apply_*`) are registered from `TemplatesReviewConfig.ready()`.
"""

from __future__ import annotations

import hashlib
from dataclasses import fields as dataclass_fields
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from compliance import services as compliance
from compliance.appliers.common import account_for_change
from compliance.choices import EventKind, EventSource, Severity
from compliance.models import WhatsAppAccount
from portal.bulk import rows_insert, rows_update
from portal.meta import types as meta
from portal.meta.webhooks import contract
from portal.meta.webhooks import fields as f
from portal.meta.webhooks.contract import Applied, Change
from portal.meta.webhooks.order import LATE, superseded
from templates_review.choices import PAUSE_KIND_TEXT, PauseKind
from templates_review.models import MessageTemplate, MetaTemplateHistory, TemplateSyncMark
from templates_review.pacing import pause_kind_for, template_holds_clear

PAUSE_HOURS = {meta.PauseTitle.FIRST_PAUSE: 3, meta.PauseTitle.SECOND_PAUSE: 6}
WEBHOOK, SYNC = EventSource.WEBHOOK, EventSource.SYNC


def register() -> None:
    contract.register(
        "message_template_status_update",
        parser=f.parse_template_status_update,
        applier=apply_template_status_update,
    )
    contract.register(
        "message_template_quality_update",
        parser=f.parse_template_quality_update,
        applier=apply_template_quality_update,
    )
    contract.register(
        "template_category_update",
        parser=f.parse_template_category_update,
        applier=apply_template_category_update,
    )
    contract.register(
        "message_template_components_update",
        parser=f.parse_template_components_update,
        applier=apply_template_components_update,
    )


# --- the webhook appliers ---------------------------------------------------------------------


def _apply_with(service, change: Change) -> Applied:
    """A template field's change through its service, in the WABA it names, at Meta's time."""
    _, late = service(
        account=account_for_change(change.entry_id),
        update=change.data,
        occurred_at=change.stated_at,
        key=change.key,
    )
    return Applied(late=late)


def apply_template_status_update(change: Change) -> Applied:
    if isinstance(change.data, f.TemplateQualityUpdate):  # Meta's docs send quality here too
        return apply_template_quality_update(change)
    return _apply_with(template_status_apply, change)


def apply_template_quality_update(change: Change) -> Applied:
    return _apply_with(template_quality_apply, change)


def apply_template_category_update(change: Change) -> Applied:
    return _apply_with(template_category_apply, change)


def apply_template_components_update(change: Change) -> Applied:
    """Meta's record of a template's edited content: kept in the template's history."""
    data: f.TemplateComponentsUpdate = change.data
    template = _template(account_for_change(change.entry_id), data.template)
    _history(
        template,
        change.key,
        change.stated_at,
        data={
            "components": {
                "header": data.header,
                "body": data.body,
                "footer": data.footer,
                "buttons": [vars(b) for b in data.buttons],
            }
        },
    )
    return Applied()


# --- state changes, shared by webhooks and the sync -----------------------------------------


def _template(account: WhatsAppAccount, ref: f.TemplateRef) -> MessageTemplate:
    template = None
    if ref.meta_id:
        template = MessageTemplate.objects.filter(meta_id=ref.meta_id).first()
    if template is None and ref.name:
        template = MessageTemplate.objects.filter(
            account=account, name=ref.name, language=ref.language
        ).first()
    if template is None:
        template = MessageTemplate.objects.create(
            account=account,
            meta_id=ref.meta_id,
            name=ref.name or f"template {ref.meta_id}",
            language=ref.language,
            category=ref.category,
        )
    elif ref.meta_id and not template.meta_id:
        template.meta_id = ref.meta_id
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


def _event(
    template, *, account, kind, severity, title, key, occurred_at, data, source, detail=""
) -> None:
    """Meta's change as a health event of the account (the client's alert, when it warrants one)."""
    compliance.health_event_note(
        kind=kind,
        severity=severity,
        title=title,
        detail=detail,
        key=key,
        source=source,
        occurred_at=occurred_at,
        account=account,
        template_name=template.name,
        data=data,
    )


_STATUS_KINDS = {
    meta.TemplateStatus.PAUSED: EventKind.TEMPLATE_PAUSED,
    meta.TemplateStatus.DISABLED: EventKind.TEMPLATE_DISABLED,
    meta.TemplateStatus.REJECTED: EventKind.TEMPLATE_REJECTED,
    meta.TemplateStatus.APPROVED: EventKind.TEMPLATE_APPROVED,
    meta.TemplateStatus.REINSTATED: EventKind.TEMPLATE_APPROVED,
}


def template_status_apply(
    *,
    account: WhatsAppAccount,
    update: f.TemplateStatusUpdate,
    occurred_at: datetime,
    key: str,
    source: str = WEBHOOK,
    reassess_numbers: bool = True,
) -> tuple[MessageTemplate, bool]:
    """Meta's status of a template as of `occurred_at` (pauses counted, rejection reasons
    kept). Returns the template and whether the change was late (the newer status stands).
    A change reassesses the account's numbers, unless the caller does it once for many
    (`reassess_numbers=False`: the sync, after all of an account's templates)."""
    template = _template(account, update.template)
    status, title = update.status, update.pause_title
    reason = update.reason or ""
    late = superseded(template.meta_status_at, occurred_at)
    if not _history(
        template, key, occurred_at, meta_status=status, reason=reason[:200], data=update.raw
    ):
        return template, late
    if late:
        _event(
            template,
            account=account,
            kind=_STATUS_KINDS.get(status, EventKind.LATE_CHANGE),
            severity=Severity.INFO,
            title=f"Template {template.name}: {status.value}" + LATE,
            key=key,
            occurred_at=occurred_at,
            data=update.raw,
            source=source,
        )
        return template, True
    fields = ["meta_status", "meta_status_at", "updated_at"]
    template.meta_status, template.meta_status_at = status, occurred_at
    template.updated_at = timezone.now()
    event = None
    pause_text, release_holds = "", False
    if status == meta.TemplateStatus.PAUSED:
        template.pause_count = {
            meta.PauseTitle.FIRST_PAUSE: 1,
            meta.PauseTitle.SECOND_PAUSE: 2,
        }.get(title, template.pause_count + 1)
        hours = PAUSE_HOURS.get(title)
        template.paused_until = occurred_at + timedelta(hours=hours) if hours else None
        template.pause_title = title.value if title else ""
        template.pause_kind = pause_kind_for(title)
        fields += ["pause_count", "paused_until", "pause_title", "pause_kind"]
        if template.pause_kind == PauseKind.QUALITY:
            words = (
                f"Template {template.name} paused"
                + (f" for {hours} hours" if hours else "")
                + " because of low quality"
            )
        else:  # a pacing pause is not a quality pause: it lasts until someone unpauses it
            words = f"Template {template.name} paused by template pacing"
        event = (EventKind.TEMPLATE_PAUSED, Severity.WARNING, words)
        pause_text = PAUSE_KIND_TEXT[template.pause_kind]
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
        template.rejection_reason = reason[:60]
        template.rejection_info = dict(update.rejection_info)
        fields += ["rejection_reason", "rejection_info"]
        event = (
            EventKind.TEMPLATE_REJECTED,
            Severity.WARNING,
            f"Template {template.name} rejected: {reason.replace('_', ' ').lower() or 'no reason'}",
        )
    elif status in (meta.TemplateStatus.APPROVED, meta.TemplateStatus.REINSTATED):
        was_paused = (
            template.paused_until is not None
            or title == meta.PauseTitle.UNPAUSE
            or bool(template.pause_kind)
        )
        template.paused_until = None
        template.pause_kind = ""
        fields += ["paused_until", "pause_kind"]
        release_holds = True
        event = (
            (EventKind.TEMPLATE_UNPAUSED, Severity.INFO, f"Template {template.name} unpaused")
            if was_paused
            else (EventKind.TEMPLATE_APPROVED, Severity.INFO, f"Template {template.name} approved")
        )
    template.save(update_fields=fields)
    if release_holds:
        template_holds_clear(template=template, at=occurred_at)
    if event:
        kind, severity, title_text = event
        _event(
            template,
            account=account,
            kind=kind,
            severity=severity,
            title=title_text,
            detail=pause_text,
            key=key,
            occurred_at=occurred_at,
            data=update.raw,
            source=source,
        )
        if reassess_numbers:
            compliance.account_reassess_numbers(account=account)
    return template, False


def template_quality_apply(
    *,
    account: WhatsAppAccount,
    update: f.TemplateQualityUpdate,
    occurred_at: datetime,
    key: str,
    source: str = WEBHOOK,
) -> tuple[MessageTemplate, bool]:
    template = _template(account, update.template)
    quality = update.quality
    late = superseded(template.quality_updated_at, occurred_at)
    if not _history(template, key, occurred_at, quality=quality, data=update.raw):
        return template, late
    if not late:
        template.quality, template.quality_updated_at = quality, occurred_at
        template.save(update_fields=["quality", "quality_updated_at"])
    _event(
        template,
        account=account,
        kind=EventKind.TEMPLATE_QUALITY,
        severity=Severity.WARNING if quality == meta.Quality.LOW and not late else Severity.INFO,
        title=f"Template {template.name} quality: {quality.value}" + (LATE if late else ""),
        key=key,
        occurred_at=occurred_at,
        data=update.raw,
        source=source,
    )
    return template, late


def template_category_apply(
    *,
    account: WhatsAppAccount,
    update: f.TemplateCategoryUpdate,
    occurred_at: datetime,
    key: str,
    source: str = WEBHOOK,
) -> tuple[MessageTemplate, bool]:
    template = _template(account, update.template)
    new = update.new
    late = superseded(template.category_at, occurred_at)
    if not _history(template, key, occurred_at, category=new, data=update.raw):
        return template, late
    if update.correct is not None:
        correct = update.correct
        title = f"Template {template.name} will become {correct.value} in 24 hours"
        severity = Severity.WARNING
        if not late:
            template.pending_category_change = {
                "correct_category": correct.value,
                "effective_at": update.effective_unix,
            }
    else:
        title = f"Template {template.name} is now {new.value}"
        severity = Severity.INFO
        if not late:
            template.category = new
            template.pending_category_change = {}
    if not late:
        template.category_at = occurred_at
        template.save(update_fields=["category", "category_at", "pending_category_change"])
    _event(
        template,
        account=account,
        kind=EventKind.TEMPLATE_CATEGORY,
        severity=Severity.INFO if late else severity,
        title=title + (LATE if late else ""),
        key=key,
        occurred_at=occurred_at,
        data=update.raw,
        source=source,
    )
    return template, late


# --- the sync ---------------------------------------------------------------------------------


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
    "category_at",
    "parameter_format",
    "components",
    "quality",
    "quality_updated_at",
    "rejection_reason",
    "meta_status",
    "meta_status_at",
)


def templates_upsert_from_meta(
    *,
    account: WhatsAppAccount,
    infos: list[meta.TemplateInfo],
    confirmed_at: datetime,
    reassess_numbers: bool = True,
    returned: bool = True,
) -> list[MessageTemplate]:
    """`template_upsert_from_meta` for each of an account's templates, in order, with the same
    effect, in a fixed number of queries whatever their count: the stored rows are read in one
    query; new templates are inserted together; the stored ones are written in one statement
    (only `last_confirmed_at` and `updated_at` when none changed). Status changes no webhook
    told us about are then recorded, in order (a few queries each: they are rare), and the
    account's numbers reassessed once after them, unless the caller does it
    (`reassess_numbers=False`: the sync).

    A template is found as before: by Meta id anywhere in the schema, else by (account, name,
    language), lowest id first, seeing the rows earlier templates of the list claimed or created.

    `returned=False` (the sync, which passes the account's whole list and drops the result):
    the stored rows are read with only the columns compared and written, not the drafts,
    examples and review state they also hold. And when Meta's list is the one the last sync
    reconciled and the rows are as that sync left them (`TemplateSyncMark`), nothing can differ:
    the rows are only confirmed, without reading them (the every-15-minutes case).
    """
    infos = list(infos)
    if not infos:
        return []
    if not returned:
        answer = _answer_digest(infos)
        # (never confirmed: never reconciled, no mark; the first sync saves the statement)
        confirmable = account.last_confirmed_at is not None
        if confirmable and _templates_confirm_unchanged(account, infos, answer, confirmed_at):
            return []
        reconciled = _templates_reconcile(account, infos, confirmed_at, reassess_numbers, returned)
        _sync_mark_write(account, infos, answer, confirmed_at)
        return reconciled
    return _templates_reconcile(account, infos, confirmed_at, reassess_numbers, returned)


def _templates_reconcile(
    account: WhatsAppAccount,
    infos: list[meta.TemplateInfo],
    confirmed_at: datetime,
    reassess_numbers: bool,
    returned: bool,
) -> list[MessageTemplate]:
    found = MessageTemplate.objects.filter(
        Q(meta_id__in=[info.id for info in infos])
        | Q(account=account, name__in={info.name for info in infos})
    ).order_by("pk")
    if not returned:
        found = found.only("pk", "account_id", "name", "language", *_SYNCED_FIELDS)
    stored = list(found)
    by_meta_id = {t.meta_id: t for t in stored if t.meta_id}
    by_name: dict[tuple[str, str], MessageTemplate] = {}
    for t in stored:
        if t.account_id == account.pk:
            by_name.setdefault((t.name, t.language), t)
    templates: list[MessageTemplate] = []
    created: list[MessageTemplate] = []
    confirmed_only: list[MessageTemplate] = []
    changed: dict[int, MessageTemplate] = {}
    status_changes: list[tuple[meta.TemplateInfo, str]] = []
    quality_changes: list[tuple[meta.TemplateInfo, str, datetime | None]] = []
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
        template.parameter_format = info.parameter_format or template.parameter_format
        template.components = list(info.components)
        _take_meta_state(template, info, confirmed_at, seen_before)
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
            changed[template.pk] = template
        by_meta_id[info.id] = template
        templates.append(template)
        if seen_before and previous_status != template.meta_status:
            status_changes.append((info, previous_status))
        if seen_before and previous_quality != template.quality:
            # stated at Meta's own date for it when Meta gave one (see _take_meta_state)
            quality_changes.append((info, previous_quality, template.quality_updated_at))
        known = info.category != meta.TemplateCategory.UNKNOWN
        if seen_before and known and previous_category != template.category:
            category_changes.append((info, previous_category))
    if created:
        rows_insert(created)
    if changed:  # the confirmed ones with them, as they were read: one statement
        stored = {t.pk: t for t in confirmed_only} | changed
        rows_update(list(stored.values()), [*_SYNCED_FIELDS, "last_confirmed_at", "updated_at"])
    elif confirmed_only:
        MessageTemplate.objects.filter(pk__in=[t.pk for t in confirmed_only]).update(
            last_confirmed_at=confirmed_at, updated_at=timezone.now()
        )
    for info, previous_status in status_changes:
        template_status_apply(
            account=account,
            update=f.TemplateStatusUpdate(
                template=_ref(info),
                status=info.status,
                raw_event=info.status.value.upper(),
                reason=meta.stated_reason(info.rejected_reason),
                raw=_sync_data(previous_status, info.status),
            ),
            occurred_at=confirmed_at,
            key=_sync_key(info, "status", previous_status, info.status, confirmed_at),
            source=SYNC,
            reassess_numbers=False,  # once below, or by the caller
        )
    for info, previous_quality, stated_at in quality_changes:
        template_quality_apply(
            account=account,
            update=f.TemplateQualityUpdate(
                template=_ref(info),
                quality=info.quality,
                previous=meta.Quality(previous_quality),
                raw=_sync_data(previous_quality, info.quality),
            ),
            occurred_at=stated_at or confirmed_at,
            key=_sync_key(info, "quality", previous_quality, info.quality, confirmed_at),
            source=SYNC,
        )
    for info, previous_category in category_changes:
        template_category_apply(
            account=account,
            update=f.TemplateCategoryUpdate(
                template=_ref(info),
                new=info.category,
                previous=meta.TemplateCategory(previous_category),
                raw=_sync_data(previous_category, info.category),
            ),
            occurred_at=confirmed_at,
            key=_sync_key(info, "category", previous_category, info.category, confirmed_at),
            source=SYNC,
        )
    if status_changes and reassess_numbers:
        compliance.account_reassess_numbers(account=account)
    return templates if returned else []


# --- the sync's shortcut: Meta's list unchanged, the rows untouched -----------------------
# Meta's list as the sync reads it (every compared field of each TemplateInfo, in Meta's
# order) and the stored rows the reconciliation reads (the same filter and columns).

_ANSWER_FIELDS = tuple(f.name for f in dataclass_fields(meta.TemplateInfo) if f.compare)


def _answer_digest(infos: list[meta.TemplateInfo]) -> str:
    listed = tuple(tuple(getattr(info, name) for name in _ANSWER_FIELDS) for info in infos)
    return hashlib.md5(repr(listed).encode(), usedforsecurity=False).hexdigest()


def _stored_rows_sql() -> tuple[str, str]:
    """(the digest of the rows the reconciliation reads, the FROM and WHERE that find them)."""
    columns = ["id", "account_id", "name", "language"] + [
        MessageTemplate._meta.get_field(name).column for name in _SYNCED_FIELDS
    ]
    row = ", ".join(f"t.{column}" for column in columns)
    digest = f"coalesce(md5(string_agg(ROW({row})::text, ',' ORDER BY t.id)), '')"
    where = (
        f"FROM {MessageTemplate._meta.db_table} t WHERE t.meta_id = ANY(%(ids)s)"
        " OR (t.account_id = %(account)s AND t.name = ANY(%(names)s))"
    )
    return digest, where


def _stored_params(account: WhatsAppAccount, infos: list[meta.TemplateInfo]) -> dict:
    return {
        "ids": [info.id for info in infos],
        "names": list({info.name for info in infos}),
        "account": account.pk,
    }


def _templates_confirm_unchanged(
    account: WhatsAppAccount, infos: list[meta.TemplateInfo], answer: str, confirmed_at: datetime
) -> bool:
    """Confirm the account's templates in one statement when the last reconciliation read this
    same list and left the rows as they are now, before any time a webhook stated on them
    (so no newer value is kept back and nothing would differ). Whether it did."""
    digest, where = _stored_rows_sql()
    state = "max(GREATEST(t.meta_status_at, t.quality_updated_at, t.category_at))"  # Meta's order
    sql = f"""
        WITH stored AS (SELECT {digest} AS digest, array_agg(t.id) AS ids, {state} AS latest
                        {where})
        UPDATE {MessageTemplate._meta.db_table} AS confirmed
        SET last_confirmed_at = %(at)s, updated_at = %(now)s
        FROM stored, {TemplateSyncMark._meta.db_table} AS mark
        WHERE mark.account_id = %(account)s AND mark.answer_digest = %(answer)s
          AND mark.state_digest = stored.digest
          AND (stored.latest IS NULL OR stored.latest <= mark.reconciled_at)
          AND confirmed.id = ANY(stored.ids)
    """  # noqa: S608 - table and column names from the models
    params = _stored_params(account, infos) | {
        "answer": answer,
        "at": confirmed_at,
        "now": timezone.now(),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount > 0


def _sync_mark_write(
    account: WhatsAppAccount, infos: list[meta.TemplateInfo], answer: str, read_at: datetime
) -> None:
    """After a reconciliation: the list it read and the rows as it left them."""
    digest, where = _stored_rows_sql()
    mark = TemplateSyncMark._meta.db_table
    sql = f"""
        INSERT INTO {mark} (account_id, answer_digest, state_digest, reconciled_at)
        SELECT %(account)s, %(answer)s, {digest}, %(at)s {where}
        ON CONFLICT (account_id) DO UPDATE SET answer_digest = EXCLUDED.answer_digest,
            state_digest = EXCLUDED.state_digest, reconciled_at = EXCLUDED.reconciled_at
    """
    params = _stored_params(account, infos) | {"answer": answer, "at": read_at}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _take_meta_state(
    template: MessageTemplate, info: meta.TemplateInfo, read_at: datetime, seen_before: bool
) -> None:
    """Meta's status, quality and category as the sync read them at `read_at`, each unless a
    webhook stated a newer one after the read began (Meta's order: the newer value stands)."""
    if not (seen_before and superseded(template.meta_status_at, read_at)):
        if template.meta_status != info.status or not seen_before:
            template.meta_status_at = read_at
        template.meta_status = info.status
        template.rejection_reason = (meta.stated_reason(info.rejected_reason) or "")[:60]
    if not (seen_before and superseded(template.quality_updated_at, read_at)):
        if info.quality_updated_at:  # Meta's own date for the quality it reports
            template.quality_updated_at = info.quality_updated_at
        elif template.quality != info.quality or not seen_before:
            template.quality_updated_at = read_at
        template.quality = info.quality
    if not (seen_before and superseded(template.category_at, read_at)):
        if template.category != info.category or not seen_before:
            template.category_at = read_at
        template.category = info.category


def _ref(info: meta.TemplateInfo) -> f.TemplateRef:
    return f.TemplateRef(
        meta_id=info.id, name=info.name, language=info.language, category=info.category
    )


def _sync_data(before, after) -> dict:
    return {"source": "sync", "before": str(before), "after": str(after)}


def _sync_key(info: meta.TemplateInfo, what: str, before, after, at: datetime) -> str:
    if what == "status":  # as before, so a change already recorded is not recorded again
        return compliance.dedupe_key("sync-template", info.id, before, after, at.isoformat())
    return compliance.dedupe_key(f"sync-template-{what}", info.id, before, after, at.isoformat())
