"""Writes for a client's WhatsApp assets and their health. Run inside the client's schema unless
a function says otherwise."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from compliance.choices import HEALTH_ERROR_CODES, EventKind, EventSource, Severity
from compliance.health import NumberSignals, assess
from compliance.models import (
    AccountRestriction,
    Alert,
    HealthEvent,
    HealthSnapshot,
    MessageStatus,
    PhoneNumber,
    SyncRun,
    WhatsAppAccount,
)
from portal.audit.services import audit_record
from portal.meta import types as meta
from tenants.models import AssetKind, Client, MetaAssetRoute, WorkItem, WorkKind

SNAPSHOT_EVERY = timedelta(hours=24)
SIGNAL_WINDOW = timedelta(days=30)


def dedupe_key(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()


def current_client() -> Client:
    """The client whose schema the connection is in."""
    return Client.objects.get(schema_name=connection.schema_name)


# --- Linking assets to a client (run from the public schema) ------------------------------


def account_link(*, client: Client, waba_id: str, name: str = "", actor=None) -> WhatsAppAccount:
    """Give `client` a WABA: the tenant-side account and the public route webhooks use."""
    waba_id = waba_id.strip()
    if not waba_id.isdigit():
        raise ValueError("A WABA id is a number, as shown in Meta's Business Manager.")
    with transaction.atomic():
        taken = MetaAssetRoute.objects.filter(kind=AssetKind.WABA, meta_id=waba_id).first()
        if taken is not None and taken.client_id != client.pk:
            raise ValueError(f"WABA {waba_id} already belongs to another client.")
        MetaAssetRoute.objects.get_or_create(
            kind=AssetKind.WABA, meta_id=waba_id, defaults={"client": client}
        )
        with schema_context(client.schema_name):
            account, created = WhatsAppAccount.objects.get_or_create(
                meta_id=waba_id, defaults={"name": name}
            )
        if created:
            audit_record(
                action="waba.linked",
                actor=actor,
                client=client,
                after={"waba_id": waba_id, "name": name},
            )
    return account


def number_route_ensure(*, number: PhoneNumber, client: Client) -> None:
    with schema_context(get_public_schema_name()):
        MetaAssetRoute.objects.get_or_create(
            kind=AssetKind.PHONE_NUMBER, meta_id=number.meta_id, defaults={"client": client}
        )


# --- Events and alerts --------------------------------------------------------------------


def health_event_record(
    *,
    kind: EventKind,
    severity: Severity,
    title: str,
    key: str,
    source: EventSource,
    occurred_at: datetime | None = None,
    account: WhatsAppAccount | None = None,
    number: PhoneNumber | None = None,
    template_name: str = "",
    detail: str = "",
    data: dict | None = None,
) -> HealthEvent | None:
    """Record an event once per `key`; warnings and critical events raise an alert.

    Returns the new event, or None if this key was recorded before.
    """
    event = HealthEvent(
        kind=kind,
        severity=severity,
        title=title[:200],
        detail=detail,
        data=data or {},
        source=source,
        occurred_at=occurred_at or timezone.now(),
        account=account if account is not None else (number.account if number else None),
        number=number,
        template_name=template_name,
        dedupe_key=key,
    )
    try:
        with transaction.atomic():
            event.save()
    except IntegrityError:  # this key was recorded before
        return None
    if severity != Severity.INFO:
        alert_raise(event=event)
    return event


def alert_raise(*, event: HealthEvent) -> Alert:
    alert, created = Alert.objects.get_or_create(event=event)
    if created:
        from compliance.tasks import alert_email

        schema = connection.schema_name
        transaction.on_commit(
            lambda: alert_email.apply_async(args=[alert.pk], headers={"_schema_name": schema}),
            robust=True,
        )
    return alert


def alert_acknowledge(*, alert: Alert, actor) -> Alert:
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        if locked.acknowledged_at is None:
            locked.acknowledged_at = timezone.now()
            locked.acknowledged_by = actor
            locked.save(update_fields=["acknowledged_at", "acknowledged_by"])
            audit_record(
                action="alert.acknowledged",
                actor=actor,
                client=current_client(),
                target=locked,
            )
    return locked


# --- Health assessment --------------------------------------------------------------------


def active_restrictions(*, account: WhatsAppAccount, now: datetime) -> tuple:
    return tuple(
        meta.RestrictionType(r)
        for r in AccountRestriction.objects.filter(account=account)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .values_list("restriction_type", flat=True)
    )


def number_signals(
    *, number: PhoneNumber, now: datetime | None = None, restrictions: tuple | None = None
) -> NumberSignals:
    """The number's state and its last 30 days, from three queries (two when the account's
    active restrictions are passed in, as when all numbers of an account are assessed)."""
    now = now or timezone.now()
    since = now - SIGNAL_WINDOW
    account = number.account
    if restrictions is None:
        restrictions = active_restrictions(account=account, now=now)
    event_counts = dict(
        HealthEvent.objects.filter(occurred_at__gte=since)
        .filter(Q(number=number) | Q(account=account, number__isnull=True))
        .values_list("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )
    status_counts = MessageStatus.objects.filter(number=number, occurred_at__gte=since).aggregate(
        sent=Count("id", filter=Q(status="sent")),
        **{
            f"e{code}": Count("id", filter=Q(status="failed", error_code=code))
            for code in HEALTH_ERROR_CODES
        },
    )
    failures = sum(status_counts[f"e{code}"] for code in HEALTH_ERROR_CODES)
    return NumberSignals(
        status=meta.NumberStatus(number.status),
        quality=meta.Quality(number.quality),
        messaging_limit=meta.MessagingLimit(number.messaging_limit),
        can_send=meta.CanSend(number.can_send),
        ban_state=meta.BanState(account.ban_state),
        active_restrictions=restrictions,
        quality_drops_30d=event_counts.get(EventKind.QUALITY_DROP, 0),
        limit_drops_30d=event_counts.get(EventKind.LIMIT_DROP, 0),
        template_pauses_30d=event_counts.get(EventKind.TEMPLATE_PAUSED, 0),
        template_disables_30d=event_counts.get(EventKind.TEMPLATE_DISABLED, 0),
        template_rejections_30d=event_counts.get(EventKind.TEMPLATE_REJECTED, 0),
        # A failed message is not "sent"; count attempts as sent plus failures.
        sent_30d=status_counts["sent"] + failures,
        errors_30d={code: status_counts[f"e{code}"] for code in HEALTH_ERROR_CODES},
    )


def number_reassess(
    *,
    number: PhoneNumber,
    now: datetime | None = None,
    client: Client | None = None,
    restrictions: tuple | None = None,
) -> PhoneNumber:
    """Score the number, keep its history (a snapshot on change and at least daily) and mirror
    it into the staff work index, all in the caller's transaction."""
    now = now or timezone.now()
    result = assess(number_signals(number=number, now=now, restrictions=restrictions))
    number.score, number.band = result.score, result.band
    number.reasons, number.actions, number.assessed_at = (
        list(result.reasons),
        list(result.actions),
        now,
    )
    number.save(update_fields=["score", "band", "reasons", "actions", "assessed_at"])
    last = number.snapshots.order_by("-taken_at").first()
    state = (number.status, number.quality, number.messaging_limit, number.can_send)
    if (
        last is None
        or (last.status, last.quality, last.messaging_limit, last.can_send) != state
        or (last.score, last.band) != (number.score, number.band)
        or now - last.taken_at >= SNAPSHOT_EVERY
    ):
        HealthSnapshot.objects.create(
            number=number,
            taken_at=now,
            status=number.status,
            quality=number.quality,
            messaging_limit=number.messaging_limit,
            can_send=number.can_send,
            score=number.score,
            band=number.band,
        )
    work_item_sync_number(number=number, client=client or current_client())
    return number


