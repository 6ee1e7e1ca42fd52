"""The webhook pipeline after the intake: split, claim, route, apply, retry.

- **Split**: unsplit deliveries are claimed with `FOR UPDATE SKIP LOCKED`, their envelopes parsed
  (`envelope.py`) and their changes inserted once (`ON CONFLICT (dedupe_key) DO NOTHING`), routed
  to a client by WABA or phone number id. A body that is not Meta's is kept, marked rejected with
  the reason, and never looked at again.
- **Claim**: due changes (`next_attempt_at <= now`, no live lease) are leased in batches with
  `SKIP LOCKED`, their attempt counted in the same committed statement, a whole client at a
  time (`changes_claim`); two workers never work one client at once, and a change whose worker
  died is taken up when its lease runs out.
- **Apply**: in one transaction holding the batch's row locks, grouped per client and field,
  in Meta's order; each client's changes in one savepoint, and only if that fails again with
  each change (and each group a field applies set-based) in a savepoint of its own, so one that
  fails is marked with its error and the rest go on. The state update commits
  with the effects it records: exactly once in effect.
- **Retry**: transient database errors (lost connection, serialization failure, deadlock, lock or
  statement timeout) come back soon with backoff; other errors a few times more slowly, then fail
  for good with their reason; items an applier could not apply are split off to be retried alone.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from portal import fastjson
from portal.bulk import json_rows
from portal.meta.models import (
    ChangeState,
    DeliveryState,
    WebhookChange,
    WebhookDelivery,
)
from portal.meta.webhooks import envelope
from portal.meta.webhooks.contract import (
    Applied,
    Change,
    ItemFailure,
    WebhookRejected,
    failures_isolated_here,
    failures_retried_isolated,
    group_scopes,
    handler_for,
)
from portal.meta.webhooks.fields._read import values_screened

if TYPE_CHECKING:
    from tenants.models import Client

logger = logging.getLogger(__name__)

SPLIT_BATCH = 1000
APPLY_BATCH = 2000
# Transient errors: retried after 1, 2, 4 … 60 s, at most this many times.
TRANSIENT_ATTEMPTS = 20
# Other errors (a bug, data the applier cannot take): retried after 30 s, 2 and 8 min, then final.
PERMANENT_ATTEMPTS = 4
# Claims without an outcome (the worker died while holding the change) before it fails for good.
MAX_CLAIMS = 10
ERROR_LENGTH = 2000

_DELIVERIES = WebhookDelivery._meta.db_table
_CHANGES = WebhookChange._meta.db_table


def lease_seconds() -> int:
    return settings.META_WEBHOOK_LEASE_SECONDS


# --- split ---------------------------------------------------------------------------------


_INDEX_PATHS_ONLY = (
    "SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true)"
)
_ALL_PATHS = (
    "SELECT set_config('enable_seqscan', 'on', true), set_config('enable_bitmapscan', 'on', true)"
)


@contextmanager
def _queue_index_paths(cursor, also: str = "", also_params: Sequence = ()) -> Iterator[None]:
    """The statements inside read the queue through its partial indexes, whatever the
    planner's statistics say.

    The queue tables change faster than autovacuum analyses them: in a burst the statistics
    still describe the table as it was (every row due), and the planner scanned the whole
    table (and sorted the bodies on disk) for a handful of due rows, in the claim every worker
    waits on. The partial indexes hold only the rows due, so reading through them costs what
    is due, not what is stored. (Not reset when the block raises: the transaction is rolled
    back then, and the settings with it; a statement now would only hide the error.)
    Called inside the block's `transaction.atomic()`.

    Both settings in one statement (`set_config(..., true)` is `SET LOCAL`), with `also` (more
    columns of that SELECT: the claim's lock): one a setting, they were four round trips of the
    split and four of the claim every worker waits on. Set back only inside a caller's
    transaction (a tool's, a test's), which they would outlast; in a block of our own its
    commit forgets them, a round trip saved."""
    cursor.execute(_INDEX_PATHS_ONLY + (f", {also}" if also else ""), also_params)
    yield
    if len(connection.atomic_blocks) > 1:  # not our own transaction: set back
        cursor.execute(_ALL_PATHS)


def deliveries_split(*, limit: int = SPLIT_BATCH, only: Sequence[int] | None = None) -> int:
    """Split up to `limit` unsplit deliveries into changes; returns how many were split."""
    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor, _queue_index_paths(cursor):
            cursor.execute(
                f"SELECT id, body FROM {_DELIVERIES} WHERE state = %s"  # noqa: S608
                + (" AND id = ANY(%s)" if only is not None else "")
                + " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                [DeliveryState.RECEIVED, *([list(only)] if only is not None else []), limit],
            )
            rows = cursor.fetchall()
        if not rows:
            return 0
        parsed: dict[int, list[envelope.EnvelopeChange]] = {}
        for delivery_id, body in rows:
            try:
                body = bytes(body)
                parsed[delivery_id] = envelope.split(
                    envelope.decode(body), strings_checked=envelope.strings_storable(body)
                )
            except WebhookRejected as exc:
                _delivery_reject(delivery_id, exc.reason, now)
        routes = _routes([c for changes in parsed.values() for c in changes])
        try:
            with transaction.atomic():
                inserted = _insert_changes(parsed, routes, now)
        except DatabaseError:
            # Something the envelope checks let through: find the delivery it came from, so the
            # others still go in.
            logger.exception("Splitting deliveries in one go failed; splitting one at a time")
            inserted = {}
            for delivery_id, changes in parsed.items():
                try:
                    with transaction.atomic():
                        inserted |= _insert_changes({delivery_id: changes}, routes, now)
                except DatabaseError as exc:
                    _delivery_reject(delivery_id, _error_text(exc), now)
                    parsed[delivery_id] = []
        _deliveries_mark_split(parsed, inserted, now)
        # Finished already: the deliveries that own no change left to apply (all theirs
        # rejected, unroutable or seen before). The others finish when their changes apply.
        queued = {owner for owner, pending in inserted.values() if pending}
        deliveries_finish([delivery_id for delivery_id in parsed if delivery_id not in queued])
    return len(rows)


def _deliveries_mark_split(
    parsed: dict[int, list[envelope.EnvelopeChange]],
    inserted: dict[str, tuple[int, bool]],
    now: datetime,
) -> None:
    """One UPDATE for the batch: split, with how many of its changes were its own (a change
    two deliveries of the batch carry is the one's that inserted it)."""
    if not parsed:
        return
    rows = []
    for delivery_id, changes in parsed.items():
        own = sum(1 for c in changes if inserted.get(c.dedupe_key, (None,))[0] == delivery_id)
        rows.append({"id": delivery_id, "total": len(changes), "seen": len(changes) - own})
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_DELIVERIES} d SET state = %s, split_at = %s, attempts = 1,"  # noqa: S608
            " changes_total = v.total, changes_seen_before = v.seen"
            " FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, total integer, seen integer)"
            " WHERE d.id = v.id AND d.state = %s",
            [DeliveryState.SPLIT, now, json_rows(rows), DeliveryState.RECEIVED],
        )


