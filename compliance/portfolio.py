"""Business portfolios: the messaging limit their numbers share, its history, and usage.

Since 7 Oct 2025 Meta sets the messaging limit per business portfolio (meta-platform §1.4): every
number of every WABA the portfolio owns draws on one allowance of unique recipients of
business-initiated messages in a moving 24 hours. Here:

- writes (webhook appliers and the sync call them; Meta's ordering: a statement older than the
  value in force is kept in the history, marked superseded, and changes nothing):
  `portfolio_ensure`, `account_portfolio_set`, `portfolio_limit_set`, `portfolio_number_cap_set`,
  `portfolio_scaling_set`, `portfolio_from_waba` (the sync's read of `owner_business_info`);
- usage, from the delivery ledger: `portfolio_usage` (one query, on the partial index
  `status_usage_time`), `portfolio_usage_watch` (alerts at 80% and 100%, mirrored to the staff
  work index), `fleet_portfolio_usage` (for staff *Fleet health*, from the work index).

Which ledger rows count (`compliance.models.USAGE_CONDITION`): `sent` statuses (one per message,
whatever later statuses follow) of a business-initiated pricing category (not `service`) and a
regular pricing type (not `free_customer_service` / `free_entry_point`; an empty type, the
payload generation before it, counts). A recipient is the ledger's `recipient` (phone digits, or
the BSUID for messages sent to one).

Run inside the client's schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.utils import timezone

from compliance import services
from compliance.choices import (
    EventKind,
    EventSource,
    LimitSource,
    MarketingOnboarding,
    ScalingState,
    Severity,
)
from compliance.models import (
    USAGE_CONDITION,
    BusinessPortfolio,
    MessageStatus,
    PhoneNumber,
    PortfolioLimitChange,
    WhatsAppAccount,
)
from portal.meta import types as meta

USAGE_WINDOW = timedelta(hours=24)
ALERT_LEVELS = (100, 80)  # percent of the limit, highest first


def _event_source(source: str) -> EventSource:
    return EventSource.SYNC if source == LimitSource.SYNC else EventSource.WEBHOOK


def _late(decided_at: datetime | None, stated_at: datetime | None) -> bool:
    return decided_at is not None and stated_at is not None and stated_at < decided_at


# --- writes -----------------------------------------------------------------------------------


def portfolio_ensure(*, business_id: str, name: str = "") -> BusinessPortfolio:
    """The portfolio with Meta business id `business_id`, created if new."""
    business_id = str(business_id).strip()
    if not business_id.isdigit():
        raise ValueError("A business portfolio id is a number, as Meta shows it.")
    portfolio, created = BusinessPortfolio.objects.get_or_create(
        meta_id=business_id, defaults={"name": name[:200]}
    )
    if not created and name and portfolio.name != name:
        portfolio.name = name[:200]
        portfolio.save(update_fields=["name"])
    return portfolio


def account_portfolio_set(
    *, account: WhatsAppAccount, business_id: str, name: str = ""
) -> BusinessPortfolio:
    """Record that `business_id` owns the WABA (the sync, or a webhook's owner business id)."""
    portfolio = portfolio_ensure(business_id=business_id, name=name)
    if account.portfolio_id != portfolio.pk:
        account.portfolio = portfolio
        account.save(update_fields=["portfolio"])
    return portfolio


def portfolio_limit_set(
    *,
    portfolio: BusinessPortfolio,
    limit: meta.MessagingLimit,
    stated_at: datetime,
    source: str,
    key: str,
) -> PortfolioLimitChange | None:
    """Meta stated the portfolio's messaging limit at `stated_at` (a `business_capability_update`,
    a number's `whatsapp_business_manager_messaging_limit` in the sync, …).

    Kept once per `key` in the tier history (None if seen before); applied unless a newer
    statement is in force. A change is an event: a rise is news, a drop a warning (alert).
    """
    limit = meta.MessagingLimit(limit)
    if limit == meta.MessagingLimit.UNKNOWN:
        raise ValueError("Give a known messaging limit.")
    with transaction.atomic():
        locked = BusinessPortfolio.objects.select_for_update().get(pk=portfolio.pk)
        old = meta.MessagingLimit(locked.messaging_limit)
        late = _late(locked.messaging_limit_at, stated_at)
        try:
            with transaction.atomic():
                change = PortfolioLimitChange.objects.create(
                    portfolio=locked,
                    previous=old,
                    limit=limit,
                    stated_at=stated_at,
                    source=source,
                    superseded=late,
                    dedupe_key=key,
                )
        except IntegrityError:
            return None
        if late:
            return change
        locked.messaging_limit, locked.messaging_limit_at = limit, stated_at
        locked.save(update_fields=["messaging_limit", "messaging_limit_at"])
        portfolio.messaging_limit, portfolio.messaging_limit_at = limit, stated_at
        if old != limit and old.rank and limit.rank:
            dropped = limit.rank < old.rank
            services.health_event_record(
                kind=EventKind.PORTFOLIO_LIMIT,
                severity=Severity.WARNING if dropped else Severity.INFO,
                title=(
                    f"Messaging limit of {locked} {'lowered' if dropped else 'raised'}: "
                    f"{limit_words(old)} → {limit_words(limit)}"
                ),
                detail=(
                    "The limit is shared by every number of the business portfolio."
                    + (" Campaigns beyond it will be refused." if dropped else "")
                ),
                key=services.dedupe_key("portfolio_limit", key),
                source=_event_source(source),
                occurred_at=stated_at,
                data={"portfolio": locked.meta_id, "old": old.value, "new": limit.value},
            )
    return change


def portfolio_number_cap_set(
    *, portfolio: BusinessPortfolio, cap: int, stated_at: datetime, source: str, key: str
) -> bool:
    """`max_phone_numbers_per_business`: how many numbers the portfolio may register (2, then 20
    once verified or at the 2,000 limit). Returns whether it was applied."""
    cap = int(cap)
    if cap < 0:
        raise ValueError("A number cap is zero or more.")
    with transaction.atomic():
        locked = BusinessPortfolio.objects.select_for_update().get(pk=portfolio.pk)
        if _late(locked.max_phone_numbers_at, stated_at):
            return False
        old = locked.max_phone_numbers
        locked.max_phone_numbers, locked.max_phone_numbers_at = cap, stated_at
        locked.save(update_fields=["max_phone_numbers", "max_phone_numbers_at"])
        portfolio.max_phone_numbers = cap
        if old is not None and old != cap:
            services.health_event_record(
                kind=EventKind.NUMBER_CAP,
                severity=Severity.INFO,
                title=f"{locked} may now register {cap} phone numbers (was {old})",
                key=services.dedupe_key("number_cap", key),
                source=_event_source(source),
                occurred_at=stated_at,
                data={"portfolio": locked.meta_id, "old": old, "new": cap},
            )
    return True


_SCALING_WORDS = {
    ScalingState.APPROVED: (
        Severity.INFO,
        "Meta approved a higher messaging limit",
        "The new limit applies to every number of the portfolio within 6 hours.",
    ),
    ScalingState.DEFERRED: (
        Severity.WARNING,
        "Meta deferred the messaging-limit increase",
        "Keep quality high and use at least half of the current limit; verifying the business "
        "is the quickest path to 2,000.",
    ),
    ScalingState.FAILED: (
        Severity.CRITICAL,
        "Meta refused the messaging-limit increase",
        "Verify the business (or ask your BSP for partner-led verification) and improve "
        "template quality before trying again.",
    ),
    ScalingState.NEED_MORE_INFO: (
        Severity.WARNING,
        "Meta needs more information for the messaging-limit increase",
        "Complete business verification in Meta Business Suite (Security Centre).",
    ),
}


def portfolio_scaling_set(
    *,
    portfolio: BusinessPortfolio,
    state: ScalingState,
    stated_at: datetime,
    key: str,
    detail: str = "",
    source: str = LimitSource.WEBHOOK,
) -> bool:
    """A scaling-path decision (`account_alerts` INCREASED_CAPABILITIES_ELIGIBILITY_*, or the
    approval). Every decision alerts the client (an approval too: it changes what may be sent).
    Returns whether it was applied (not older than the one in force)."""
    state = ScalingState(state)
    severity, title, action = _SCALING_WORDS.get(
        state, (Severity.INFO, "Messaging-limit decision", "")
    )
    with transaction.atomic():
        locked = BusinessPortfolio.objects.select_for_update().get(pk=portfolio.pk)
        late = _late(locked.scaling_state_at, stated_at)
        if not late:
            locked.scaling_state, locked.scaling_state_at = state, stated_at
            locked.scaling_detail = detail
            locked.save(update_fields=["scaling_state", "scaling_state_at", "scaling_detail"])
            portfolio.scaling_state = state
        event = services.health_event_record(
            kind=EventKind.SCALING_PATH,
            severity=Severity.INFO if late else severity,
            title=f"{title} ({locked})",
            detail="\n".join(p for p in (detail, action) if p),
            key=services.dedupe_key("scaling", key),
            source=_event_source(source),
            occurred_at=stated_at,
            data={"portfolio": locked.meta_id, "state": state.value, "late": late},
        )
        if event is not None and event.severity == Severity.INFO and not late:
            services.alert_raise(event=event)
    return not late


def portfolio_from_waba(
    *, account: WhatsAppAccount, waba_raw: dict, now: datetime
) -> BusinessPortfolio | None:
    """The sync's read of a WABA's owner portfolio (`owner_business_info`) and the WABA's
    marketing-messages onboarding; None when Meta did not send the owner."""
    from portal.meta.business import parse_owner_business, waba_onboarding

    onboarding = waba_onboarding(waba_raw)
    if onboarding and account.marketing_onboarding != onboarding:
        account.marketing_onboarding = onboarding
        account.save(update_fields=["marketing_onboarding"])
    owner = parse_owner_business(waba_raw)
    if owner is None:
        return None
    portfolio = account.portfolio if account.portfolio_id else None
    if portfolio is None or portfolio.meta_id != owner.id:
        portfolio = account_portfolio_set(account=account, business_id=owner.id, name=owner.name)
    wanted = {
        "name": owner.name[:200] or portfolio.name,
        "verification": owner.verification
        if owner.verification != meta.BusinessVerification.UNKNOWN
        else portfolio.verification,
        "marketing_onboarding": owner.marketing_onboarding
        if owner.marketing_onboarding in MarketingOnboarding.values
        else portfolio.marketing_onboarding,
    }
    changed = [name for name, value in wanted.items() if getattr(portfolio, name) != value]
    if changed:  # steady state writes nothing: the sync runs for every client every few minutes
        for name in changed:
            setattr(portfolio, name, wanted[name])
        portfolio.last_confirmed_at = now
        portfolio.save(update_fields=[*changed, "last_confirmed_at"])
    return portfolio


def portfolio_limit_from_numbers(
    *, account: WhatsAppAccount, numbers, now: datetime, source: str = LimitSource.SYNC
) -> None:
    """Since the cut-over every number reports its portfolio's limit: the sync states it once
    for the portfolio (the highest any number reports, as Meta's cut-over set it)."""
    if account.portfolio_id is None:
        return
    limits = [
        meta.MessagingLimit(n.messaging_limit)
        for n in numbers
        if meta.MessagingLimit(n.messaging_limit).rank
    ]
    if not limits:
        return
    best = max(limits, key=lambda limit: limit.rank)
    portfolio = account.portfolio
    if portfolio.messaging_limit != best:
        portfolio_limit_set(
            portfolio=portfolio,
            limit=best,
            stated_at=now,
            source=source,
            key=services.dedupe_key("sync_limit", portfolio.meta_id, best, now.isoformat()),
        )


# --- usage ------------------------------------------------------------------------------------


def limit_words(limit: meta.MessagingLimit | str) -> str:
    limit = meta.MessagingLimit(limit)
    if limit == meta.MessagingLimit.UNLIMITED:
        return "unlimited"
    users = limit.daily_users
    return f"{users:,} recipients a day" if users else "not known yet"


@dataclass(frozen=True)
class Usage:
    """Unique recipients of business-initiated messages in the last 24 hours, and the limit."""

    portfolio_id: int
    used: int
    limit: int | None  # None: unlimited or not known
    measured_at: datetime

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used)

    @property
    def percent(self) -> int | None:
        return None if not self.limit else min(100, int(100 * self.used / self.limit))

    @property
    def over(self) -> bool:
        return self.limit is not None and self.used >= self.limit

    def as_dict(self) -> dict:
        return {
            "used": self.used,
            "limit": self.limit,
            "remaining": self.remaining,
            "percent": self.percent,
            "measured_at": self.measured_at.isoformat(),
        }


