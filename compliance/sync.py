"""The sync: read each WABA, its numbers and templates from the Graph API and reconcile.

Webhooks are fast but can be missed; the sync is the slow authority. Every asset it sees gets
`last_confirmed_at`, and any difference from what we stored becomes an event (source "sync"),
so a missed webhook is repaired by the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from compliance import services
from compliance.account_events import account_state_text, account_syncable
from compliance.appliers import numbers as number_state
from compliance.choices import EventKind, EventSource, Severity, SyncState
from compliance.models import PhoneNumber, SyncRun, WhatsAppAccount
from compliance.portfolio import portfolio_from_waba, portfolio_limit_from_numbers
from portal.bulk import rows_insert
from portal.meta import types as meta
from portal.meta.client import BATCH_LIMIT
from portal.meta.errors import MetaError, MetaRateLimited
from portal.meta.webhooks.order import superseded
from portal.observability import current_request_id, request_id_var

SYNC = EventSource.SYNC
# A WABA Meta throttled rests at least this long (Meta's hint may be shorter or missing).
MIN_THROTTLE_SECONDS = 60.0
_QUALITY_RANK = {meta.Quality.HIGH: 3, meta.Quality.MEDIUM: 2, meta.Quality.LOW: 1}


# How templates are reconciled: registered by templates_review (its AppConfig.ready), so
# compliance never imports templates_review (which imports compliance).
_TEMPLATES_RECONCILER: list[Callable[..., Any]] = []


def templates_reconciler_register(reconcile: Callable[..., Any]) -> None:
    _TEMPLATES_RECONCILER[:] = [reconcile]


def templates_upsert_from_meta(
    *, account, infos, confirmed_at, reassess_numbers=True, returned=True
):
    """The templates app's reconciliation of an account's templates as Meta lists them."""
    if not _TEMPLATES_RECONCILER:
        raise RuntimeError("templates_review is not installed: no template reconciler.")
    return _TEMPLATES_RECONCILER[0](
        account=account,
        infos=infos,
        confirmed_at=confirmed_at,
        reassess_numbers=reassess_numbers,
        returned=returned,
    )


@dataclass
class SyncResult:
    accounts: int = 0
    numbers: int = 0
    templates: int = 0
    errors: list[str] = field(default_factory=list)
    retry_after: float | None = None
    # WABAs not synced on purpose (offboarded, partner removed, deleted), with why.
    skipped: list[str] = field(default_factory=list)


def client_sync(*, graph, run: SyncRun | None = None, now: datetime | None = None) -> SyncResult:
    """Sync every WABA of the client whose schema the connection is in.

    Each WABA is read in one Graph call (its numbers and templates by field expansion,
    `GraphClient.get_waba_assets`); a client with several reads them BATCH_LIMIT at a time in
    one batch request (`get_wabas_assets`). The next batch is fetched on the fetcher's thread
    while this one is written, so no transaction waits on Meta."""
    now = now or timezone.now()
    result = SyncResult()
    accounts = list(WhatsAppAccount.objects.select_related("portfolio"))
    client = services.current_client()
    if run is not None:
        SyncRun.objects.filter(pk=run.pk).update(
            state=SyncState.RUNNING, started_at=now, steps_total=len(accounts) * 3, steps_done=0
        )
    due = []
    for account in accounts:
        if not account_syncable(account):  # offboarded, removed or deleted: say why
            result.skipped.append(f"{account.meta_id}: {account_state_text(account)}")
            _progress(run, 3)
        elif account.throttled_until and account.throttled_until > now:
            result.errors.append(
                f"{account.meta_id}: throttled by Meta until {account.throttled_until}"
            )
            _progress(run, 3)
        else:
            due.append(account)
    chunks = [due[i : i + BATCH_LIMIT] for i in range(0, len(due), BATCH_LIMIT)]
    for account, assets in _fetched(graph, chunks):
        try:
            if isinstance(assets, MetaError):
                raise assets
            _sync_account(account, assets, client, now, result, run)
        except MetaRateLimited as exc:
            wait = max(exc.retry_after or 0.0, MIN_THROTTLE_SECONDS)
            WhatsAppAccount.objects.filter(pk=account.pk).update(
                throttled_until=now + timedelta(seconds=wait)
            )
            result.retry_after = max(result.retry_after or 0, wait)
            result.errors.append(f"{account.meta_id}: {exc.plain_message}")
        except MetaError as exc:
            result.errors.append(f"{account.meta_id}: {exc.plain_message}")
        result.accounts += 1
    if run is not None:
        SyncRun.objects.filter(pk=run.pk).update(
            state=SyncState.FAILED if result.errors else SyncState.DONE,
            finished_at=timezone.now(),
            steps_done=len(accounts) * 3,
            error="\n".join(result.errors),
        )
    return result


def _progress(run: SyncRun | None, steps: int = 1) -> None:
    if run is not None:
        SyncRun.objects.filter(pk=run.pk).update(steps_done=F("steps_done") + steps)


def _sync_account(account, assets: meta.WabaAssets, client, now, result, run) -> None:
    """Meta's view of one WABA, written in one transaction: the numbers, the templates, the
    numbers' health (once, after the templates: a pause or a rejection weighs on it), then the
    WABA itself. A fixed number of set-based queries whatever the WABA's size. When a later
    page of templates failed, the numbers are still written and the error is raised after them
    (the WABA is not confirmed)."""
    numbers = list(assets.numbers)
    templates = list(assets.templates)
    with transaction.atomic():
        synced, also_write = _sync_numbers(account, numbers, client, now)
        if assets.templates_error is None:
            templates_upsert_from_meta(
                account=account,
                infos=templates,
                confirmed_at=now,
                reassess_numbers=False,
                returned=False,
            )
        services.numbers_reassess(
            account=account, numbers=synced, now=now, client=client, also_write=also_write
        )
        if assets.templates_error is None:
            _sync_waba(account, assets.waba, assets.usage, now)
            # The owner portfolio and the limit its numbers report (`compliance.portfolio`).
            if portfolio_from_waba(account=account, waba_raw=assets.waba.raw, now=now) is not None:
                portfolio_limit_from_numbers(account=account, numbers=synced, now=now)
    result.numbers += len(numbers)
    if assets.templates_error is not None:
        _progress(run)
        raise assets.templates_error
    result.templates += len(templates)
    _progress(run, 3)


def _fetched(
    graph, chunks: list[list[WhatsAppAccount]]
) -> Iterator[tuple[WhatsAppAccount, meta.WabaAssets | MetaError]]:
    """Each due account with Meta's answer for it (its assets or the error), chunk by chunk.

    With several chunks the next one is fetched on the fetcher's thread while this one is
    written, so no transaction waits on Meta. One chunk (nearly every client: a WABA or a few)
    is fetched on this thread before anything is written: the same order, without a thread."""
    if not chunks:
        return
    if len(chunks) == 1:
        fetched = graph.get_wabas_assets([a.meta_id for a in chunks[0]])
        for account in chunks[0]:
            yield account, fetched[account.meta_id]
        return
    # Leaving the block waits for a fetch still under way, so the caller may close the client.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="graph-fetch") as fetcher:
        fetch = lambda chunk: _in_background(  # noqa: E731
            fetcher, graph.get_wabas_assets, [a.meta_id for a in chunk]
        )
        upcoming = fetch(chunks[0])
        for index, chunk in enumerate(chunks):
            fetched = upcoming.result()
            upcoming = fetch(chunks[index + 1]) if index + 1 < len(chunks) else None
            for account in chunk:
                yield account, fetched[account.meta_id]


def _in_background(fetcher: ThreadPoolExecutor, call: Callable[..., Any], *args: Any) -> Future:
    """`call` on the fetcher's thread, logging with this task's schema and request id. That
    thread never touches the database: naming the schema makes no query."""
    schema, request_id = connection.schema_name, current_request_id()

    def run() -> Any:
        connection.set_schema(schema)
        request_id_var.set(request_id)
        return call(*args)

    return fetcher.submit(run)


def _sync_waba(account: WhatsAppAccount, info: meta.WabaInfo, usage, now: datetime) -> None:
    account.name = info.name or account.name
    account.currency = info.currency or ""
    account.timezone_id = info.timezone_id or ""
    account.message_template_namespace = info.message_template_namespace or ""
    old = account.review_status
    if not superseded(account.review_status_at, now):  # Meta's order (webhooks/order.py)
        if old != info.review_status:
            account.review_status_at = now
        account.review_status = info.review_status
    if old not in (account.review_status, meta.ReviewStatus.UNKNOWN):
        services.health_event_record(
            kind=EventKind.REVIEW_DECISION,
            severity=Severity.INFO
            if info.review_status == meta.ReviewStatus.APPROVED
            else Severity.WARNING,
            title=f"Account review: {info.review_status.value}",
            key=services.dedupe_key("sync", account.meta_id, "review", old, now.isoformat()),
            source=SYNC,
            occurred_at=now,
            account=account,
        )
    account.business_verification = info.business_verification
    if info.health is not None:
        account.can_send = info.health.can_send
        account.health = info.health_payload
    account.api_usage = {
        u.use_case: {"call_count": u.call_count, "total_time": u.total_time} for u in usage
    }
    account.last_confirmed_at = now
    # Only what Meta's view of the WABA sets: a full save would also write back, as this sync
    # read them, the fields a webhook may have changed since (a ban, a connection state).
    account.save(update_fields=_WABA_FIELDS)


_WABA_FIELDS = (
    "name",
    "currency",
    "timezone_id",
    "message_template_namespace",
    "review_status",
    "review_status_at",
    "business_verification",
    "can_send",
    "health",
    "api_usage",
    "last_confirmed_at",
)


def _sync_numbers(
    account: WhatsAppAccount, infos: list[meta.PhoneNumberInfo], client, now: datetime
) -> tuple[list[PhoneNumber], tuple[str, ...]]:
    """Reconcile the account's numbers: new ones in one INSERT (and their routes in another);
    known ones get events for each difference. Returns every number of the account, listed by
    Meta or not, and the fields the caller writes on them in one UPDATE with their health
    (`numbers_reassess(also_write=…)`): the confirmation, and Meta's view when any changed."""
    stored = list(
        PhoneNumber.objects.filter(Q(meta_id__in=[i.id for i in infos]) | Q(account=account))
    )
    for number in stored:
        if number.account_id == account.pk:
            number.account = account
    known = {n.meta_id: n for n in stored}
    new, changed = [], False
    for info in infos:
        number = known.get(info.id)
        if number is None:
            number = PhoneNumber(
                account=account, meta_id=info.id, status=info.status, status_at=now
            )
            number.quality_at = number.throughput_at = number.name_status_at = now
            _copy_from_meta(number, info)
            if info.messaging_limit != meta.MessagingLimit.UNKNOWN:
                number.messaging_limit = info.messaging_limit  # a first value: no event
                number.messaging_limit_at = now
            number.last_confirmed_at = now
            new.append(number)
            continue
        before = _fields_of(number)
        old_quality = meta.Quality(number.quality)
        ordered = _ordered_before(number, now)
        _copy_from_meta(number, info)
        _keep_newer(number, ordered, now)
        _reconcile_number(number, info, old_quality, now)
        number.last_confirmed_at = now
        if number.account_id == account.pk:
            changed |= _fields_of(number) != before
        else:  # stored under another account of the client: written on its own, as it is
            number.save()
    if new:
        rows_insert(new)
        services.number_routes_ensure(numbers=new, client=client)
    numbers = [n for n in stored if n.account_id == account.pk] + new
    return numbers, ("last_confirmed_at", *(_WRITTEN_ON_CHANGE if changed else ()))