def _delivery_reject(delivery_id: int, reason: str, now: datetime) -> None:
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        state=DeliveryState.REJECTED,
        split_at=now,
        processed_at=now,
        attempts=1,
        last_error=reason[:ERROR_LENGTH],
    )


def _routes(changes: list[envelope.EnvelopeChange]) -> dict[str, int]:
    """Client id by Meta id (WABA or phone number), from one query."""
    from tenants.models import MetaAssetRoute

    ids = set()
    for change in changes:
        ids.update(change.routing_ids)
        if change.phone_number_id:
            ids.add(change.phone_number_id)
    ids.discard("")
    if not ids:
        return {}
    return dict(MetaAssetRoute.objects.filter(meta_id__in=ids).values_list("meta_id", "client_id"))


def route_of(change: envelope.EnvelopeChange, routes: dict[str, int]) -> int | None:
    for meta_id in (*change.routing_ids, change.phone_number_id):
        if meta_id and meta_id in routes:
            return routes[meta_id]
    return None


def _initial_state(change: envelope.EnvelopeChange, client_id: int | None) -> tuple[str, str]:
    if change.rejected:
        return ChangeState.REJECTED, change.rejected
    if handler_for(change.field) is None:
        return ChangeState.UNROUTABLE, f"No handler for field {change.field!r}."
    if client_id is None:
        return ChangeState.UNROUTABLE, f"No client owns WABA {change.entry_id}."
    return ChangeState.PENDING, ""