def portfolio_numbers(portfolio: BusinessPortfolio):
    return PhoneNumber.objects.filter(account__portfolio=portfolio)


def portfolio_usage(*, portfolio: BusinessPortfolio, now: datetime | None = None) -> Usage:
    """Usage across every number of the portfolio, in one query (`status_usage_time`)."""
    now = now or timezone.now()
    used = (
        MessageStatus.objects.filter(
            USAGE_CONDITION,
            occurred_at__gt=now - USAGE_WINDOW,
            occurred_at__lte=now,
            number__account__portfolio=portfolio,
        )
        .order_by()
        .aggregate(n=Count("recipient", distinct=True))["n"]
    )
    return Usage(portfolio_id=portfolio.pk, used=used, limit=portfolio.daily_limit, measured_at=now)


def portfolio_usage_watch(*, portfolio: BusinessPortfolio, now: datetime | None = None) -> Usage:
    """Measure usage, store it (the gauge's last figure, the staff work index) and alert the
    client at 80% and at 100% of the limit, once per level and day."""
    from tenants.models import WorkItem, WorkKind

    now = now or timezone.now()
    usage = portfolio_usage(portfolio=portfolio, now=now)
    with transaction.atomic():
        BusinessPortfolio.objects.filter(pk=portfolio.pk).update(
            usage_count=usage.used, usage_at=now
        )
        portfolio.usage_count, portfolio.usage_at = usage.used, now
        for level in ALERT_LEVELS:
            if usage.percent is not None and usage.percent >= level:
                full = level == 100
                services.health_event_record(
                    kind=EventKind.PORTFOLIO_USAGE,
                    severity=Severity.CRITICAL if full else Severity.WARNING,
                    title=(
                        f"{portfolio} reached its messaging limit"
                        if full
                        else f"{portfolio} used {usage.percent}% of its messaging limit"
                    )
                    + f" ({usage.used:,} of {usage.limit:,} recipients in 24 hours)",
                    detail=(
                        "New recipients of templates are refused until earlier sends leave the "
                        "24-hour window; replies inside a customer-service window still go."
                        if full
                        else "Plan the remaining campaigns: the limit is shared by every number "
                        "of the business portfolio."
                    ),
                    key=services.dedupe_key(
                        "portfolio_usage", portfolio.meta_id, level, now.date().isoformat()
                    ),
                    source=EventSource.WEBHOOK,
                    occurred_at=now,
                    data={"portfolio": portfolio.meta_id, **usage.as_dict()},
                )
                break
        ids = [str(pk) for pk in portfolio_numbers(portfolio).values_list("pk", flat=True)]
        if ids:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {WorkItem._meta.db_table} SET data = data || %s::jsonb "  # noqa: S608 (table name; values are parameters)
                    "WHERE kind = %s AND client_id = %s AND object_id = ANY(%s)",
                    [
                        _json({"portfolio": work_item_usage(portfolio, usage)}),
                        WorkKind.NUMBER_HEALTH,
                        services.current_client().pk,
                        ids,
                    ],
                )
    return usage


