"""Number state Meta changes (status, messaging limit, throughput, display-name status), each
in one function that applies Meta's order, and the appliers of `phone_number_quality_update` and
`phone_number_name_update`. The sync calls the same state functions with its read time."""

from __future__ import annotations

from datetime import datetime

from compliance import services
from compliance.appliers.common import WEBHOOK, account_for_change, label, number_by_display
from compliance.choices import EventKind, LimitSource, Severity
from compliance.models import PhoneNumber
from compliance.portfolio import portfolio_limit_set
from portal.meta import types as meta
from portal.meta.webhooks.contract import Applied, Change
from portal.meta.webhooks.fields import NameUpdate, NumberQualityUpdate
from portal.meta.webhooks.order import LATE, superseded


def number_status_change(
    number: PhoneNumber, status: meta.NumberStatus, when: datetime, key: str, source=WEBHOOK
) -> bool:
    """Flag or unflag a number. Returns True when the change was late (state left alone)."""
    late = superseded(number.status_at, when)
    if number.status == status:
        if not late and source == WEBHOOK and number.status_at != when:
            number.status_at = when  # Meta restated it: later changes are ordered against this
            number.save(update_fields=["status_at"])
        return False
    if late and source != WEBHOOK:
        return True  # a read taken before a newer webhook applied: nothing to record
    flagged = status == meta.NumberStatus.FLAGGED
    if not late:
        number.status, number.status_at = status, when
        number.save(update_fields=["status", "status_at"])
    services.health_event_note(
        kind=EventKind.FLAGGED if flagged else EventKind.UNFLAGGED,
        severity=Severity.WARNING if flagged and not late else Severity.INFO,
        title=(
            f"{number.display_phone_number} flagged: quality dropped to low"
            if flagged
            else f"{number.display_phone_number} is no longer flagged"
        )
        + (LATE if late else ""),
        detail=(
            "If quality recovers within 7 days the number returns to connected; otherwise its "
            "messaging limit may be lowered."
            if flagged and not late
            else ""
        ),
        key=key,
        source=source,
        occurred_at=when,
        number=number,
    )
    return late


def number_limit_change(
    number: PhoneNumber, limit: meta.MessagingLimit, when: datetime, key: str, source=WEBHOOK
) -> bool:
    """Set the number's messaging limit as Meta stated it at `when`; a rise or a drop is an
    event. Returns True when the change was late: older than the limit stored, which stands."""
    old = meta.MessagingLimit(number.messaging_limit)
    late = superseded(number.messaging_limit_at, when)
    if late:
        if old != limit and source == WEBHOOK:
            services.health_event_note(
                kind=EventKind.LIMIT_DROP if limit.rank < old.rank else EventKind.LIMIT_RISE,
                severity=Severity.INFO,
                title=f"Messaging limit of {number.display_phone_number}: "
                f"{label(limit.value)}" + LATE,
                key=key,
                source=source,
                occurred_at=when,
                number=number,
                data={"old": old.value, "new": limit.value, "late": True},
            )
        return True
    if old == limit and (source != WEBHOOK or number.messaging_limit_at == when):
        return False  # nothing new (the sync confirms a value without rewriting it)
    number.messaging_limit, number.messaging_limit_at = limit, when
    number.save(update_fields=["messaging_limit", "messaging_limit_at"])
    if old == limit or old.rank == 0 or limit.rank == 0:
        return False  # the same, the first value seen, or an unrankable one: no rise or drop
    dropped = limit.rank < old.rank
    services.health_event_note(
        kind=EventKind.LIMIT_DROP if dropped else EventKind.LIMIT_RISE,
        severity=Severity.WARNING if dropped else Severity.INFO,
        title=(
            f"Messaging limit of {number.display_phone_number} "
            f"{'lowered' if dropped else 'raised'}: {label(old.value)} → {label(limit.value)}"
        ),
        key=key,
        source=source,
        occurred_at=when,
        number=number,
        data={"old": old.value, "new": limit.value},
    )
    return False