def _insert_changes(
    parsed: dict[int, list[envelope.EnvelopeChange]], routes: dict[str, int], now: datetime
) -> dict[str, tuple[int, bool]]:
    """Insert the changes once each. Returns the dedupe keys that were new, each with the
    delivery that now owns it and whether it is due to be applied."""
    rows = []
    for delivery_id, changes in parsed.items():
        for change in changes:
            client_id = route_of(change, routes)
            state, error = _initial_state(change, client_id)
            row = {
                "delivery": delivery_id,
                "key": change.dedupe_key,
                "field": change.field,
                "entry": change.entry_id,
                "at": change.entry_time,
                "client": client_id,
                "state": state,
                "error": error,
                "due": now if state == ChangeState.PENDING else None,
            }
            # The value's JSON text from the split, spliced in rather than serialised again.
            value_json = change.value_json or json_rows(change.value)
            rows.append(f'{{"value":{value_json},{json_rows(row)[1:]}')
    if not rows:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_CHANGES} (delivery_id, dedupe_key, field, entry_id, entry_time,"  # noqa: S608
            " value, client_id, state, error, attempts, next_attempt_at, created_at)"
            " SELECT r.delivery, r.key, r.field, r.entry, r.at, r.value, r.client, r.state,"
            " r.error, 0, r.due, %s FROM jsonb_to_recordset(%s::jsonb) AS r(delivery bigint,"
            " key text, field text, entry text, at timestamptz, value jsonb, client bigint,"
            " state text, error text, due timestamptz)"
            " ON CONFLICT (dedupe_key) DO NOTHING"
            " RETURNING dedupe_key, delivery_id, next_attempt_at IS NOT NULL",
            [now, "[" + ",".join(rows) + "]"],
        )
        return {key: (owner, pending) for key, owner, pending in cursor.fetchall()}


def deliveries_finish(delivery_ids: Sequence[int]) -> None:
    """Mark processed the split deliveries none of whose changes has work due."""
    if not delivery_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_DELIVERIES} d SET state = %s, processed_at = %s"  # noqa: S608
            " WHERE d.id = ANY(%s) AND d.state = %s AND NOT EXISTS ("
            f"SELECT 1 FROM {_CHANGES} c WHERE c.delivery_id = d.id"
            " AND c.next_attempt_at IS NOT NULL)",
            [DeliveryState.PROCESSED, timezone.now(), list(delivery_ids), DeliveryState.SPLIT],
        )


# --- claim and apply -----------------------------------------------------------------------


@dataclass
class Outcome:
    state: str
    error: str = ""
    retry_in: float | None = None  # seconds; None: finished
    applied: bool = False
    failures: list[ItemFailure] = field(default_factory=list)


@dataclass
class BatchCounts:
    claimed: int = 0
    applied: int = 0
    late: int = 0
    failed: int = 0
    rejected: int = 0
    retrying: int = 0
    unroutable: int = 0

    def add(self, outcome: Outcome) -> None:
        if outcome.retry_in is not None:
            self.retrying += 1
        elif outcome.state == ChangeState.APPLIED:
            self.applied += 1
        elif outcome.state == ChangeState.LATE:
            self.late += 1
        elif outcome.state == ChangeState.REJECTED:
            self.rejected += 1
        elif outcome.state == ChangeState.UNROUTABLE:
            self.unroutable += 1
        else:
            self.failed += 1


