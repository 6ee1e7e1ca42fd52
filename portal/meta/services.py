"""Webhook deliveries: stored on arrival, then split, routed and applied once each.

The stages live in `portal/meta/webhooks/` (envelope, pipeline, wake); this module is what the
views, tasks, admin and tests call.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

import psycopg
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name

from portal.meta.models import ChangeState, DeliveryState, WebhookChange, WebhookDelivery
from portal.meta.webhooks import envelope, pipeline
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


def _queue_drain(countdown: float | None = None) -> None:
    from portal.meta.tasks import process_pending_webhooks

    if countdown:
        process_pending_webhooks.apply_async(countdown=countdown)
    else:
        process_pending_webhooks.delay()


_waker = Waker(lambda: _queue_drain())


def webhook_processor_wake() -> None:
    """Ask for a drain run. Returns at once: the publish happens on a thread of its own, at most
    every few milliseconds per process (eager Celery, as in tests, drains here and now)."""
    from portal.celery import app

    if app.conf.task_always_eager:
        _queue_drain()
    else:
        _waker.request()


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
