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

from django.db import connection, transaction
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
    USAGE_CATEGORIES,
    USAGE_TYPES,
    BusinessPortfolio,
    MessageStatus,
    PhoneNumber,
    PortfolioLimitChange,
    WhatsAppAccount,
)
from portal.bulk import rows_insert_once
from portal.meta import types as meta

USAGE_WINDOW = timedelta(hours=24)
ALERT_LEVELS = (100, 80)  # percent of the limit, highest first


def _event_source(source: str) -> EventSource:
    return EventSource.SYNC if source == LimitSource.SYNC else EventSource.WEBHOOK


def _late(decided_at: datetime | None, stated_at: datetime | None) -> bool:
    return decided_at is not None and stated_at is not None and stated_at < decided_at


# --- writes -----------------------------------------------------------------------------------


def portfolio_ensure(
    *, business_id: str, name: str = "", initial: dict | None = None
) -> BusinessPortfolio:
    """The portfolio with Meta business id `business_id`, created if new, with `initial`'s
    fields (what the caller would write next, in the same INSERT).

    A read, and for a new one an INSERT … ON CONFLICT DO NOTHING (`rows_insert_once`): no
    savepoint around it (`get_or_create` took two round trips more, in the first sync of
    every client); a portfolio another writer created meanwhile is read again."""
    business_id = str(business_id).strip()
    if not business_id.isdigit():
        raise ValueError("A business portfolio id is a number, as Meta shows it.")
    portfolio = BusinessPortfolio.objects.filter(meta_id=business_id).first()
    if portfolio is None:
        new = BusinessPortfolio(meta_id=business_id, name=name[:200], **(initial or {}))
        if rows_insert_once([new], unique="meta_id"):
            return new
        portfolio = BusinessPortfolio.objects.get(meta_id=business_id)
    if name and portfolio.name != name:
        portfolio.name = name[:200]
        portfolio.save(update_fields=["name"])
    return portfolio


def account_portfolio_set(
    *, account: WhatsAppAccount, business_id: str, name: str = "", initial: dict | None = None
) -> BusinessPortfolio:
    """Record that `business_id` owns the WABA (the sync, or a webhook's owner business id);
    `initial`: as `portfolio_ensure`."""
    portfolio = portfolio_ensure(business_id=business_id, name=name, initial=initial)
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
    # (no savepoint of its own inside a caller's transaction, and none around the history's
    # INSERT … ON CONFLICT DO NOTHING: four round trips fewer, in the first sync of every client)
    with transaction.atomic(savepoint=False):
        locked = BusinessPortfolio.objects.select_for_update().get(pk=portfolio.pk)
        old = meta.MessagingLimit(locked.messaging_limit)
        late = _late(locked.messaging_limit_at, stated_at)
        change = PortfolioLimitChange(
            portfolio=locked,
            previous=old,
            limit=limit,
            stated_at=stated_at,
            source=source,
            superseded=late,
            dedupe_key=key,
        )
        if not rows_insert_once([change], unique="dedupe_key"):
            return None  # seen before
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
        # a new portfolio is inserted as the lines below would then write it
        initial = _owner_changes(owner, BusinessPortfolio(name=owner.name[:200]))
        if initial:
            initial["last_confirmed_at"] = now
        portfolio = account_portfolio_set(
            account=account, business_id=owner.id, name=owner.name, initial=initial
        )
    changed = _owner_changes(owner, portfolio)
    if changed:  # steady state writes nothing: the sync runs for every client every few minutes
        for name, value in changed.items():
            setattr(portfolio, name, value)
        portfolio.last_confirmed_at = now
        portfolio.save(update_fields=[*changed, "last_confirmed_at"])
    return portfolio


def _owner_changes(owner, portfolio: BusinessPortfolio) -> dict:
    """The portfolio's fields that Meta's `owner_business_info` states otherwise (what it
    leaves out or does not know stays as it is)."""
    wanted = {
        "name": owner.name[:200] or portfolio.name,
        "verification": owner.verification
        if owner.verification != meta.BusinessVerification.UNKNOWN
        else portfolio.verification,
        "marketing_onboarding": owner.marketing_onboarding
        if owner.marketing_onboarding in MarketingOnboarding.values
        else portfolio.marketing_onboarding,
    }
    return {name: value for name, value in wanted.items() if getattr(portfolio, name) != value}


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


def _sql_list(values) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _any_of_sql(column: str, values) -> str:
    return "(" + " OR ".join(f"{column} = '{v}'" for v in values) + ")"


# `compliance.models.USAGE_CONDITION` as the partial index `status_usage_time` states it (OR-ed
# equalities, so PostgreSQL proves a query against it uses the index).
USAGE_SQL = (
    "m.status = 'sent' AND "
    f"{_any_of_sql('m.pricing_category', USAGE_CATEGORIES)} AND "
    f"{_any_of_sql('m.pricing_type', USAGE_TYPES)}"
)