# Clients one claim takes at most: the rest are left to the other workers.
CLAIM_CLIENTS = 25
# Claims are serialised on this advisory lock (a short statement), so two workers never lease
# changes of one client at once.
_CLAIM_LOCK = 0x57EB400C


# The claim's rule, in one place for `changes_claim` and `work_waiting`: a change `c` may be
# claimed when it is due, holds no live lease, and its client has no change leased (`busy`).
_BUSY_CLIENTS = f"""
    leased AS (
        -- Through the index of due changes, not the client index: OFFSET 0 keeps the NULL
        -- test out, where it would make the client index look usable.
        SELECT client_id FROM {_CHANGES}
        WHERE next_attempt_at IS NOT NULL AND claimed_until >= %(now)s OFFSET 0
    ), busy AS (
        SELECT client_id FROM leased WHERE client_id IS NOT NULL
    )"""  # noqa: S608 - the table name is ours
_CLAIMABLE = """c.next_attempt_at <= %(now)s
    AND (c.claimed_until IS NULL OR c.claimed_until < %(now)s)
    AND (c.client_id IS NULL OR c.client_id NOT IN (SELECT client_id FROM busy))"""


def changes_claim(*, limit: int = APPLY_BATCH, only: Sequence[int] | None = None) -> list[int]:
    """Lease up to `limit` due changes to this worker and count the attempt (committed).

    Whole clients at a time: no change is leased while another of its client's changes is
    leased to another worker. Workers applying one client's changes at once would wait on each
    other's row locks (its account, its numbers) in long transactions, and could not keep
    Meta's order between them. A claim takes the clients of the oldest due changes, at most
    CLAIM_CLIENTS of them, so another worker finds work of its own.
    """
    now = timezone.now()
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        _queue_index_paths(cursor, "pg_advisory_xact_lock(%s)", [_CLAIM_LOCK]),
    ):
        only_sql = " AND c.delivery_id = ANY(%(only)s)" if only is not None else ""
        cursor.execute(
            f"""
            WITH {_BUSY_CLIENTS}, free AS (
                SELECT c.id, c.client_id, c.next_attempt_at FROM {_CHANGES} c
                WHERE {_CLAIMABLE}{only_sql}
                ORDER BY c.next_attempt_at, c.id LIMIT %(scan)s
            ), picked AS (
                SELECT client_id FROM free WHERE client_id IS NOT NULL
                GROUP BY client_id ORDER BY min(next_attempt_at), min(id) LIMIT %(clients)s
            )
            UPDATE {_CHANGES} SET claimed_until = %(until)s, attempts = attempts + 1
            WHERE id IN (
                SELECT id FROM {_CHANGES} WHERE id IN (
                    SELECT id FROM free
                    WHERE client_id IS NULL OR client_id IN (SELECT client_id FROM picked)
                    ORDER BY next_attempt_at, id LIMIT %(limit)s
                ) FOR UPDATE SKIP LOCKED
            ) RETURNING id
            """,  # noqa: S608 - table names are ours
            {
                "now": now,
                "until": now + timedelta(seconds=lease_seconds()),
                "only": list(only) if only is not None else None,
                "scan": limit * 4,
                "clients": CLAIM_CLIENTS,
                "limit": limit,
            },
        )
        return [row[0] for row in cursor.fetchall()]


def changes_apply(*, limit: int = APPLY_BATCH, only: Sequence[int] | None = None) -> BatchCounts:
    """Claim a batch of due changes and apply it; `only` limits it to some deliveries."""
    ids = changes_claim(limit=limit, only=only)
    counts = BatchCounts(claimed=len(ids))
    if not ids:
        return counts
    try:
        outcomes = _apply_claimed(ids)
    except Exception:
        _release(ids)
        raise
    for outcome in outcomes.values():
        counts.add(outcome)
    return counts


