"""Account-level appliers: `account_update` (restrictions, violations, bans, partner links),
`account_review_update`, `account_alerts`, `business_capability_update`, `security`."""

from __future__ import annotations

from django.db import transaction

from compliance import services
from compliance.account_events import account_event_record
from compliance.appliers.common import WEBHOOK, account_for_change, label, number_by_display
from compliance.appliers.numbers import number_limit_change
from compliance.choices import EventKind, LimitSource, Severity
from compliance.models import AccountRestriction, WhatsAppAccount
from compliance.portfolio import (
    account_portfolio_set,
    portfolio_limit_set,
    portfolio_number_cap_set,
)
from portal.meta import types as meta
from portal.meta.webhooks.contract import Applied, Change, ItemFailure
from portal.meta.webhooks.fields import (
    AccountAlert,
    AccountReview,
    AccountUpdate,
    CapabilityUpdate,
    SecurityUpdate,
)
from portal.meta.webhooks.order import LATE, superseded

_BAN_EVENTS = {
    meta.BanState.SCHEDULED_FOR_DISABLE: (
        EventKind.BAN_SCHEDULED,
        Severity.CRITICAL,
        "Meta scheduled the account to be disabled",
    ),
    meta.BanState.DISABLED: (EventKind.BANNED, Severity.CRITICAL, "Meta disabled the account"),
    meta.BanState.REINSTATED: (EventKind.REINSTATED, Severity.INFO, "Meta reinstated the account"),
}


def apply_account_update(change: Change) -> Applied:
    data: AccountUpdate = change.data
    when = change.stated_at
    # PARTNER_* events may name the partner's portfolio as entry id: the WABA is in waba_info.
    waba_id = (data.partner.waba_id if data.partner else None) or change.entry_id
    account = account_for_change(waba_id)
    result = Applied(failures=list(data.rejected))
    event = data.event
    if event == meta.AccountEvent.ACCOUNT_RESTRICTION:
        result.late = _restrictions(account, data, change, result.failures)
    elif event == meta.AccountEvent.ACCOUNT_VIOLATION:
        violation = data.violation_type or "unspecified"
        services.health_event_note(
            kind=EventKind.VIOLATION,
            severity=Severity.CRITICAL,
            title=f"Meta recorded a policy violation: {label(violation).lower()}",
            detail="Repeat violations lead to restrictions. You can appeal or acknowledge it.",
            key=change.key,
            source=WEBHOOK,
            occurred_at=when,
            account=account,
            data={"violation_type": violation},
        )
    elif event == meta.AccountEvent.DISABLED_UPDATE:
        result.late = _ban(account, data, change)
    else:  # every other event: its row in the table of account events (unknown: a warning)
        account_event_record(
            account=account, event=data.raw_event, info=data.raw, stated_at=when, key=change.key
        )
    if data.owner_business_id:
        account_portfolio_set(account=account, business_id=data.owner_business_id)
    services.account_reassess_numbers(account=account)
    return result


def _restrictions(
    account: WhatsAppAccount, data: AccountUpdate, change: Change, failures: list
) -> bool:
    """Meta's list of restrictions as of `when`; an older list (delivered late) leaves the
    stored restrictions alone. Each item is applied in a savepoint of its own: one that fails
    is handed back to be retried alone."""
    when = change.stated_at
    late = superseded(account.restrictions_at, when)
    if not late:
        account.restrictions_at = when
        account.save(update_fields=["restrictions_at"])
    for item in data.restrictions:
        try:
            with transaction.atomic():
                if not late:
                    AccountRestriction.objects.get_or_create(
                        account=account,
                        raw_type=item.raw_type,
                        expires_at=item.expires_at,
                        defaults={"restriction_type": item.type, "remediation": item.remediation},
                    )
                until = f" until {item.expires_at:%Y-%m-%d %H:%M} UTC" if item.expires_at else ""
                services.health_event_note(
                    kind=EventKind.RESTRICTION,
                    severity=Severity.INFO if late else Severity.CRITICAL,
                    title=f"Account restricted: {label(item.type.value)}{until}"
                    + (LATE if late else ""),
                    detail=item.remediation,
                    key=services.dedupe_key(
                        change.key,
                        item.raw_type,
                        int(item.expires_at.timestamp()) if item.expires_at else None,
                    ),
                    source=WEBHOOK,
                    occurred_at=when,
                    account=account,
                    data={
                        "restriction_type": item.raw_type,
                        "expires_at": item.expires_at and item.expires_at.isoformat(),
                    },
                )
        except Exception as exc:  # one item fails alone, retried alone
            failures.append(
                ItemFailure(
                    index=item.index,
                    kind="restriction",
                    value=item.alone,
                    error=f"{type(exc).__name__}: {exc}",
                )
            )
    return late