def number_throughput_change(
    number: PhoneNumber, level: meta.ThroughputLevel, when: datetime, key: str, source=WEBHOOK
) -> bool:
    """Returns True when late (a newer throughput level stands)."""
    if superseded(number.throughput_at, when):
        if number.throughput != level and source == WEBHOOK:
            services.health_event_note(
                kind=EventKind.CAPABILITY_UPDATE,
                severity=Severity.INFO,
                title=f"Throughput of {number.display_phone_number}: {label(level.value)}" + LATE,
                key=key,
                source=source,
                occurred_at=when,
                number=number,
            )
        return True
    number.throughput, number.throughput_at = level, when
    number.save(update_fields=["throughput", "throughput_at"])
    return False


def apply_phone_number_quality_update(change: Change) -> Applied:
    data: NumberQualityUpdate = change.data
    account = account_for_change(change.entry_id)
    when = change.stated_at
    number = number_by_display(account, data.display_phone_number)
    if number is None:
        services.health_event_note(
            kind=EventKind.ACCOUNT_UPDATE,
            severity=Severity.INFO,
            title=f"Update for number {data.display_phone_number} not yet synced",
            key=change.key,
            source=WEBHOOK,
            occurred_at=when,
            account=account,
            data=data.raw,
        )
        return Applied()
    late = False
    if data.event == meta.NumberEvent.FLAGGED:
        late |= number_status_change(number, meta.NumberStatus.FLAGGED, when, change.key)
    elif data.event == meta.NumberEvent.UNFLAGGED:
        late |= number_status_change(number, meta.NumberStatus.CONNECTED, when, change.key)
    elif data.event == meta.NumberEvent.THROUGHPUT_UPGRADE:
        late |= number_throughput_change(
            number,
            meta.ThroughputLevel.HIGH,
            when,
            services.dedupe_key(change.key, "throughput"),
        )
    business = data.business_limit
    if account.portfolio_id and business is not None and business != meta.MessagingLimit.UNKNOWN:
        # the portfolio's limit, shared by all its numbers: not copied onto this one
        applied = portfolio_limit_set(
            portfolio=account.portfolio,
            limit=business,
            stated_at=when,
            source=LimitSource.WEBHOOK,
            key=services.dedupe_key(change.key, "limit"),
        )
        late |= applied is not None and applied.superseded
    elif data.limit is not None and data.limit != meta.MessagingLimit.UNKNOWN:
        late |= number_limit_change(
            number, data.limit, when, services.dedupe_key(change.key, "limit")
        )
    services.number_reassess(number=number)
    return Applied(late=late)


def apply_phone_number_name_update(change: Change) -> Applied:
    data: NameUpdate = change.data
    account = account_for_change(change.entry_id)
    when = change.stated_at
    number = number_by_display(account, data.display_phone_number)
    status = data.decision.name_status
    late = number is not None and superseded(number.name_status_at, when)
    if number is not None and not late:
        number.name_status, number.name_status_at = status, when
        if status == meta.NameStatus.APPROVED and data.requested_name:
            number.verified_name = data.requested_name
        number.save(update_fields=["name_status", "name_status_at", "verified_name"])
    decision = data.raw_decision.lower()
    rejected = data.decision == meta.NameDecision.REJECTED
    services.health_event_note(
        kind=EventKind.DISPLAY_NAME_DECISION,
        severity=Severity.WARNING if rejected and not late else Severity.INFO,
        title=f"Display name “{data.requested_name}”: {decision or 'updated'}"
        + (LATE if late else ""),
        detail=(
            f"Reason: {label(data.rejection_reason).lower()}."
            if data.rejection_reason
            else "Re-register the number within 14 days for the new name to show."
            if data.decision == meta.NameDecision.APPROVED and not late
            else ""
        ),
        key=change.key,
        source=WEBHOOK,
        occurred_at=when,
        account=account,
        number=number,
        data=data.raw,
    )
    return Applied(late=late)