def _release(ids: list[int]) -> None:
    """After a batch failed outside any change's savepoint (a lost connection, a cancelled
    statement): hand its changes back soon instead of waiting for their leases to run out."""
    try:
        with transaction.atomic():
            WebhookChange.objects.filter(pk__in=ids, next_attempt_at__isnull=False).update(
                claimed_until=None, next_attempt_at=timezone.now() + timedelta(seconds=2)
            )
    except DatabaseError:
        logger.warning("Could not release %d claimed changes; their leases will", len(ids))


@dataclass(slots=True)
class ClaimedChange:
    """A claimed change as the apply reads it: the columns it uses, not a model instance (a
    claim holds up to APPLY_BATCH of them, and building their instances was most of the
    claim's own Python time)."""

    pk: int
    delivery_id: int
    dedupe_key: str
    field: str
    entry_id: str
    entry_time: datetime | None
    value: dict
    client_id: int | None
    attempts: int
    created_at: datetime


_CLAIMED_COLUMNS = (
    "id, delivery_id, dedupe_key, field, entry_id, entry_time, value, client_id, attempts,"
    " created_at"
)


def claimed_changes_lock(ids: Sequence[int]) -> list[ClaimedChange]:
    """The claimed changes still due, locked (FOR UPDATE) for the apply's transaction, by id."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_CLAIMED_COLUMNS} FROM {_CHANGES}"  # noqa: S608 - names are ours
            " WHERE id = ANY(%s) AND next_attempt_at IS NOT NULL ORDER BY id FOR UPDATE",
            [list(ids)],
        )
        rows = cursor.fetchall()
    # The value as WebhookChange.value's from_db_value reads it (json.loads), faster.
    return [
        ClaimedChange(
            pk,
            delivery,
            key,
            name,
            entry,
            at,
            fastjson.loads(value),
            client,
            attempts,
            created,
        )
        for pk, delivery, key, name, entry, at, value, client, attempts, created in rows
    ]


def _apply_claimed(ids: list[int]) -> dict[int, Outcome]:
    from tenants.models import Client

    with transaction.atomic():
        with connection.cursor() as cursor:
            # The batch's own leases keep other workers off its rows; a lock held longer than
            # this is a stuck worker, and the batch is retried instead of waiting on it.
            cursor.execute("SET LOCAL lock_timeout = '10s'")
        changes = claimed_changes_lock(ids)
        clients = Client.objects.in_bulk({c.client_id for c in changes if c.client_id})
        outcomes: dict[int, Outcome] = {}
        by_client: dict[int | None, list[ClaimedChange]] = defaultdict(list)
        for change in changes:
            if change.attempts > MAX_CLAIMS:
                outcomes[change.pk] = Outcome(
                    ChangeState.FAILED,
                    f"Claimed {change.attempts - 1} times without an outcome: the worker applying "
                    "it stopped each time.",
                )
            elif change.client_id not in clients:
                outcomes[change.pk] = Outcome(
                    ChangeState.UNROUTABLE, f"No client owns WABA {change.entry_id}."
                )
            else:
                by_client[change.client_id].append(change)
        outcomes.update(_apply_groups([(clients[cid], group) for cid, group in by_client.items()]))
        _record_outcomes(changes, outcomes)
        deliveries_finish(sorted({c.delivery_id for c in changes}))
    return outcomes


def _stated_order(change: ClaimedChange) -> tuple:
    return (change.entry_time or change.created_at, change.pk)


def _apply_groups(groups: list[tuple[Client, list[ClaimedChange]]]) -> dict[int, Outcome]:
    """A claim's client groups, each in its client's schema (the client itself on the
    connection: what the appliers ask of `current_client()`, an alert's e-mail rule and link,
    needs no read of its own).

    All of them in one savepoint first: nearly every claim applies cleanly, and a savepoint
    per group cost two round trips for each client. Only when something in it raises is it
    rolled back, and each group applied again on its own (`_apply_client_group`)."""
    if len(groups) > 1:
        together: dict[int, Outcome] = {}
        try:
            with transaction.atomic():
                for client, group in groups:
                    with tenant_context(client):
                        together.update(_apply_client_group(group, together=True))
        except Exception:
            logger.warning(
                "A claim's %d client groups failed together; applying each alone",
                len(groups),
                exc_info=True,
            )
        else:
            return together
    outcomes: dict[int, Outcome] = {}
    for client, group in groups:
        with tenant_context(client):
            outcomes.update(_apply_client_group(group))
    return outcomes


def _apply_client_group(
    changes: list[ClaimedChange], *, together: bool = False
) -> dict[int, Outcome]:
    """One client's changes, in Meta's order, each field's set-based where it can be.

    All of them in one savepoint first: nearly every batch applies cleanly, and a savepoint per
    change costs two round trips each. Only when something in it raises is the group rolled back
    and applied again with a savepoint per set-based group and per change, so the one that fails
    is marked with its error and the rest go on. `together`: inside the claim's savepoint, with
    none of its own; whatever raises is the caller's.
    """
    outcomes: dict[int, Outcome] = {}
    by_field: dict[str, list[tuple[ClaimedChange, Change]]] = defaultdict(list)
    with values_screened():  # by the split, before each value was stored
        for row in sorted(changes, key=_stated_order):
            handler = handler_for(row.field)
            if handler is None:
                outcomes[row.pk] = Outcome(ChangeState.UNROUTABLE, f"No handler for {row.field!r}.")
                continue
            try:
                data = handler.parser(row.value)
            except WebhookRejected as exc:
                outcomes[row.pk] = Outcome(ChangeState.REJECTED, exc.reason)
                continue
            except Exception as exc:  # a parser bug is the parser's failure, not the batch's
                logger.exception("Parsing webhook change %s failed", row.pk)
                outcomes[row.pk] = _failure(row, exc)
                continue
            by_field[row.field].append((row, _change_of(row, data)))
    if not by_field:
        return outcomes
    if together:
        with ExitStack() as scopes:
            for scope in group_scopes():
                scopes.enter_context(scope())
            outcomes.update(_apply_fields(by_field, isolated=False))
        return outcomes
    try:
        with transaction.atomic(), ExitStack() as scopes:
            for scope in group_scopes():  # e.g. the group's health events fanned out at once
                scopes.enter_context(scope())
            outcomes.update(_apply_fields(by_field, isolated=False))
    except Exception:
        logger.warning(
            "A client's %d changes failed together; applying them one at a time",
            sum(len(items) for items in by_field.values()),
            exc_info=True,
        )
        outcomes.update(_apply_fields(by_field, isolated=True))
    return outcomes


def _apply_fields(
    by_field: dict[str, list[tuple[ClaimedChange, Change]]], *, isolated: bool
) -> dict[int, Outcome]:
    """Every field's changes, set-based where the field can.

    Not isolated: no savepoints, and any error is the caller's. Isolated: each set-based group,
    then (if it fails) each change, in a savepoint of its own; a change that fails is marked
    with its error and the rest go on.
    """
    with failures_isolated_here() if isolated else failures_retried_isolated():
        return _apply_each_field(by_field, isolated=isolated)


def _apply_each_field(
    by_field: dict[str, list[tuple[ClaimedChange, Change]]], *, isolated: bool
) -> dict[int, Outcome]:
    outcomes: dict[int, Outcome] = {}
    savepoint = transaction.atomic if isolated else nullcontext
    for field_name, items in by_field.items():
        handler = handler_for(field_name)
        if handler.batch_applier is not None and len(items) > 1:
            try:
                with savepoint():
                    results = handler.batch_applier([change for _, change in items])
            except Exception:
                if not isolated:
                    raise
                logger.exception("Set-based %s failed; applying one change at a time", field_name)
            else:
                for row, change in items:
                    outcomes[row.pk] = _success(results.get(change.key))
                continue
        for row, change in items:
            try:
                with savepoint():
                    result = handler.applier(change)
            except Exception as exc:
                if not isolated:
                    raise
                logger.exception("Applying webhook change %s failed", row.pk)
                outcomes[row.pk] = _failure(row, exc)
                continue
            outcomes[row.pk] = _success(result)
    return outcomes


def _change_of(row: ClaimedChange, data) -> Change:
    return Change(
        field=row.field,
        entry_id=row.entry_id,
        entry_time=row.entry_time,
        key=row.dedupe_key,
        data=data,
        received_at=row.created_at,
    )


def _success(result: Applied | None) -> Outcome:
    result = result or Applied()
    return Outcome(
        ChangeState.LATE if result.late else ChangeState.APPLIED,
        applied=True,
        failures=list(result.failures),
    )


def is_transient(exc: BaseException) -> bool:
    """Whether a retry can fix this error: a lost connection, or a statement PostgreSQL gave up
    on for reasons of concurrency or time (SQLSTATE classes 08, 40, 53, 57, and 55P03)."""
    from django.db import InterfaceError, OperationalError

    seen = 0
    while exc is not None and seen < 5:
        state = getattr(exc, "sqlstate", None) or getattr(
            getattr(exc, "diag", None), "sqlstate", None
        )
        if state:
            return state[:2] in {"08", "40", "53", "57"} or state == "55P03"
        if isinstance(exc, InterfaceError | OperationalError):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _failure(row: ClaimedChange, exc: BaseException) -> Outcome:
    error = _error_text(exc)
    if is_transient(exc):
        if row.attempts < TRANSIENT_ATTEMPTS:
            return Outcome(ChangeState.PENDING, error, retry_in=_backoff(1, row.attempts, 60))
        return Outcome(ChangeState.FAILED, f"Gave up after {row.attempts} attempts: {error}")
    if row.attempts < PERMANENT_ATTEMPTS:
        return Outcome(ChangeState.FAILED, error, retry_in=_backoff(30, row.attempts, 480))
    return Outcome(ChangeState.FAILED, error)


def _backoff(base: float, attempt: int, cap: float) -> float:
    """Exponential backoff with jitter: base * 2^(attempt-1) (4^ for slow retries), capped."""
    factor = 2 if base < 30 else 4
    delay = min(cap, base * factor ** max(0, attempt - 1))
    return delay * random.uniform(0.8, 1.0)  # noqa: S311 - jitter, not security


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH]


def _record_outcomes(changes: list[ClaimedChange], outcomes: dict[int, Outcome]) -> None:
    """Each change's outcome in one UPDATE, and its failed items as changes of their own."""
    now = timezone.now()
    rows = []
    children: list[WebhookChange] = []
    for change in changes:
        outcome = outcomes[change.pk]
        next_at = (
            now + timedelta(seconds=outcome.retry_in) if outcome.retry_in is not None else None
        )
        rows.append(
            {
                "id": change.pk,
                "state": outcome.state,
                "error": outcome.error,
                "next_at": next_at,
                "applied_at": now if outcome.applied else None,
            }
        )
        children += [_child(change, failure, now) for failure in outcome.failures]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_CHANGES} c SET state = v.state, error = v.error,"  # noqa: S608
            " next_attempt_at = v.next_at, claimed_until = NULL,"
            " applied_at = COALESCE(v.applied_at, c.applied_at)"
            " FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, state text, error text,"
            " next_at timestamptz, applied_at timestamptz) WHERE c.id = v.id",
            [json_rows(rows)],
        )
    if children:
        WebhookChange.objects.bulk_create(children, ignore_conflicts=True)


