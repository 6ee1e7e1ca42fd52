"""Every account event Meta documents, in one table: severity, plain-words title and action, the
state it sets, whether it alerts (meta-platform §4.5, §4.10, §8).

`ACCOUNT_EVENTS` covers `account_update.event` values and `account_alerts.alert_type` values
(the two share no token). `account_event_record(*, account, event, info, stated_at, key)` is what
the webhook appliers call for each one: it records a health event (an alert unless the row's
severity is info), sets the WABA's connection state where the event has one (an offboarded,
removed or deleted WABA is no longer synced, and the dashboard says why), and turns an event the
table does not know into a warning alert, seen by the client's owners and admins and its account
manager, with the payload kept.

Restrictions, bans and violations keep their own appliers (their state: `AccountRestriction`,
`WhatsAppAccount.ban_state`); their rows here give the words and severity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from compliance import services
from compliance.choices import (
    ConnectionState,
    EventKind,
    EventSource,
    MarketingOnboarding,
    ScalingState,
    Severity,
)
from compliance.models import WhatsAppAccount


@dataclass(frozen=True)
class AccountEvent:
    severity: Severity
    title: str  # what happened, in plain words
    action: str  # what the client should do ("" for nothing)
    state: ConnectionState | None = None  # the WABA's connection state it sets
    kind: EventKind = EventKind.ACCOUNT_EVENT
    onboarding: MarketingOnboarding | None = None
    scaling: ScalingState | None = None  # for the portfolio (account_alerts)
    own_applier: bool = False  # state written by its own applier (restriction, ban, violation)


INFO, WARN, CRIT = Severity.INFO, Severity.WARNING, Severity.CRITICAL

ACCOUNT_EVENTS: dict[str, AccountEvent] = {
    # --- account_update.event ---
    "ACCOUNT_DELETED": AccountEvent(
        CRIT,
        "The WhatsApp Business account was deleted at Meta",
        "Nothing can be sent from it any more; the portal stopped syncing it. Link a new "
        "account if this was not intended.",
        state=ConnectionState.DELETED,
    ),
    "ACCOUNT_OFFBOARDED": AccountEvent(
        WARN,
        "The account was offboarded after a device change or re-registration",
        "Meta usually reconnects it within minutes. If it stays offboarded, reconnect it "
        "through Embedded Signup. Syncing is suspended meanwhile.",
        state=ConnectionState.OFFBOARDED,
    ),
    "ACCOUNT_RECONNECTED": AccountEvent(
        INFO,
        "The account was reconnected",
        "",
        state=ConnectionState.ACTIVE,
    ),
    "ACCOUNT_RESTRICTION": AccountEvent(
        CRIT,
        "Meta restricted the account",
        "Sends of the restricted types are refused until the restriction ends; check the "
        "policy that was broken and appeal if it was a mistake.",
        kind=EventKind.RESTRICTION,
        own_applier=True,
    ),
    "ACCOUNT_VIOLATION": AccountEvent(
        CRIT,
        "Meta recorded a policy violation",
        "Repeat violations lead to restrictions. Appeal or acknowledge it in Business "
        "Support Home.",
        kind=EventKind.VIOLATION,
        own_applier=True,
    ),
    "DISABLED_UPDATE": AccountEvent(
        CRIT,
        "Meta changed the account's ban state",
        "A scheduled disable can still be appealed; a disabled account cannot send.",
        kind=EventKind.BANNED,
        own_applier=True,
    ),
    "PARTNER_ADDED": AccountEvent(
        INFO,
        "The BSP was added as partner of the account",
        "",
        state=ConnectionState.ACTIVE,
    ),
    "PARTNER_REMOVED": AccountEvent(
        CRIT,
        "The BSP was removed as partner of the account",
        "The portal can no longer send or sync for it. Re-share the account with the BSP if "
        "this was not intended.",
        state=ConnectionState.PARTNER_REMOVED,
    ),
    "PARTNER_APP_INSTALLED": AccountEvent(
        INFO, "The BSP's app was installed on the account", "", state=ConnectionState.ACTIVE
    ),
    "PARTNER_APP_UNINSTALLED": AccountEvent(
        CRIT,
        "The BSP's app was uninstalled from the account",
        "The BSP's access was revoked; reinstall the app through Embedded Signup to continue.",
        state=ConnectionState.PARTNER_REMOVED,
    ),
    "PARTNER_CLIENT_CERTIFICATION_NEEDED": AccountEvent(
        WARN,
        "Partner-led business verification is needed",
        "The account cannot message until the BSP verifies the business; send the BSP the "
        "business documents.",
    ),
    "PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE": AccountEvent(
        WARN,
        "The partner-led business verification changed",
        "If it was rejected, correct what Meta lists (legal name, address, website, "
        "documents) and resubmit.",
    ),
    "AD_ACCOUNT_LINKED": AccountEvent(
        INFO, "An ad account was linked (Marketing Messages API onboarding)", ""
    ),
    "MM_LITE_TERMS_SIGNED": AccountEvent(
        INFO,
        "Marketing Messages API terms were signed",
        "Marketing templates can now go through the Marketing Messages API.",
        onboarding=MarketingOnboarding.ONBOARDED,
    ),
    "AUTH_INTL_PRICE_ELIGIBILITY_UPDATE": AccountEvent(
        INFO,
        "Authentication-international rates apply from the date Meta gave",
        "Check the per-country exceptions before sending one-time codes abroad.",
    ),
    "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE": AccountEvent(
        INFO, "The business's primary country was updated", ""
    ),
    "VOLUME_BASED_PRICING_TIER_UPDATE": AccountEvent(
        INFO, "The volume pricing tier changed", "Prices for the tier apply from its month."
    ),
    "VERIFIED_ACCOUNT": AccountEvent(INFO, "A sandbox number was upgraded to a verified one", ""),
    # --- account_alerts.alert_type ---
    "INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED": AccountEvent(
        WARN,
        "Meta deferred the messaging-limit increase",
        "Keep quality high and verify the business.",
        kind=EventKind.SCALING_PATH,
        scaling=ScalingState.DEFERRED,
    ),
    "INCREASED_CAPABILITIES_ELIGIBILITY_FAILED": AccountEvent(
        CRIT,
        "Meta refused the messaging-limit increase",
        "Verify the business and improve template quality before trying again.",
        kind=EventKind.SCALING_PATH,
        scaling=ScalingState.FAILED,
    ),
    "INCREASED_CAPABILITIES_ELIGIBILITY_NEED_MORE_INFO": AccountEvent(
        WARN,
        "Meta needs more information for the messaging-limit increase",
        "Complete business verification in Meta Business Suite.",
        kind=EventKind.SCALING_PATH,
        scaling=ScalingState.NEED_MORE_INFO,
    ),
    "OBA_APPROVED": AccountEvent(INFO, "Meta approved the Official Business Account badge", ""),
    "OBA_REJECTED": AccountEvent(
        WARN,
        "Meta rejected the Official Business Account request",
        "Fix the display name and the business's public presence, then apply again.",
    ),
    "PROFILE_PICTURE_LOST": AccountEvent(
        WARN, "The business profile picture was lost", "Upload the profile picture again."
    ),
}


def account_event_lookup(event: str) -> AccountEvent | None:
    return ACCOUNT_EVENTS.get(str(event or "").strip().upper())


def account_event_record(
    *,
    account: WhatsAppAccount,
    event: str,
    info: dict | None,
    stated_at: datetime,
    key: str,
    number=None,
) -> None:
    """Apply one account event (`account_update` or `account_alerts`): the health event and its
    alert, the state it sets (unless a newer one is in force), a portfolio's scaling state.

    Idempotent per `key`: the health event is recorded once (`health_event_note`), or, for a
    scaling decision, the portfolio's (`portfolio_scaling_set`).
    """
    token = str(event or "").strip().upper()
    row = account_event_lookup(token)
    info = info or {}
    if row is None:
        services.health_event_note(
            kind=EventKind.UNKNOWN_EVENT,
            severity=Severity.WARNING,
            title=f"Meta sent an account event the portal does not know: {token or 'no name'}",
            detail="It is kept with its payload. Your BSP will look at what it means.",
            key=key,
            source=EventSource.WEBHOOK,
            occurred_at=stated_at,
            account=account,
            number=number,
            data={"event": token, "info": info},
        )
        return
    # No savepoint of its own: the lock lasts until the caller's transaction ends anyway, and
    # a webhook change is applied in a savepoint the pipeline opened.
    with transaction.atomic(savepoint=False):
        # Only an event that sets some state of the account reads it locked: most (a badge,
        # a picture, a notice) are a health event alone, and need no read at all.
        sets_state = row.state is not None or row.onboarding is not None or row.scaling is not None
        locked = (
            WhatsAppAccount.objects.select_for_update().get(pk=account.pk) if sets_state else None
        )
        late = row.state is not None and (
            locked.connection_state_at is not None and stated_at < locked.connection_state_at
        )
        if row.state is not None and not late:
            locked.connection_state, locked.connection_state_at = row.state, stated_at
            locked.save(update_fields=["connection_state", "connection_state_at"])
            account.connection_state, account.connection_state_at = row.state, stated_at
        if row.onboarding is not None and locked.marketing_onboarding != row.onboarding:
            locked.marketing_onboarding = row.onboarding
            locked.save(update_fields=["marketing_onboarding"])
            account.marketing_onboarding = row.onboarding
        if row.scaling is not None and locked.portfolio_id is not None:
            from compliance.portfolio import portfolio_scaling_set

            portfolio_scaling_set(
                portfolio=locked.portfolio,
                state=row.scaling,
                stated_at=stated_at,
                key=key,
                detail=str(info.get("alert_description") or ""),
            )
            return  # the portfolio's decision is the event
        reason = (info.get("disconnection_info") or {}).get("reason") if info else None
        services.health_event_note(
            kind=row.kind,
            severity=Severity.INFO if late else row.severity,
            title=row.title
            + (f" ({str(reason).replace('_', ' ').lower()})" if reason else "")
            + (" (delivered late: a newer event stands)" if late else ""),
            # Meta's own description first (an alert's), then what to do
            detail="\n".join(
                p for p in (str(info.get("alert_description") or ""), row.action) if p
            ),
            key=key,
            source=EventSource.WEBHOOK,
            occurred_at=stated_at,
            account=account,
            number=number,
            data={"event": token, "info": info},
        )


def account_syncable(account: WhatsAppAccount) -> bool:
    """Whether the sync may read this WABA (not offboarded, removed or deleted)."""
    return account.connection_state == ConnectionState.ACTIVE


def account_state_text(account: WhatsAppAccount) -> str:
    """Why the portal does not work this WABA now, in plain words ("" when it does)."""
    if account_syncable(account):
        return ""
    for row in ACCOUNT_EVENTS.values():
        if row.state == account.connection_state:
            return f"{row.title}. {row.action}".strip()
    return f"The account is {account.get_connection_state_display().lower()}."