def usage_sql(*, portfolio: str, watermark: str) -> str:
    """One scalar SQL expression: the portfolio's usage in (start, now], exact and read-only.

    `portfolio` and `watermark` are SQL expressions (a column of the caller's query, or `%s`);
    the expression takes the parameters `usage_params(start, now)` gives, in order, after those
    of `portfolio`/`watermark` placeholders (none when they are columns).

    Three parts: the rollup's minutes wholly inside the window; the first minute's recipients
    counted exactly (`PortfolioRecipient.last_sent_at` in the window); and ledger rows not yet
    folded into the rollup (id past the watermark) whose recipient the rollup does not already
    count. The fold (`portfolio_usage_fold`) keeps the last part small.
    """
    from compliance.models import PortfolioRecipient, PortfolioUsageMinute

    ledger, numbers, accounts = (
        MessageStatus._meta.db_table,
        PhoneNumber._meta.db_table,
        WhatsAppAccount._meta.db_table,
    )
    minutes, recipients = PortfolioUsageMinute._meta.db_table, PortfolioRecipient._meta.db_table
    condition = USAGE_SQL
    return (
        f"((SELECT coalesce(sum(u.recipients), 0) FROM {minutes} u "  # noqa: S608 (table names and fixed SQL; values are parameters)
        f"WHERE u.portfolio_id = {portfolio} AND u.minute > date_trunc('minute', %s::timestamptz) "
        "AND u.minute <= %s) "
        f"+ (SELECT count(*) FROM {recipients} r WHERE r.portfolio_id = {portfolio} "
        "AND r.last_sent_at > %s AND r.last_sent_at < date_trunc('minute', %s::timestamptz) "
        "+ interval '1 minute') "
        f"+ (SELECT count(DISTINCT m.recipient) FROM {ledger} m WHERE m.id > {watermark} "
        f"AND {condition} AND m.occurred_at > %s AND m.occurred_at <= %s AND m.number_id IN ("
        f"SELECT pn.id FROM {numbers} pn JOIN {accounts} pa ON pa.id = pn.account_id "
        f"WHERE pa.portfolio_id = {portfolio}) AND NOT EXISTS (SELECT 1 FROM {recipients} x "
        f"WHERE x.portfolio_id = {portfolio} AND x.recipient = m.recipient "
        "AND x.last_sent_at > %s)))"
    )


def usage_params(start: datetime, now: datetime) -> list:
    return [start, now, start, start, start, now, start]