def _child(parent: ClaimedChange, failure: ItemFailure, now: datetime) -> WebhookChange:
    key = hashlib.sha256(f"{parent.dedupe_key}:{failure.kind}:{failure.index}".encode()).hexdigest()
    problem = envelope.storable(failure.value, f"{failure.kind}[{failure.index}]")
    rejected = failure.rejected or bool(problem)
    return WebhookChange(
        delivery_id=parent.delivery_id,
        parent_id=parent.pk,
        dedupe_key=key,
        field=parent.field,
        entry_id=parent.entry_id,
        entry_time=parent.entry_time,
        value={} if problem else failure.value,
        client_id=parent.client_id,
        state=ChangeState.REJECTED if rejected else ChangeState.FAILED,
        error=(problem or failure.error)[:ERROR_LENGTH],
        next_attempt_at=None if rejected else now + timedelta(seconds=_backoff(30, 1, 480)),
        created_at=parent.created_at,
    )


# --- drain and sweep -----------------------------------------------------------------------


@dataclass
class DrainCounts:
    deliveries: int = 0
    changes: BatchCounts = field(default_factory=BatchCounts)


def webhook_drain(*, max_seconds: float | None = None, only: Sequence[int] | None = None):
    """Split and apply until nothing is due (or `max_seconds` passed); safe to run in many
    workers at once. Returns the counts."""
    started = timezone.now()
    total = DrainCounts()
    while True:
        split = deliveries_split(only=only)
        batch = changes_apply(only=only)
        total.deliveries += split
        for name in ("claimed", "applied", "late", "failed", "rejected", "retrying", "unroutable"):
            setattr(total.changes, name, getattr(total.changes, name) + getattr(batch, name))
        if not split and not batch.claimed:
            return total
        if max_seconds is not None and (timezone.now() - started).total_seconds() > max_seconds:
            return total