def _ban(account: WhatsAppAccount, data: AccountUpdate, change: Change) -> bool:
    ban = data.ban
    when = change.stated_at
    late = superseded(account.ban_state_at, when)
    if not late:
        account.ban_state, account.ban_date, account.ban_state_at = ban.state, ban.date, when
        account.save(update_fields=["ban_state", "ban_date", "ban_state_at"])
    kind, severity, title = _BAN_EVENTS.get(
        ban.state, (EventKind.ACCOUNT_UPDATE, Severity.WARNING, "Ban state changed")
    )
    services.health_event_note(
        kind=kind,
        severity=Severity.INFO if late else severity,
        title=title + (f" ({ban.date})" if ban.date else "") + (LATE if late else ""),
        key=change.key,
        source=WEBHOOK,
        occurred_at=when,
        account=account,
        data={"ban_state": ban.state.value, "stated": ban.raw_state, "ban_date": ban.date},
    )
    return late


def apply_account_review_update(change: Change) -> Applied:
    data: AccountReview = change.data
    account = account_for_change(change.entry_id)
    when = change.stated_at
    late = superseded(account.review_status_at, when)
    if not late:
        account.review_status, account.review_status_at = data.decision, when
        account.save(update_fields=["review_status", "review_status_at"])
    severity = {
        meta.ReviewStatus.APPROVED: Severity.INFO,
        meta.ReviewStatus.REJECTED: Severity.CRITICAL,
    }.get(data.decision, Severity.WARNING)
    approved = data.decision == meta.ReviewStatus.APPROVED
    services.health_event_note(
        kind=EventKind.REVIEW_DECISION,
        severity=Severity.INFO if late else severity,
        title=f"Account review: {data.decision.value}" + (LATE if late else ""),
        detail="" if approved or late else "The account cannot use the API.",
        key=change.key,
        source=WEBHOOK,
        occurred_at=when,
        account=account,
        data=data.raw,
    )
    return Applied(late=late)


def apply_business_capability_update(change: Change) -> Applied:
    """The limit Meta states: the portfolio's when the WABA's portfolio is known (since
    7 Oct 2025 one limit is shared by all its numbers); else, as before, every number's. The
    number cap (`max_phone_numbers_per_business`) is the portfolio's."""
    data: CapabilityUpdate = change.data
    account = account_for_change(change.entry_id)
    when = change.stated_at
    late = []
    portfolio = account.portfolio if account.portfolio_id else None
    if data.limit is not None and portfolio is not None:
        applied = portfolio_limit_set(
            portfolio=portfolio,
            limit=data.limit,
            stated_at=when,
            source=LimitSource.WEBHOOK,
            key=change.key,
        )
        late.append(applied is not None and applied.superseded)
    elif data.limit is not None:
        for number in account.numbers.all():
            number.account = account
            late.append(
                number_limit_change(
                    number, data.limit, when, services.dedupe_key(change.key, number.pk)
                )
            )
    if data.max_phone_numbers_per_business is not None and portfolio is not None:
        portfolio_number_cap_set(
            portfolio=portfolio,
            cap=data.max_phone_numbers_per_business,
            stated_at=when,
            source=LimitSource.WEBHOOK,
            key=services.dedupe_key(change.key, "number_cap"),
        )
    services.health_event_note(
        kind=EventKind.CAPABILITY_UPDATE,
        severity=Severity.INFO,
        title="Messaging capabilities updated"
        + (f": limit {label(data.limit.value)}" if data.limit else "")
        + (LATE if late and all(late) else ""),
        key=change.key,
        source=WEBHOOK,
        occurred_at=when,
        account=account,
        data=data.raw,
    )
    services.account_reassess_numbers(account=account)
    return Applied(late=bool(late) and all(late))


def apply_account_alerts(change: Change) -> Applied:
    """An alert is an account event (`compliance.account_events`): its words, severity and
    state, a scaling-path decision for the portfolio, a warning for one the table lacks."""
    data: AccountAlert = change.data
    account = account_for_change(change.entry_id)
    account_event_record(
        account=account,
        event=data.alert_type,
        info=data.info,
        stated_at=change.stated_at,
        key=change.key,
    )
    return Applied()


_SECURITY_TITLES = {
    meta.SecurityEvent.PIN_CHANGED: "two-step verification PIN changed",
    meta.SecurityEvent.PIN_RESET_REQUEST: "two-step verification PIN reset requested",
    meta.SecurityEvent.PIN_RESET_SUCCESS: "two-step verification PIN reset",
}


def apply_security(change: Change) -> Applied:
    """A change to a number's two-step verification: someone must know it was them."""
    data: SecurityUpdate = change.data
    account = account_for_change(change.entry_id)
    number = number_by_display(account, data.display_phone_number)
    what = _SECURITY_TITLES.get(data.event) or label(data.raw_event).lower()
    services.health_event_note(
        kind=EventKind.ACCOUNT_UPDATE,
        severity=Severity.WARNING,
        title=f"{data.display_phone_number}: {what}",
        detail="If nobody on your team did this, contact your account manager at once.",
        key=change.key,
        source=WEBHOOK,
        occurred_at=change.stated_at,
        account=account,
        number=number,
        data=data.raw,
    )
    return Applied()