def work_item_usage(portfolio: BusinessPortfolio, usage: Usage | None = None) -> dict:
    """What the staff work index keeps of a number's portfolio (also written by the sync)."""
    used = usage.used if usage else portfolio.usage_count
    limit = portfolio.daily_limit
    return {
        "id": portfolio.meta_id,
        "name": portfolio.name,
        "limit": portfolio.messaging_limit,
        "used": used,
        "percent": min(100, int(100 * used / limit)) if limit else None,
        "max_phone_numbers": portfolio.max_phone_numbers,
    }


def _json(value) -> str:
    import json

    return json.dumps(value)


def fleet_portfolio_usage(items) -> list[dict]:
    """For staff *Fleet health*: each distinct portfolio of these number-health work items with
    its last usage (from the work index: no tenant schema is read). Most used first."""
    seen: dict[tuple, dict] = {}
    for item in items:
        data = (item.data or {}).get("portfolio")
        if not data:
            continue
        seen.setdefault(
            (item.client_id, data.get("id")),
            {**data, "client_id": item.client_id, "numbers": 0},
        )["numbers"] += 1
    return sorted(seen.values(), key=lambda row: -(row.get("percent") or 0))


def portfolios_for_client() -> list[tuple[BusinessPortfolio, Usage]]:
    """The client's portfolios with their usage now (the dashboard gauge, the API)."""
    now = timezone.now()
    return [
        (portfolio, portfolio_usage(portfolio=portfolio, now=now))
        for portfolio in BusinessPortfolio.objects.order_by("name", "meta_id")
    ]