def account_reassess_numbers(
    *, account: WhatsAppAccount, now: datetime | None = None, client: Client | None = None
) -> None:
    """Reassess every number of the account, reading its restrictions once."""
    now = now or timezone.now()
    client = client or current_client()
    restrictions = active_restrictions(account=account, now=now)
    for number in account.numbers.select_related("account"):
        number_reassess(number=number, now=now, client=client, restrictions=restrictions)


def work_item_sync_number(*, number: PhoneNumber, client: Client) -> None:
    """Mirror the number's health into the public staff index (same transaction), as one
    INSERT … ON CONFLICT DO UPDATE."""
    item = WorkItem(
        kind=WorkKind.NUMBER_HEALTH,
        client=client,
        object_id=str(number.pk),
        title=number.display_phone_number,
        subtitle=number.verified_name or number.account.name,
        status=number.status,
        band=number.band,
        sort_key=number.score,
        data={
            "quality": number.quality,
            "messaging_limit": number.messaging_limit,
            "reasons": number.reasons[:3],
        },
        updated_at=timezone.now(),
    )
    WorkItem.objects.bulk_create(
        [item],
        update_conflicts=True,
        unique_fields=["kind", "client", "object_id"],
        update_fields=["title", "subtitle", "status", "band", "sort_key", "data", "updated_at"],
    )


# --- Delivery error spikes ----------------------------------------------------------------

SPIKE_WINDOW = timedelta(hours=24)
SPIKE_MIN_FAILURES = 10
SPIKE_MIN_RATE = 0.05


def error_spikes_check(*, number: PhoneNumber, now: datetime | None = None) -> list[HealthEvent]:
    """One event per number, error code and day when a health error code spikes."""
    now = now or timezone.now()
    counts = MessageStatus.objects.filter(
        number=number, occurred_at__gte=now - SPIKE_WINDOW
    ).aggregate(
        total=Count("id", filter=Q(status__in=["sent", "failed"])),
        **{
            f"e{code}": Count("id", filter=Q(status="failed", error_code=code))
            for code in HEALTH_ERROR_CODES
        },
    )
    events = []
    for code, meaning in HEALTH_ERROR_CODES.items():
        failures = counts[f"e{code}"]
        if failures >= SPIKE_MIN_FAILURES and failures / max(counts["total"], 1) >= SPIKE_MIN_RATE:
            event = health_event_record(
                kind=EventKind.ERROR_SPIKE,
                severity=Severity.WARNING if code in (131026, 131049) else Severity.CRITICAL,
                title=f"{failures} messages failed with {code} in 24 hours",
                detail=meaning,
                key=dedupe_key("spike", number.meta_id, code, now.date().isoformat()),
                source=EventSource.WEBHOOK,
                number=number,
                occurred_at=now,
                data={"code": code, "failures": failures, "total": counts["total"]},
            )
            if event:
                events.append(event)
    return events


# --- Sync requests ------------------------------------------------------------------------


def sync_request(*, actor=None) -> SyncRun:
    """Queue a sync of this client's assets now (the "sync now" button)."""
    from compliance.tasks import sync_client

    # A run stuck for 15 minutes (its worker died) does not block a new one.
    running = SyncRun.objects.filter(
        state__in=["queued", "running"], created_at__gte=timezone.now() - timedelta(minutes=15)
    ).first()
    if running is not None:
        return running
    run = SyncRun.objects.create(requested_by=actor if getattr(actor, "pk", None) else None)
    schema = connection.schema_name
    transaction.on_commit(
        lambda: sync_client.apply_async(args=[run.pk], headers={"_schema_name": schema}),
        robust=True,
    )
    return run
