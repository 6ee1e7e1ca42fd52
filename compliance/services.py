"""Writes for a client's WhatsApp assets and their health. Run inside the client's schema unless
a function says otherwise."""

from __future__ import annotations

import hashlib
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django_tenants.utils import schema_context

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
from portal.bulk import insert_once, rows_insert, rows_insert_once, rows_update
from portal.meta import types as meta
from tenants.models import AssetKind, Client, MetaAssetRoute, WorkItem, WorkKind
from tenants.selectors import current_client
from tenants.services import work_items_upsert

SNAPSHOT_EVERY = timedelta(hours=24)
SIGNAL_WINDOW = timedelta(days=30)


def dedupe_key(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()


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


def number_routes_ensure(*, numbers: Sequence[PhoneNumber], client: Client) -> None:
    """Route webhooks about these numbers to `client` (one INSERT; a number already routed keeps
    its route). The routing table is public and on every tenant's search path."""
    MetaAssetRoute.objects.bulk_create(
        [
            MetaAssetRoute(kind=AssetKind.PHONE_NUMBER, meta_id=number.meta_id, client=client)
            for number in numbers
        ],
        ignore_conflicts=True,
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
    """Record an event once per `key`, and fan it out in the same transaction: warnings and
    critical events raise an alert (e-mailed through the outbox), and every event is queued for
    the client's outbound webhooks (`integrations.events.event_emit`).

    Returns the new event, or None if this key was recorded before. A caller that does not need
    to know calls `health_event_note`.
    """
    event = _event_of(
        kind=kind,
        severity=severity,
        title=title,
        key=key,
        source=source,
        occurred_at=occurred_at,
        account=account,
        number=number,
        template_name=template_name,
        detail=detail,
        data=data,
    )
    health_events_flush()  # the group's noted events first: they came first
    if not insert_once(event, unique="dedupe_key"):  # this key was recorded before
        return None
    together = getattr(_fanning_out, "events", None)
    if together is not None:
        together.append(event)
    else:
        _event_fan_out(event)
    return event


def health_event_note(**fields) -> None:
    """`health_event_record` (same arguments) for a caller that does not need to know whether
    the event is new: the appliers of Meta's webhooks. Inside `health_events_fanned_out_together`
    the event waits, and goes in with the group's other noted events in one statement
    (`health_events_flush`) when the group ends, or as soon as anything records an event the
    other way or reads events: ids, dedupe and what every reader sees keep the order of the
    calls. Recorded one by one, the events' INSERTs were a twentieth of a webhook drain."""
    pending = getattr(_fanning_out, "pending", None)
    if pending is None:
        health_event_record(**fields)
    else:
        pending.append(_event_of(**fields))


def health_events_flush() -> None:
    """Insert the events noted in this group so far (once per key, in one statement); the new
    ones fan out with the group's. Called before anything in the group reads events."""
    pending = getattr(_fanning_out, "pending", None)
    if not pending:
        return
    _fanning_out.pending = []
    _fanning_out.events.extend(rows_insert_once(pending, unique="dedupe_key"))


def _event_of(
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
) -> HealthEvent:
    return HealthEvent(
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


_fanning_out = threading.local()


@contextmanager
def health_events_fanned_out_together() -> Iterator[None]:
    """Inside, events are recorded as they come (noted ones in one statement: see
    `health_event_note`), and their alerts, e-mails, digest entries and outbound webhooks leave
    together at the end, in the same transaction (`_events_fan_out_many`: a fixed number of
    queries). The webhook pipeline enters it for each client group: fanned out one by one, each
    account or number event cost about five queries. If the block raises, nothing is inserted
    or fanned out (its transaction is rolled back anyway). Nested, the outermost one fans out."""
    if getattr(_fanning_out, "events", None) is not None:
        yield
        return
    _fanning_out.events = events = []
    _fanning_out.pending = []
    try:
        yield
        health_events_flush()
    finally:
        _fanning_out.events = _fanning_out.pending = None
    _events_fan_out_many(events)


def health_events_record_many(*, events: Sequence[HealthEvent]) -> list[HealthEvent]:
    """`health_event_record` for many unsaved events at once (a batch of message statuses):
    one INSERT, one SELECT of what was new, one INSERT of their alerts, whatever the count.

    Events whose key was recorded before are skipped; returns the new ones.
    """
    if not events:
        return []
    health_events_flush()  # what the group noted before these
    keys = [e.dedupe_key for e in events]
    before = set(
        HealthEvent.objects.filter(dedupe_key__in=keys).values_list("dedupe_key", flat=True)
    )
    for event in events:
        event.title = event.title[:200]
        if event.account_id is None and event.number_id is not None:
            event.account_id = event.number.account_id
    HealthEvent.objects.bulk_create(
        [e for e in events if e.dedupe_key not in before], ignore_conflicts=True
    )
    new = list(
        HealthEvent.objects.filter(dedupe_key__in=set(keys) - before).select_related("number")
    )
    _events_fan_out_many(new)
    return new


def _events_fan_out_many(events: list[HealthEvent]) -> None:
    """`_event_fan_out` for many new events at once, in a fixed number of queries: their alerts,
    each alert's e-mail by the recipient rule (one look-up per severity) and the digests, and
    the outbound webhooks of the events and alerts."""
    from integrations.choices import health_event_type
    from integrations.events import events_emit_many
    from integrations.notify import emails_queue_many
    from tenants.models import DigestEntry
    from tenants.notifications import alert_recipients

    if not events:
        return
    alerting = [e for e in events if e.severity != Severity.INFO]
    Alert.objects.bulk_create([Alert(event=e) for e in alerting], ignore_conflicts=True)
    alerts = {
        a.event_id: a for a in Alert.objects.filter(event__in=alerting, emailed_at__isnull=True)
    }
    client = current_client()
    rules = {
        sev: alert_recipients(client=client, severity=sev) for sev in {e.severity for e in alerting}
    }
    link = f"https://{client.slug}.{settings.PORTAL_DOMAIN}/numbers/"
    emails, digests, emailed = [], [], []
    for event in alerting:
        if event.pk not in alerts:
            continue
        rule = rules[event.severity]
        if rule.immediate:  # as alert_raise: an alert with nobody to e-mail is not "emailed"
            emailed.append(alerts[event.pk].pk)
        emails.append(
            (
                rule.immediate,
                f"[{client.name}] {event.title}",
                f"{event.title}\n\n{event.detail}\n\nSee {link} for the health of your numbers.",
            )
        )
        digests += [
            DigestEntry(
                membership=m, severity=event.severity, title=event.title[:300], detail=event.detail
            )
            for m in rule.digest
        ]
    if emails:
        emails_queue_many(emails)
    if emailed:
        Alert.objects.filter(pk__in=emailed).update(emailed_at=timezone.now())
    if digests:
        DigestEntry.objects.bulk_create(digests)
    outgoing = [
        (health_event_type(e.kind), health_event_payload(e), e.occurred_at) for e in events
    ] + [
        (
            "alert.raised",
            {"alert_id": alerts[e.pk].pk, "event": health_event_payload(e)},
            None,  # raised now, as alert_raise says it
        )
        for e in alerting
        if e.pk in alerts
    ]
    events_emit_many(outgoing)


def _event_fan_out(event: HealthEvent) -> None:
    """Everything that leaves the portal for a new event, in its transaction: the in-app alert
    and its e-mail (warnings and critical events), and the outbound webhooks' outbox rows."""
    from integrations.choices import health_event_type
    from integrations.events import event_emit

    if event.severity != Severity.INFO:
        alert_raise(event=event)
    event_emit(
        event_type=health_event_type(event.kind),
        data=health_event_payload(event),
        occurred_at=event.occurred_at,
    )


def health_event_payload(event: HealthEvent) -> dict:
    """An event as integrations see it (our names; Meta's stop at portal/meta)."""
    return {
        "event_id": event.pk,
        "kind": event.kind,
        "severity": event.severity,
        "title": event.title,
        "detail": event.detail,
        "source": event.source,
        "occurred_at": event.occurred_at,
        "account_id": event.account_id,
        "number_id": event.number_id,
        "display_phone_number": event.number.display_phone_number if event.number else None,
        "template_name": event.template_name or None,
        "data": event.data,
    }


def alert_raise(*, event: HealthEvent) -> Alert:
    """The in-app alert of an event, once; its e-mail and webhook are queued in this transaction
    (the outbox), so a broker outage delays them and loses none."""
    from integrations import notify
    from integrations.events import event_emit

    alert = Alert(event=event)
    if not insert_once(alert, unique="event"):  # raised before
        return Alert.objects.get(event=event)
    from tenants.notifications import alert_recipients, digest_queue

    client = current_client()
    # The per-member settings: severities, at once or in the daily digest.
    recipients = alert_recipients(client=client, severity=event.severity)
    digest_queue(recipients=recipients, severity=event.severity, event=event)
    if notify.email_queue(
        recipients=recipients.immediate,
        subject=f"[{client.name}] {event.title}",
        body=f"{event.title}\n\n{event.detail}\n\nSee https://{client.slug}."
        f"{settings.PORTAL_DOMAIN}/numbers/ for the health of your numbers.",
    ):
        alert.emailed_at = timezone.now()  # queued in the outbox: it will leave
        alert.save(update_fields=["emailed_at"])
    event_emit(
        event_type="alert.raised",
        data={"alert_id": alert.pk, "event": health_event_payload(event)},
    )
    return alert


def alert_acknowledge(*, alert: Alert, actor) -> Alert:
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        if locked.acknowledged_at is None:
            locked.acknowledged_at = timezone.now()
            # A person, or None for an API key (its label is in the audit row).
            locked.acknowledged_by = actor if getattr(actor, "_meta", None) else None
            locked.save(update_fields=["acknowledged_at", "acknowledged_by"])
            audit_record(
                action="alert.acknowledged",
                actor=actor,
                client=current_client(),
                target=locked,
            )
            from integrations.events import event_emit

            event_emit(
                event_type="alert.acknowledged",
                data={"alert_id": locked.pk, "acknowledged_by": str(actor) if actor else None},
            )
    return locked


# --- Health assessment --------------------------------------------------------------------


_SIGNALS_SQL = f"""
    SELECT 'e', number_id, kind, NULL::integer, count(*), NULL::timestamptz
    FROM {HealthEvent._meta.db_table}
    WHERE occurred_at >= %(since)s
      AND (number_id = ANY(%(ids)s) OR (account_id = %(account)s AND number_id IS NULL))
    GROUP BY number_id, kind
    UNION ALL
    SELECT 'd', number_id, status, error_code, count(*), NULL FROM {MessageStatus._meta.db_table}
    WHERE number_id = ANY(%(ids)s) AND occurred_at >= %(since)s
      AND (status = 'sent' OR (status = 'failed' AND error_code = ANY(%(codes)s)))
    GROUP BY number_id, status, error_code
    UNION ALL
    SELECT 'r', NULL, restriction_type, NULL, 0, received_at
    FROM {AccountRestriction._meta.db_table}
    WHERE %(restrictions)s AND account_id = %(account)s
      AND (expires_at IS NULL OR expires_at > %(now)s)
"""  # noqa: S608 - table names are ours


def numbers_signals(
    *,
    account: WhatsAppAccount,
    numbers: Sequence[PhoneNumber],
    now: datetime | None = None,
    restrictions: tuple | None = None,
) -> dict[int, NumberSignals]:
    """Each number's state and last 30 days (numbers of one account), keyed by number id.

    One statement however many numbers: event counts per number and kind, delivery counts per
    number, status and error code, and (unless given) the account's restrictions in force
    (newest first). Built with the ORM it was three queries whose compiling (a filtered count
    per health error code) cost more than running them, on every reassessment of every number
    a sync or a webhook touches.
    """
    now = now or timezone.now()
    since = now - SIGNAL_WINDOW
    health_events_flush()  # the events counted below include the group's noted ones
    ids = [number.pk for number in numbers]
    # Account-wide events (number null) count for every number of the account.
    events: dict[int | None, dict[str, int]] = defaultdict(dict)
    deliveries: dict[int, dict[str, int]] = defaultdict(dict)
    in_force: list[tuple[datetime, str]] = []
    with connection.cursor() as cursor:
        cursor.execute(
            _SIGNALS_SQL,
            {
                "since": since,
                "now": now,
                "ids": ids,
                "account": account.pk,
                "codes": list(HEALTH_ERROR_CODES),
                "restrictions": restrictions is None,
            },
        )
        for source, number_id, kind, code, n, received_at in cursor.fetchall():
            if source == "e":
                events[number_id][kind] = n
            elif source == "d":
                deliveries[number_id]["sent" if kind == "sent" else f"e{code}"] = n
            else:
                in_force.append((received_at, kind))
    if restrictions is None:
        in_force.sort(key=lambda row: row[0], reverse=True)
        restrictions = tuple(meta.RestrictionType(kind) for _, kind in in_force)
    signals = {}
    for number in numbers:
        own, shared = events.get(number.pk, {}), events.get(None, {})

        def count(kind: EventKind, own=own, shared=shared) -> int:
            return own.get(kind, 0) + shared.get(kind, 0)

        delivered = deliveries.get(number.pk, {})
        errors = {code: delivered.get(f"e{code}", 0) for code in HEALTH_ERROR_CODES}
        signals[number.pk] = NumberSignals(
            status=meta.NumberStatus(number.status),
            quality=meta.Quality(number.quality),
            messaging_limit=meta.MessagingLimit(number.messaging_limit),
            can_send=meta.CanSend(number.can_send),
            ban_state=meta.BanState(account.ban_state),
            active_restrictions=restrictions,
            quality_drops_30d=count(EventKind.QUALITY_DROP),
            limit_drops_30d=count(EventKind.LIMIT_DROP),
            template_pauses_30d=count(EventKind.TEMPLATE_PAUSED),
            template_disables_30d=count(EventKind.TEMPLATE_DISABLED),
            template_rejections_30d=count(EventKind.TEMPLATE_REJECTED),
            # A failed message is not "sent"; count attempts as sent plus failures.
            sent_30d=delivered.get("sent", 0) + sum(errors.values()),
            errors_30d=errors,
        )
    return signals


def number_signals(
    *, number: PhoneNumber, now: datetime | None = None, restrictions: tuple | None = None
) -> NumberSignals:
    return numbers_signals(
        account=number.account, numbers=[number], now=now, restrictions=restrictions
    )[number.pk]


def numbers_reassess(
    *,
    account: WhatsAppAccount,
    numbers: Sequence[PhoneNumber],
    now: datetime | None = None,
    client: Client | None = None,
    restrictions: tuple | None = None,
    also_write: Sequence[str] = (),
) -> None:
    """Score the numbers (of one account), keep their history (a snapshot on change and at least
    daily) and mirror them into the staff work index, all in the caller's transaction.

    A fixed number of queries for any number of numbers: this runs for every client on every
    sync. `also_write` names fields the caller set on these numbers, written in the same UPDATE
    as the score (the sync's read of Meta: one UPDATE per account instead of two).
    """
    if not numbers:
        return
    now = now or timezone.now()
    signals = numbers_signals(account=account, numbers=numbers, now=now, restrictions=restrictions)
    last_snapshots = {
        snapshot.number_id: snapshot
        for snapshot in HealthSnapshot.objects.filter(number_id__in=[n.pk for n in numbers])
        .order_by("number_id", "-taken_at")
        .distinct("number_id")
    }
    rescored, snapshots = False, []
    for number in numbers:
        result = assess(signals[number.pk])
        assessment = (result.score, result.band, list(result.reasons), list(result.actions))
        if assessment != (number.score, number.band, number.reasons, number.actions):
            number.score, number.band, number.reasons, number.actions = assessment
            rescored = True
        number.assessed_at = now
        last = last_snapshots.get(number.pk)
        state = (number.status, number.quality, number.messaging_limit, number.can_send)
        if (
            last is None
            or (last.status, last.quality, last.messaging_limit, last.can_send) != state
            or (last.score, last.band) != (number.score, number.band)
            or now - last.taken_at >= SNAPSHOT_EVERY
        ):
            snapshots.append(
                HealthSnapshot(
                    number=number,
                    taken_at=now,
                    status=number.status,
                    quality=number.quality,
                    messaging_limit=number.messaging_limit,
                    can_send=number.can_send,
                    score=number.score,
                    band=number.band,
                )
            )
    if rescored or also_write:  # one UPDATE either way
        fields = ["score", "band", "reasons", "actions"] if rescored else []
        rows_update(numbers, [*fields, "assessed_at", *also_write])
    else:
        PhoneNumber.objects.filter(pk__in=[n.pk for n in numbers]).update(assessed_at=now)
    if snapshots:
        rows_insert(snapshots)
    work_items_sync_numbers(account=account, numbers=numbers, client=client or current_client())


def number_reassess(
    *,
    number: PhoneNumber,
    now: datetime | None = None,
    client: Client | None = None,
    restrictions: tuple | None = None,
) -> PhoneNumber:
    numbers_reassess(
        account=number.account, numbers=[number], now=now, client=client, restrictions=restrictions
    )
    return number


def account_reassess_numbers(
    *, account: WhatsAppAccount, now: datetime | None = None, client: Client | None = None
) -> None:
    """Reassess every number of the account."""
    numbers = list(account.numbers.all())
    for number in numbers:
        number.account = account
    numbers_reassess(account=account, numbers=numbers, now=now, client=client)


def work_items_sync_numbers(
    *, account: WhatsAppAccount, numbers: Sequence[PhoneNumber], client: Client
) -> None:
    """Mirror the numbers' health into the public staff index (same transaction), as one
    upsert (`tenants.services.work_items_upsert`)."""
    from compliance.portfolio import work_item_usage

    updated_at = timezone.now()
    portfolio = {"portfolio": work_item_usage(account.portfolio)} if account.portfolio_id else {}
    work_items_upsert(
        [
            WorkItem(
                kind=WorkKind.NUMBER_HEALTH,
                client=client,
                object_id=str(number.pk),
                title=number.display_phone_number,
                subtitle=number.verified_name or account.name,
                status=number.status,
                band=number.band,
                sort_key=number.score,
                data={
                    "quality": number.quality,
                    "messaging_limit": number.messaging_limit,
                    "reasons": number.reasons[:3],
                    # The staff Fleet health columns and search (tenants.selectors.fleet_numbers).
                    "waba_id": account.meta_id,
                    "verification": account.business_verification,
                    "ban_state": account.ban_state,
                    "last_confirmed_at": (
                        number.last_confirmed_at.isoformat() if number.last_confirmed_at else None
                    ),
                    "search": " ".join(
                        [
                            "".join(ch for ch in number.display_phone_number if ch.isdigit()),
                            number.meta_id,
                            account.meta_id,
                        ]
                    ),
                    **portfolio,
                },
                updated_at=updated_at,
            )
            for number in numbers
        ]
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