def portfolio_usage(*, portfolio: BusinessPortfolio, now: datetime | None = None) -> Usage:
    """Usage across every number of the portfolio, in one read-only query (see `usage_sql`)."""
    now = now or timezone.now()
    start = now - USAGE_WINDOW
    sql = "SELECT " + usage_sql(portfolio="%s", watermark="%s")
    # `portfolio` appears 4 times and the watermark once, interleaved with the window bounds.
    params = [
        portfolio.pk,
        start,
        now,
        portfolio.pk,
        start,
        start,
        portfolio.ledger_watermark,
        start,
        now,
        portfolio.pk,
        portfolio.pk,
        start,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        used = cursor.fetchone()[0]
    return Usage(
        portfolio_id=portfolio.pk, used=int(used), limit=portfolio.daily_limit, measured_at=now
    )


def portfolio_usage_fold(
    *, portfolio: BusinessPortfolio, now: datetime | None = None, rescan: bool = False
) -> int:
    """Fold the ledger's new counted rows (past the watermark; with `rescan`, every row of the
    window, which also catches rows committed late with a lower id) into the rollup: each
    recipient's last counted send moves to its newest minute. Idempotent: a row not newer than
    the recipient's last send changes nothing. Returns how many recipients moved."""
    from compliance.models import PortfolioRecipient, PortfolioUsageMinute

    now = now or timezone.now()
    start = now - USAGE_WINDOW
    ledger, numbers, accounts = (
        MessageStatus._meta.db_table,
        PhoneNumber._meta.db_table,
        WhatsAppAccount._meta.db_table,
    )
    minutes, recipients = PortfolioUsageMinute._meta.db_table, PortfolioRecipient._meta.db_table
    condition = USAGE_SQL
    with transaction.atomic():
        locked = BusinessPortfolio.objects.select_for_update().get(pk=portfolio.pk)
        since = 0 if rescan else locked.ledger_watermark
        sql = (
            "WITH new AS (SELECT m.recipient, max(m.occurred_at) AS at "  # noqa: S608 (table names and fixed SQL; values are parameters)
            f"FROM {ledger} m WHERE m.id > %s AND {condition} AND m.occurred_at > %s "
            f"AND m.number_id IN (SELECT pn.id FROM {numbers} pn JOIN {accounts} pa "
            "ON pa.id = pn.account_id WHERE pa.portfolio_id = %s) GROUP BY m.recipient), "
            "moved AS (SELECT new.recipient, new.at, r.last_sent_at AS was FROM new "
            f"LEFT JOIN {recipients} r ON r.portfolio_id = %s AND r.recipient = new.recipient "
            "WHERE r.last_sent_at IS NULL OR r.last_sent_at < new.at), "
            f"up AS (INSERT INTO {recipients} (portfolio_id, recipient, last_sent_at) "
            "SELECT %s, recipient, at FROM moved ON CONFLICT (portfolio_id, recipient) "
            "DO UPDATE SET last_sent_at = EXCLUDED.last_sent_at RETURNING 1), "
            "delta AS (SELECT minute, sum(n) AS n FROM ("
            "SELECT date_trunc('minute', at) AS minute, 1 AS n FROM moved UNION ALL "
            "SELECT date_trunc('minute', was), -1 FROM moved WHERE was IS NOT NULL) d "
            "GROUP BY minute HAVING sum(n) <> 0), "
            f"bump AS (INSERT INTO {minutes} (portfolio_id, minute, recipients) "
            "SELECT %s, minute, n FROM delta ON CONFLICT (portfolio_id, minute) "
            f"DO UPDATE SET recipients = {minutes}.recipients + EXCLUDED.recipients RETURNING 1) "
            "SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM bump), "
            f"(SELECT coalesce(max(id), %s) FROM {ledger} WHERE id > %s)"
        )
        params = [since, start, locked.pk, locked.pk, locked.pk, locked.pk, since, since]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            moved, _, watermark = cursor.fetchone()
            # Minutes that left the window hold no one the usage counts any more.
            cursor.execute(
                f"DELETE FROM {minutes} WHERE portfolio_id = %s AND minute < %s",  # noqa: S608 (table name; values are parameters)
                [locked.pk, start - timedelta(minutes=1)],
            )
            cursor.execute(
                f"DELETE FROM {recipients} WHERE portfolio_id = %s AND last_sent_at < %s",  # noqa: S608 (table name; values are parameters)
                [locked.pk, start - timedelta(minutes=1)],
            )
        watermark = max(int(watermark), locked.ledger_watermark)
        BusinessPortfolio.objects.filter(pk=locked.pk).update(ledger_watermark=watermark)
        portfolio.ledger_watermark = watermark
    return int(moved)


def portfolio_usage_watch(*, portfolio: BusinessPortfolio, now: datetime | None = None) -> Usage:
    """Measure usage, store it (the gauge's last figure, the staff work index) and alert the
    client at 80% and at 100% of the limit, once per level and day."""
    from tenants.models import WorkItem, WorkKind

    now = now or timezone.now()
    portfolio_usage_fold(portfolio=portfolio, now=now, rescan=True)
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


def accounts_with_portfolio_usage(accounts, *, now: datetime | None = None):
    """`accounts` (a WhatsAppAccount queryset) with each one's portfolio and its usage now, in
    the same query (the usage is `usage_sql` per row, correlated on the account's portfolio):
    read it with `account_portfolio_usage`. For the API's account list, however long."""
    from django.db.models import DateTimeField, Value
    from django.db.models.expressions import RawSQL

    now = now or timezone.now()
    accounts_table = connection.ops.quote_name(WhatsAppAccount._meta.db_table)
    portfolios_table = BusinessPortfolio._meta.db_table
    portfolio = f"{accounts_table}.portfolio_id"
    watermark = f"(SELECT w.ledger_watermark FROM {portfolios_table} w WHERE w.id = {portfolio})"  # noqa: S608 (table names; no values)
    used = RawSQL(  # noqa: S611 (table names and fixed SQL; values are parameters)
        f"CASE WHEN {portfolio} IS NULL THEN NULL ELSE "
        f"{usage_sql(portfolio=portfolio, watermark=watermark)} END",
        usage_params(now - USAGE_WINDOW, now),
    )
    return accounts.select_related("portfolio").annotate(
        portfolio_used=used, portfolio_measured_at=Value(now, output_field=DateTimeField())
    )


def account_portfolio_usage(account: WhatsAppAccount) -> Usage | None:
    """The usage `accounts_with_portfolio_usage` read with the account (None: no portfolio)."""
    if account.portfolio_id is None:
        return None
    return Usage(
        portfolio_id=account.portfolio_id,
        used=int(account.portfolio_used or 0),
        limit=account.portfolio.daily_limit,
        measured_at=account.portfolio_measured_at,
    )