# What the sync takes from Meta's view of a number (status and limit go through events).
_MIRRORED_FIELDS = (
    "display_phone_number",
    "verified_name",
    "throughput",
    "name_status",
    "new_display_name",
    "code_verification",
    "platform_type",
    "account_mode",
    "quality",
    "can_send",
    "health",
    "raw",
)


# What a changed number's UPDATE writes: Meta's view and the times of its ordered fields.
_WRITTEN_ON_CHANGE = (*_MIRRORED_FIELDS, "quality_at", "throughput_at", "name_status_at")


# --- Meta's order: a read taken before a webhook applied does not undo it ----------------
# (the sync's read time `now` against the time stored with each state; webhooks/order.py)

_ORDERED_FIELDS = {
    "quality": "quality_at",
    "throughput": "throughput_at",
    "name_status": "name_status_at",
}


def _ordered_before(number: PhoneNumber, read_at: datetime) -> dict[str, tuple[Any, bool]]:
    """Each ordered field's stored value, and whether a webhook stated it after `read_at`."""
    return {
        name: (getattr(number, name), superseded(getattr(number, at), read_at))
        for name, at in _ORDERED_FIELDS.items()
    }


def _keep_newer(number: PhoneNumber, before: dict[str, tuple[Any, bool]], read_at) -> None:
    """Put back what a newer webhook decided; stamp the read time on what the read changed."""
    for name, at in _ORDERED_FIELDS.items():
        old, newer = before[name]
        if newer:
            setattr(number, name, old)
        elif getattr(number, name) != old:
            setattr(number, at, read_at)


