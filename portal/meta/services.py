"""Webhook deliveries: store on arrival, then route each change to its client and apply it once.

Exactly once in effect: a change is identified by a hash of (field, entry id, entry time, value),
inserted once (ON CONFLICT DO NOTHING), and applied under a row lock in the same transaction as
its tenant-side writes; the tenant-side appliers are idempotent as well.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tenants.utils import schema_context

from portal.meta.models import ChangeState, WebhookChange, WebhookDelivery
from tenants.models import AssetKind, Client, MetaAssetRoute

logger = logging.getLogger(__name__)

# Which function applies each webhook field inside the client's schema.
APPLIERS = {
    "account_update": "compliance.meta_updates.apply_account_update",
    "account_review_update": "compliance.meta_updates.apply_account_review_update",
    "phone_number_quality_update": "compliance.meta_updates.apply_phone_number_quality_update",
    "phone_number_name_update": "compliance.meta_updates.apply_phone_number_name_update",
    "business_capability_update": "compliance.meta_updates.apply_business_capability_update",
    "account_alerts": "compliance.meta_updates.apply_account_alerts",
    "messages": "compliance.meta_updates.apply_messages",
    "message_template_status_update": "compliance.meta_updates.apply_template_status_update",
    "message_template_quality_update": "compliance.meta_updates.apply_template_quality_update",
    "template_category_update": "compliance.meta_updates.apply_template_category_update",
    "user_preferences": "compliance.meta_updates.apply_user_preferences",
}


@dataclass(frozen=True)
class ParsedChange:
    field: str
    entry_id: str
    entry_time: datetime | None
    value: dict
    dedupe_key: str

    @property
    def phone_number_id(self) -> str | None:
        metadata = self.value.get("metadata") or {}
        return str(metadata["phone_number_id"]) if metadata.get("phone_number_id") else None


def webhook_delivery_store(*, body: bytes) -> int | None:
    """Store a verified delivery once; returns its id if it is new (a replay returns None)."""
    digest = hashlib.sha256(body).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {WebhookDelivery._meta.db_table} "  # noqa: S608 - fixed table name
            "(received_at, body, body_sha256, attempts, last_error) "
            "VALUES (%s, %s, %s, 0, '') ON CONFLICT (body_sha256) DO NOTHING RETURNING id",
            [timezone.now(), body, digest],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    delivery_id = row[0]
    # robust: if the broker is down the delivery stays stored and the sweeper picks it up.
    transaction.on_commit(webhook_processor_wake, robust=True)
    return delivery_id


# Wake-ups are coalesced: one processing run drains every pending delivery, so a burst of
# deliveries needs one task, not one each (a publish costs more CPU than the whole INSERT).
# The key expires on its own in case a publish was lost; the sweeper covers the rest.
WAKEUP_KEY = "meta:webhook-processor-wakeup"
WAKEUP_TTL_SECONDS = 10


def webhook_processor_wake() -> bool:
    """Queue a processing run unless one is already queued; True if this call queued it.

    Coalescing needs a cache every process shares (CACHE_URL): with a per-process memory cache
    a worker could not clear the web processes' keys, so each delivery wakes a run of its own.
    """
    from django.core.cache import cache

    if settings.META_WEBHOOK_COALESCE_WAKEUPS and not cache.add(
        WAKEUP_KEY, 1, timeout=WAKEUP_TTL_SECONDS
    ):
        return False
    _queue_drain()
    return True


def _queue_drain() -> None:
    from portal.meta.tasks import process_pending_webhooks

    process_pending_webhooks.delay()


def webhook_process_pending(*, batch: int = 500, max_attempts: int = 10) -> int:
    """Process every stored, unprocessed delivery, oldest first; returns how many were done.

    The wake-up key is cleared before each look for pending deliveries: a delivery stored after
    that look finds no key and queues a new run, so none waits for the sweeper.
    """
    from django.core.cache import cache

    done = 0
    while True:
        cache.delete(WAKEUP_KEY)
        pending = list(
            WebhookDelivery.objects.filter(processed_at__isnull=True, attempts__lt=max_attempts)
            .order_by("received_at", "id")
            .values_list("id", flat=True)[:batch]
        )
        if not pending:
            return done
        for delivery_id in pending:
            webhook_delivery_process(delivery_id=delivery_id)
            done += 1


def parse_changes(payload: dict) -> Iterator[ParsedChange]:
    """Every `entry[].changes[]` item of a delivery, with its dedupe key."""
    for entry in payload.get("entry") or []:
        entry_id = str(entry.get("id", ""))
        raw_time = entry.get("time")
        entry_time = (
            datetime.fromtimestamp(int(raw_time), tz=UTC) if isinstance(raw_time, int) else None
        )
        for change in entry.get("changes") or []:
            field = str(change.get("field", ""))
            value = change.get("value") if isinstance(change.get("value"), dict) else {}
            key_source = json.dumps(
                [field, entry_id, raw_time, value], sort_keys=True, separators=(",", ":")
            )
            yield ParsedChange(
                field=field,
                entry_id=entry_id,
                entry_time=entry_time,
                value=value,
                dedupe_key=hashlib.sha256(key_source.encode()).hexdigest(),
            )


def _route(changes: list[ParsedChange]) -> dict[str, int | None]:
    """Client id per change (by WABA id, else by phone number id), from one query."""
    waba_ids = {c.entry_id for c in changes}
    phone_ids = {c.phone_number_id for c in changes if c.phone_number_id}
    routes = {
        (kind, meta_id): client_id
        for kind, meta_id, client_id in MetaAssetRoute.objects.filter(
            meta_id__in=waba_ids | phone_ids
        ).values_list("kind", "meta_id", "client_id")
    }
    result = {}
    for change in changes:
        client_id = routes.get((AssetKind.WABA, change.entry_id))
        if client_id is None and change.phone_number_id:
            client_id = routes.get((AssetKind.PHONE_NUMBER, change.phone_number_id))
        result[change.dedupe_key] = client_id
    return result


def webhook_delivery_process(*, delivery_id: int) -> dict:
    """Split a delivery into changes, route them and apply each routable one exactly once."""
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    WebhookDelivery.objects.filter(pk=delivery_id).update(attempts=delivery.attempts + 1)
    try:
        payload = json.loads(bytes(delivery.body))
    except (ValueError, UnicodeDecodeError) as exc:
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            processed_at=timezone.now(), last_error=f"Not JSON: {exc}"
        )
        return {"changes": 0, "applied": 0, "unroutable": 0, "failed": 0}
    changes = list(parse_changes(payload if isinstance(payload, dict) else {}))
    routed = _route(changes)
    WebhookChange.objects.bulk_create(
        [
            WebhookChange(
                delivery_id=delivery_id,
                dedupe_key=change.dedupe_key,
                field=change.field,
                entry_id=change.entry_id,
                entry_time=change.entry_time,
                value=change.value,
                client_id=routed[change.dedupe_key],
                state=(
                    ChangeState.PENDING
                    if routed[change.dedupe_key] is not None and change.field in APPLIERS
                    else ChangeState.UNROUTABLE
                ),
                error="" if change.field in APPLIERS else f"No handler for field {change.field!r}.",
            )
            for change in changes
        ],
        ignore_conflicts=True,
    )
    counts = {"changes": len(changes), "applied": 0, "failed": 0}
    pending = list(
        WebhookChange.objects.filter(
            dedupe_key__in=[c.dedupe_key for c in changes], state=ChangeState.PENDING
        )
        .order_by("id")
        .values_list("id", "client_id")
    )
    clients = Client.objects.in_bulk({client_id for _, client_id in pending})
    for change_id, client_id in pending:
        outcome = _apply_one(change_id, clients[client_id])
        if outcome:
            counts[outcome] += 1
    counts["unroutable"] = WebhookChange.objects.filter(
        delivery_id=delivery_id, state=ChangeState.UNROUTABLE
    ).count()
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        processed_at=timezone.now(), last_error=""
    )
    return counts


def _apply_one(change_id: int, client: Client) -> str | None:
    try:
        with transaction.atomic():
            change = (
                WebhookChange.objects.select_for_update(skip_locked=True)
                .filter(pk=change_id, state=ChangeState.PENDING)
                .first()
            )
            if change is None:  # applied meanwhile by another worker
                return None
            applier = import_string(APPLIERS[change.field])
            with schema_context(client.schema_name):
                applier(
                    value=change.value,
                    entry_id=change.entry_id,
                    entry_time=change.entry_time or change.created_at,
                    change_key=change.dedupe_key,
                )
            change.state = ChangeState.APPLIED
            change.applied_at = timezone.now()
            change.save(update_fields=["state", "applied_at"])
        return "applied"
    except Exception as exc:
        logger.exception("Applying webhook change %s failed", change_id)
        WebhookChange.objects.filter(pk=change_id).update(
            state=ChangeState.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        return "failed"


def webhook_sweep(*, now: datetime | None = None, max_attempts: int = 10) -> list[int]:
    """Deliveries stored but never processed (broker down, worker killed, a lost wake-up): queue
    one run that drains them all, whatever the wake-up key says. Returns the stale ids."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.META_WEBHOOK_SWEEP_AFTER_SECONDS)
    stale = list(
        WebhookDelivery.objects.filter(
            processed_at__isnull=True, received_at__lt=cutoff, attempts__lt=max_attempts
        )
        .order_by("received_at")
        .values_list("id", flat=True)[:500]
    )
    if stale:
        _queue_drain()
    return stale


def webhook_change_retry(*, change: WebhookChange, actor=None) -> str | None:
    """Staff retry of a failed or unroutable change (e.g. after linking its WABA to a client)."""
    from portal.audit.services import audit_record

    parsed_client_id = _route(
        [
            ParsedChange(
                field=change.field,
                entry_id=change.entry_id,
                entry_time=change.entry_time,
                value=change.value,
                dedupe_key=change.dedupe_key,
            )
        ]
    )[change.dedupe_key]
    if parsed_client_id is None or change.field not in APPLIERS:
        return None
    WebhookChange.objects.filter(pk=change.pk).update(
        state=ChangeState.PENDING, client_id=parsed_client_id, error=""
    )
    audit_record(action="webhook_change.retried", actor=actor, target=change)
    return _apply_one(change.pk, Client.objects.get(pk=parsed_client_id))
