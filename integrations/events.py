"""The one way events leave the portal: `event_emit` writes the outbox rows of an event for
every endpoint of this client that receives its type, in the caller's transaction, and sends them
after commit. In-app alerts and e-mails are decided by the recorder that calls it
(`compliance.services.health_event_record`, the workflows' services) through `notify`."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from integrations.choices import EVENT_TYPES, EndpointState
from integrations.models import WebhookDelivery, WebhookEndpoint


def message_id_new() -> str:
    return f"msg_{uuid.uuid4().hex}"


def _jsonable(data: dict) -> dict:
    import json

    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def event_emit(
    *, event_type: str, data: dict, occurred_at: datetime | None = None
) -> list[WebhookDelivery]:
    """Queue `event_type` with `data` (our names, never Meta's) for this client's endpoints.

    Runs in the tenant schema of the event; does nothing in the public schema (no client)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"Unknown event type {event_type!r}: add it to integrations.choices.")
    if connection.schema_name == "public":
        return []
    endpoints = [
        e
        for e in WebhookEndpoint.objects.exclude(state=EndpointState.DISABLED).only(
            "id", "event_types", "state"
        )
        if e.receives(event_type)
    ]
    if not endpoints:
        return []
    now = timezone.now()
    payload = {
        "type": event_type,
        "timestamp": (occurred_at or now).isoformat(),
        "data": _jsonable(data),
    }
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                endpoint_id=e.pk,
                message_id=message_id_new(),
                event_type=event_type,
                payload=payload,
                created_at=now,
                next_attempt_at=now,
            )
            for e in endpoints
        ]
    )
    _send_after_commit([d.pk for d in deliveries])
    return deliveries


def events_emit_many(events: list[tuple[str, dict, datetime | None]]) -> int:
    """`event_emit` for many (type, data, occurred_at) at once: one endpoint query, one INSERT,
    one send after commit, whatever the count. Returns the deliveries queued."""
    if connection.schema_name == "public" or not events:
        return 0
    for event_type, _, _ in events:
        if event_type not in EVENT_TYPES:
            raise ValueError(f"Unknown event type {event_type!r}: add it to integrations.choices.")
    endpoints = list(
        WebhookEndpoint.objects.exclude(state=EndpointState.DISABLED).only(
            "id", "event_types", "state"
        )
    )
    if not endpoints:
        return 0
    now = timezone.now()
    rows = [
        WebhookDelivery(
            endpoint_id=endpoint.pk,
            message_id=message_id_new(),
            event_type=event_type,
            payload={
                "type": event_type,
                "timestamp": (occurred_at or now).isoformat(),
                "data": _jsonable(data),
            },
            created_at=now,
            next_attempt_at=now,
        )
        for event_type, data, occurred_at in events
        for endpoint in endpoints
        if endpoint.receives(event_type)
    ]
    if rows:
        deliveries = WebhookDelivery.objects.bulk_create(rows)
        _send_after_commit([d.pk for d in deliveries])
    return len(rows)


def _send_after_commit(ids: list[int]) -> None:
    """One send task per transaction, however many events it recorded."""
    pending = getattr(connection, "_outbox_pending", None)
    if pending is not None and connection.in_atomic_block:
        pending.extend(ids)
        return
    schema = connection.schema_name
    batch = list(ids)
    if connection.in_atomic_block:
        connection._outbox_pending = batch

    def send():
        connection._outbox_pending = None
        from integrations.tasks import webhook_send
        from portal.celery import enqueue_or_leave_to_sweeper

        enqueue_or_leave_to_sweeper(webhook_send, schema, batch)

    transaction.on_commit(send, robust=True)