def work_waiting() -> bool:
    """Is there work no run is doing? An unsplit delivery no run is splitting (row locks
    skipped), or a due change with no live lease whose client no run holds (the claim's rule):
    what a run in progress will do anyway does not count, so a run that gives its slot back
    does not start another pass for it."""
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor, _queue_index_paths(cursor):
        cursor.execute(
            f"""
            WITH unsplit AS (
                SELECT id FROM {_DELIVERIES} WHERE state = %(received)s
                LIMIT 1 FOR UPDATE SKIP LOCKED
            ), {_BUSY_CLIENTS}
            SELECT EXISTS (SELECT 1 FROM unsplit)
                OR EXISTS (SELECT 1 FROM {_CHANGES} c WHERE {_CLAIMABLE})
            """,  # noqa: S608 - table names are ours
            {"received": DeliveryState.RECEIVED, "now": now},
        )
        return bool(cursor.fetchone()[0])


def next_due_in() -> float | None:
    """Seconds until the next change falls due (a retry, or a change waiting for its client;
    None: nothing waits)."""
    at = (
        WebhookChange.objects.filter(next_attempt_at__isnull=False)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if at is None:
        return None
    return max(0.0, (at - timezone.now()).total_seconds())


@dataclass(frozen=True)
class Sweep:
    deliveries: list[int]  # stored but never split
    changes: list[int]  # due, with no live lease (a retry, or a dead worker's claim)

    def __bool__(self) -> bool:
        return bool(self.deliveries or self.changes)


def webhook_sweep_find(*, now: datetime | None = None, limit: int = 500) -> Sweep:
    """Work no run is doing: deliveries older than META_WEBHOOK_SWEEP_AFTER_SECONDS still
    unsplit, and changes due whose lease (if any) has run out."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.META_WEBHOOK_SWEEP_AFTER_SECONDS)
    deliveries = list(
        WebhookDelivery.objects.filter(state=DeliveryState.RECEIVED, received_at__lt=cutoff)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    due = WebhookChange.objects.filter(next_attempt_at__lte=now).exclude(claimed_until__gte=now)
    changes = list(due.order_by("next_attempt_at", "id").values_list("id", flat=True)[:limit])
    return Sweep(deliveries, changes)