def _fields_of(number: PhoneNumber) -> tuple:
    return tuple(getattr(number, name) for name in (*_MIRRORED_FIELDS, "status", "messaging_limit"))


def _copy_from_meta(number: PhoneNumber, info: meta.PhoneNumberInfo) -> None:
    number.display_phone_number = info.display_phone_number
    number.verified_name = info.verified_name
    number.throughput = info.throughput
    number.name_status = info.name_status
    number.new_display_name = info.new_display_name or ""
    number.code_verification = info.code_verification
    number.platform_type = info.platform_type or ""
    number.account_mode = info.account_mode or ""
    number.quality = info.quality
    if info.health is not None:
        number.can_send = info.health.can_send
        number.health = info.health_payload
    number.raw = info.raw


def _reconcile_number(number: PhoneNumber, info: meta.PhoneNumberInfo, old_quality, now) -> None:
    """Events for what changed at Meta since we last knew (a webhook we missed)."""
    key = lambda what, old: services.dedupe_key(  # noqa: E731
        "sync", info.id, what, old, now.isoformat()
    )
    quality = meta.Quality(number.quality)  # Meta's, unless a newer webhook's stands
    _quality_event(number, old_quality, quality, now, key("quality", old_quality))
    if number.status != info.status:
        if meta.NumberStatus.FLAGGED in (info.status, number.status):
            number_state.number_status_change(
                number, info.status, now, key("status", number.status), source=SYNC
            )
        else:
            _plain_status_change(number, info.status, now, key("status", number.status))
    if info.messaging_limit != meta.MessagingLimit.UNKNOWN:
        number_state.number_limit_change(
            number, info.messaging_limit, now, key("limit", number.messaging_limit), source=SYNC
        )


