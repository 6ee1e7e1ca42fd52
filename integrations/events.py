"""The one way events leave the portal: `event_emit` writes the outbox rows of an event for
every endpoint of this client that receives its type, in the caller's transaction, and sends them
after commit. In-app alerts and e-mails are decided by the recorder that calls it
(`compliance.services.health_event_record`, the workflows' services) through `notify`."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from integrations.choices import EVENT_TYPES, DeliveryState, EndpointState
from integrations.models import WebhookDelivery, WebhookEndpoint


def message_id_new() -> str:
    return f"msg_{uuid.uuid4().hex}"


def event_emit(*, event_type: str, data: dict, occurred_at: datetime | None = None) -> int:
    """Queue `event_type` with `data` (our names, never Meta's) for this client's endpoints.

    Runs in the tenant schema of the event; does nothing in the public schema (no client).
    Returns the deliveries queued."""
    return events_emit_many([(event_type, data, occurred_at)])


_DELIVERIES = WebhookDelivery._meta.db_table


def events_emit_many(events: list[tuple[str, dict, datetime | None]]) -> int:
    """`event_emit` for many (type, data, occurred_at) at once: one endpoint query, one INSERT,
    one send after commit, whatever the count. Returns the deliveries queued.

    The rows go in as one JSON parameter: every health event and alert of a webhook batch comes
    through here, and building model instances for them cost more than the INSERT itself."""
    for event_type, _, _ in events:  # a wrong type is a bug wherever it is emitted
        if event_type not in EVENT_TYPES:
            raise ValueError(f"Unknown event type {event_type!r}: add it to integrations.choices.")
    if connection.schema_name == "public" or not events:
        return 0
    endpoints = [
        WebhookEndpoint(pk=pk, event_types=types)
        for pk, types in WebhookEndpoint.objects.exclude(state=EndpointState.DISABLED)
        .order_by("id")
        .values_list("id", "event_types")
    ]
    if not endpoints:
        return 0
    now = timezone.now()
    rows = []
    for event_type, data, occurred_at in events:
        receiving = [endpoint.pk for endpoint in endpoints if endpoint.receives(event_type)]
        if not receiving:
            continue
        payload = {
            "type": event_type,
            "timestamp": (occurred_at or now).isoformat(),
            "data": data,
        }
        rows += [
            {"endpoint": pk, "message": message_id_new(), "type": event_type, "payload": payload}
            for pk in receiving
        ]
    if not rows:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_DELIVERIES} (endpoint_id, message_id, event_type, payload, state,"  # noqa: S608
            " attempts, created_at, next_attempt_at, response_excerpt, error)"
            " SELECT r.endpoint, r.message, r.type, r.payload, %s, 0, %s, %s, '', ''"
            " FROM jsonb_to_recordset(%s::jsonb)"
            " AS r(endpoint bigint, message text, type text, payload jsonb) RETURNING id",
            [DeliveryState.PENDING, now, now, json.dumps(rows, cls=DjangoJSONEncoder)],
        )
        ids = [row[0] for row in cursor.fetchall()]
    _send_after_commit(ids)
    return len(ids)


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
