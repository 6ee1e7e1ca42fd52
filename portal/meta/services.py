"""Webhook deliveries: stored on arrival, then split, routed and applied once each.

The stages live in `portal/meta/webhooks/` (envelope, pipeline, wake); this module is what the
views, tasks, admin and tests call.
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime

import psycopg
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name

from portal.meta.models import ChangeState, DeliveryState, WebhookChange, WebhookDelivery
from portal.meta.webhooks import envelope, pipeline, wake
from portal.meta.webhooks.contract import handler_for
from portal.meta.webhooks.wake import Waker

logger = logging.getLogger(__name__)


_STORE_SQL = (
    # Schema-qualified: the statement needs no search path, so no `SET search_path` round trip.
    f'INSERT INTO "{get_public_schema_name()}".{WebhookDelivery._meta.db_table} '  # noqa: S608
    "(received_at, body, body_sha256, state, attempts, last_error, changes_total,"
    " changes_seen_before) VALUES (%s, %s, %s, %s, 0, '', 0, 0)"
    " ON CONFLICT (body_sha256) DO NOTHING RETURNING id"
)


def webhook_delivery_store(*, body: bytes) -> int | None:
    """Store a verified delivery once; returns its id if it is new (a replay returns None).

    The intake's one round trip: outside a transaction the INSERT is its own, committed (and
    flushed, synchronous_commit stays on) before PostgreSQL answers, so a delivery we answer 200
    is durable. It skips Django's cursor (health-check SELECT 1, `SET search_path`, BEGIN and
    COMMIT would be five more round trips); a connection found dead is replaced and the INSERT
    sent once more, which ON CONFLICT makes safe even if the first one had committed. Inside a
    transaction (tests, tools) it joins that transaction and wakes the drain after its commit.
    """
    digest = hashlib.sha256(body).hexdigest()
    params = [timezone.now(), body, digest, str(DeliveryState.RECEIVED)]
    try:
        row = _store_once(params)
    except (OperationalError, InterfaceError):
        if connection.in_atomic_block:
            raise
        logger.info("Webhook store: connection unusable, retrying on a new one", exc_info=True)
        connection.close()
        row = _store_once(params)
        # The lost first attempt may have stored it: wake the drain either way.
        transaction.on_commit(webhook_processor_wake)
        return row[0] if row else None
    if row is None:
        return None
    transaction.on_commit(webhook_processor_wake)
    return row[0]


def _store_once(params: list) -> tuple | None:
    connection.ensure_connection()
    # psycopg's own cursor binds on the server: the body goes as binary bytea (Django's cursor
    # would quote it into the SQL text) and the statement is prepared after a few uses of the
    # connection, unless prepare_threshold is off (PgBouncer).
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        return cursor.execute(_STORE_SQL, params).fetchone()


def _queue_drain(countdown: float | None = None, ticket: wake.Ticket | None = None) -> None:
    from portal.meta.tasks import process_pending_webhooks

    kwargs = {"slot": ticket.slot, "token": ticket.token} if ticket else {}
    process_pending_webhooks.apply_async(kwargs=kwargs, countdown=countdown or None)


def _connection_tidy() -> None:
    if not connection.in_atomic_block:  # a caller's transaction (tests, tools) is left alone
        connection.close_if_unusable_or_obsolete()


def _drain_wake() -> None:
    """The waker thread's publish: a run for a free drain slot, or none while every slot's run
    is queued or running (each looks for waiting work again as it gives its slot back)."""
    try:
        _connection_tidy()  # this thread's own, kept as a request's
        runs, hold = settings.META_WEBHOOK_DRAIN_RUNS, pipeline.lease_seconds()
        ticket = wake.slot_take(runs=runs, hold=hold)
    except DatabaseError:
        # The slots cannot be read: one run that may be one too many beats none.
        logger.warning("Drain slots unreadable; waking a run without one", exc_info=True)
        connection.close()
        _queue_drain()
        return
    try:
        if ticket is not None:
            _drain_publish(ticket)
    finally:
        _connection_tidy()  # as at a request's end (DB_CONN_MAX_AGE)


def _drain_publish(ticket: wake.Ticket) -> None:
    """A run for the slot just taken; the slot back if the broker refuses (the next wake-up
    may try again)."""
    try:
        _queue_drain(ticket=ticket)
    except Exception:
        wake.slot_release(ticket)
        raise


_waker = Waker(_drain_wake, on_idle=connection.close)


def webhook_processor_wake() -> None:
    """Ask for a drain run. Returns at once: the publish happens on a thread of its own, at most
    every few milliseconds per process and only with a free drain slot (eager Celery, as in
    tests, drains here and now)."""
    from portal.celery import app

    if app.conf.task_always_eager:
        _queue_drain()
    else:
        _waker.request()


# Passes in a row that found the waiting work taken by another run before giving up the look.
FRUITLESS_PASSES = 3
# A change falling due sooner than this gets a delayed run; later ones the sweeper finds.
RETRY_TIMER_SECONDS = 30


def webhook_drain_run(*, ticket: wake.Ticket | None, max_seconds: float) -> int:
    """One drain run (the task's body): drains what is due, and, holding a slot, gives it back
    and looks for waiting work once more, draining on with a slot taken again while there is
    some; after `max_seconds` it hands over to a fresh task with its slot. Returns how many
    deliveries and changes it did (0 for a ticket another run holds now: that run is queued)."""
    started = time.monotonic()
    hold = max_seconds + pipeline.lease_seconds()
    if ticket is not None and not wake.slot_hold(ticket, hold):
        return 0
    done = fruitless = 0
    while True:
        left = max(0.0, max_seconds - (time.monotonic() - started))
        try:
            did = webhook_process_pending(max_seconds=left)
        except Exception:
            if ticket is not None:  # a failed run holds no slot: the next wake-up gets one
                wake.slot_release(ticket)
            raise
        done += did
        if ticket is None:
            break
        wake.slot_release(ticket)
        ticket = None
        fruitless = 0 if did else fruitless + 1
        if fruitless >= FRUITLESS_PASSES or not pipeline.work_waiting():
            break
        ticket = wake.slot_take(runs=settings.META_WEBHOOK_DRAIN_RUNS, hold=hold)
        if ticket is None:
            break  # every slot's run is queued or running: each will look as it ends
        if time.monotonic() - started >= max_seconds:
            # A fresh task, so other work on the queue gets its turn.
            wake.slot_hold(ticket, pipeline.lease_seconds())
            _drain_publish(ticket)
            break
    _retry_timer_set()
    return done


def _retry_timer_set() -> None:
    """A delayed run for the next change falling due soon (a retry, or a change another run
    holds the client of), unless one as early is planned."""
    due_in = pipeline.next_due_in()
    if due_in is None or due_in >= RETRY_TIMER_SECONDS:
        return
    delay = max(due_in, 0.5)
    ticket = wake.retry_slot_take(delay=delay, hold=pipeline.lease_seconds())
    if ticket is not None:
        _queue_drain(countdown=delay, ticket=ticket)


def webhook_process_pending(*, max_seconds: float | None = None) -> int:
    """Drain every due delivery and change; returns how many deliveries and changes were done."""
    counts = pipeline.webhook_drain(max_seconds=max_seconds)
    return counts.deliveries + counts.changes.claimed


def webhook_delivery_process(*, delivery_id: int) -> dict:
    """Split one delivery and apply its due changes (tests, staff tools). Counts by outcome."""
    counts = pipeline.webhook_drain(only=[delivery_id])
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    return {
        "changes": delivery.changes_total,
        "applied": counts.changes.applied,
        "late": counts.changes.late,
        "failed": counts.changes.failed + counts.changes.retrying,
        "rejected": WebhookChange.objects.filter(
            delivery_id=delivery_id, state=ChangeState.REJECTED
        ).count(),
        "unroutable": WebhookChange.objects.filter(
            delivery_id=delivery_id, state=ChangeState.UNROUTABLE
        ).count(),
    }


def webhook_sweep(*, now: datetime | None = None) -> pipeline.Sweep:
    """Work no run is doing (a lost wake-up, a dead worker, a retry falling due): queue one run
    that drains it all. Returns what it found."""
    found = pipeline.webhook_sweep_find(now=now)
    if found:
        _queue_drain()
    return found


def webhook_change_retry(*, change: WebhookChange, actor=None) -> str | None:
    """Staff retry of a failed, rejected or unroutable change (e.g. after linking its WABA):
    routed again and applied now. Returns the new state, or None if it still has no client."""
    from portal.audit.services import audit_record

    parsed = envelope.EnvelopeChange(
        field=change.field,
        entry_id=change.entry_id,
        entry_time=change.entry_time,
        value=change.value,
        dedupe_key=change.dedupe_key,
    )
    client_id = pipeline.route_of(parsed, pipeline._routes([parsed]))
    if client_id is None or handler_for(change.field) is None:
        return None
    WebhookChange.objects.filter(pk=change.pk).update(
        state=ChangeState.PENDING,
        client_id=client_id,
        error="",
        attempts=0,
        claimed_until=None,
        next_attempt_at=timezone.now(),
    )
    WebhookDelivery.objects.filter(pk=change.delivery_id).update(
        state=DeliveryState.SPLIT, processed_at=None
    )
    audit_record(action="webhook_change.retried", actor=actor, target=change)
    pipeline.webhook_drain(only=[change.delivery_id])
    return WebhookChange.objects.values_list("state", flat=True).get(pk=change.pk)


def webhook_change_dismiss(*, change: WebhookChange, actor=None) -> None:
    """Staff set a change aside for good (e.g. a WABA the BSP no longer serves)."""
    from portal.audit.services import audit_record

    with transaction.atomic():
        WebhookChange.objects.filter(pk=change.pk).update(
            state=ChangeState.DISMISSED, next_attempt_at=None, claimed_until=None
        )
        audit_record(
            action="webhook_change.dismissed",
            actor=actor,
            target=change,
            before={"state": change.state},
            after={"state": ChangeState.DISMISSED},
        )
        pipeline.deliveries_finish([change.delivery_id])