def _quality_event(number, old, new, now, key) -> None:
    old_rank, new_rank = _QUALITY_RANK.get(old, 0), _QUALITY_RANK.get(new, 0)
    if not old_rank or not new_rank or old_rank == new_rank:
        return
    dropped = new_rank < old_rank
    services.health_event_record(
        kind=EventKind.QUALITY_DROP if dropped else EventKind.QUALITY_RISE,
        severity=(Severity.CRITICAL if new == meta.Quality.LOW else Severity.WARNING)
        if dropped
        else Severity.INFO,
        title=f"Quality of {number.display_phone_number}: {old.value} → {new.value}",
        key=key,
        source=SYNC,
        occurred_at=now,
        number=number,
        data={"old": old.value, "new": new.value},
    )


def _plain_status_change(number, status: meta.NumberStatus, now, key) -> None:
    if superseded(number.status_at, now):
        return  # a webhook stated a newer status after this read began: it stands
    old = number.status
    number.status, number.status_at = status, now
    number.save(update_fields=["status", "status_at"])
    severe = status in (meta.NumberStatus.BANNED, meta.NumberStatus.DISCONNECTED)
    services.health_event_record(
        kind=EventKind.STATUS_CHANGE,
        severity=Severity.CRITICAL if severe else Severity.INFO,
        title=f"{number.display_phone_number} status: {old} → {status.value}",
        key=key,
        source=SYNC,
        occurred_at=now,
        number=number,
    )
