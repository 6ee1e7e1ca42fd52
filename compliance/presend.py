"""The pre-send check: may this client send this template (or category) to these recipients now?

Reads only; run inside the client's schema. One recipient or up to `BULK_LIMIT` cost the same
two round trips (the check sits in front of every send, so each one is latency): the settings
(the policy, the number with its account, its portfolio and the portfolio's usage from
`compliance.portfolio.usage_sql`, the active restrictions, the template) in one query, then the
recipients' identities, consent states, delivery ledger and inbound messages in another.
Recipients written other than in E.164 or as a BSUID cost one more.

A recipient is an E.164 phone (or a national number in the client's region) or a BSUID; either
resolves to the contact (`compliance.identity`), and the ledger and inbound messages are read
for every identifier the contact holds, so a person is the same whichever one is used.

Rules (codes are stable, messages are for people):
- consent: marketing and utility need an opt-in (`no_consent`), no category may be sent after an
  opt-out of it (`opted_out`); authentication needs no opt-in, only no opt-out; a free-form
  message (`category="service"`) needs neither, but needs the 24-hour customer-service window
  (`outside_service_window`: an inbound message from that identity in the last 24 hours);
- `frequency_cap`: `sent` ledger rows of the category to the recipient in the rolling window
  (now - window_days, now] reached the policy's cap (0 = no cap); a send exactly window_days ago
  no longer counts;
- `backoff_131049` (marketing only; 131049 is Meta's per-user marketing limit): a 131049 failure
  to the recipient less than 24 hours ago (exactly 24 hours later sending is allowed again);
- `us_marketing`: Meta delivers no marketing templates to US numbers (+1 with a US area code);
- `bsuid_authentication`: authentication templates cannot go to a BSUID (Meta's 131062): the
  recipient is known by BSUID only;
- `recipient_unreachable` (131026 in the last 7 days), `recipient_backoff` (131056's 4^X s);
- `quiet_hours`: the policy's quiet hours (in its time zone) cover now; not for authentication
  or free-form replies;
- template: `template_unknown`, `template_not_approved`, `template_paused` (the words say
  quality or pacing pause), `template_disabled`, `template_quality_low`;
- number: `number_unknown`, `number_not_connected`, `number_blocked` (number or account cannot
  send), `number_backoff` (`compliance.error_actions` holds the number), `account_disabled`,
  `account_offboarded` (offboarded, partner removed, deleted), `account_restricted` (an active
  restriction on business-initiated messaging, or on utility templates for utility);
- `marketing_not_onboarded` / `mm_marketing_only` for `api="marketing_messages"`: the WABA (or
  its portfolio) must be onboarded, and the Marketing Messages API takes marketing only;
- `portfolio_limit`: business-initiated messages to recipients NEW in the portfolio's 24-hour
  window (not already counted in its usage) take the remaining headroom in request order; the
  ones past it are refused. `CheckResult.portfolio` reports limit, used and remaining;
- `invalid_recipient`: neither a phone number nor a valid BSUID (the message says why).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import connection
from django.utils import timezone

from compliance.choices import ConnectionState, ConsentCategory, ConsentStatus, MarketingOnboarding
from compliance.consent import POLICY_FIELDS, contact_normalize
from compliance.error_actions import UNREACHABLE_FOR
from compliance.identity import bsuid_validate, looks_like_bsuid
from compliance.models import (
    AccountRestriction,
    BusinessPortfolio,
    ConsentState,
    Contact,
    InboundMessage,
    MessageStatus,
    MessagingPolicy,
    PhoneNumber,
    WhatsAppAccount,
)
from compliance.portfolio import USAGE_SQL, usage_params, usage_sql
from portal.meta import types as meta
from tenants.selectors import current_client

BULK_LIMIT = 10_000
BACKOFF_131049 = timedelta(hours=24)
SERVICE_WINDOW = timedelta(hours=24)
USAGE_WINDOW = timedelta(hours=24)
FREE_FORM = "service"  # a free-form message, not a template
CATEGORIES = (*ConsentCategory.values, FREE_FORM)
API_CLOUD, API_MARKETING_MESSAGES = "cloud", "marketing_messages"
_E164 = re.compile(r"\+[1-9]\d{6,14}")
PRICING_CATEGORIES = {
    ConsentCategory.MARKETING: ("marketing", "marketing_lite"),
    ConsentCategory.UTILITY: ("utility",),
    ConsentCategory.AUTHENTICATION: ("authentication", "authentication-international"),
    FREE_FORM: ("service",),
}
_FINITE_LIMITS = [limit.value for limit in meta.MessagingLimit if limit.daily_users]


def _sql_list(values) -> str:
    """Fixed literals (our own constants, e.g. the finite messaging limits) for an IN list."""
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


@functools.cache
def _non_us_area_codes() -> frozenset[str]:
    """Area codes of the +1 zone that are not the United States (Canada, the Caribbean, …),
    from phonenumbers' metadata, once per process."""
    import phonenumbers

    found = set()
    for area in range(200, 1000):
        for rest in ("2345678", "5550123", "7654321", "3217654", "4567890"):
            try:
                region = phonenumbers.region_code_for_number(phonenumbers.parse(f"+1{area}{rest}"))
            except phonenumbers.NumberParseException:
                continue
            if region:
                if region != "US":
                    found.add(str(area))
                break
    return frozenset(found)


def is_us_number(e164: str) -> bool:
    """+1 with a US area code (meta-platform §11: no marketing templates are delivered)."""
    return e164.startswith("+1") and len(e164) == 12 and e164[2:5] not in _non_us_area_codes()


@dataclass(frozen=True)
class _Number:
    account_id: int
    status: str
    can_send: str
    account_can_send: str
    ban_state: str
    blocks_all: bool
    blocks_utility: bool
    backoff_until: datetime | None
    backoff_reason: str
    connection_state: str
    onboarding: str
    portfolio_id: int | None
    portfolio_name: str | None
    portfolio_limit: str | None
    portfolio_onboarding: str | None
    portfolio_used: int | None


@dataclass(frozen=True)
class _Template:
    category: str
    meta_status: str
    quality: str
    paused_until: datetime | None
    disabled_at: datetime | None
    pause_kind: str


@dataclass(frozen=True)
class Reason:
    code: str
    message: str


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reasons: list[Reason] = field(default_factory=list)
    recipient: str = ""


@dataclass(frozen=True)
class Headroom:
    """The portfolio's messaging limit against its usage, before and after this request."""

    portfolio: str
    limit: int
    used: int
    remaining: int
    remaining_after: int
    new_recipients: int

    def as_dict(self) -> dict:
        return {
            "portfolio": self.portfolio,
            "limit": self.limit,
            "used": self.used,
            "remaining": self.remaining,
            "remaining_after": self.remaining_after,
            "new_recipients": self.new_recipients,
        }


@dataclass(frozen=True)
class CheckResult:
    decisions: list[Decision]
    portfolio: Headroom | None = None


def presend_check(
    *,
    recipient: str,
    phone_number_id: str,
    category: str | None = None,
    template: tuple[str, str] | None = None,
    now: datetime | None = None,
    api: str = API_CLOUD,
) -> Decision:
    """The decision for one recipient; `template` is (name, language), else give `category`."""
    return presend_evaluate(
        recipients=[recipient],
        phone_number_id=phone_number_id,
        category=category,
        template=template,
        now=now,
        api=api,
    ).decisions[0]


def presend_check_bulk(
    *,
    recipients: Iterable[str],
    phone_number_id: str,
    category: str | None = None,
    template: tuple[str, str] | None = None,
    now: datetime | None = None,
    api: str = API_CLOUD,
) -> list[Decision]:
    """One decision per recipient, in order, with a constant number of queries."""
    return presend_evaluate(
        recipients=recipients,
        phone_number_id=phone_number_id,
        category=category,
        template=template,
        now=now,
        api=api,
    ).decisions


@dataclass
class _Seen:
    """What the lookup found for one recipient key."""

    phone: str | None = None
    bsuid: str | None = None
    status: str = ConsentStatus.UNKNOWN
    unreachable_at: datetime | None = None
    backoff_until: datetime | None = None
    sent: int = 0
    blocked_at: datetime | None = None
    in_usage: bool = False
    last_inbound: datetime | None = None
    known: bool = False


_NOTHING_SEEN = _Seen()  # read only: a recipient the lookup found nothing about


def presend_evaluate(
    *,
    recipients: Iterable[str],
    phone_number_id: str,
    category: str | None = None,
    template: tuple[str, str] | None = None,
    now: datetime | None = None,
    api: str = API_CLOUD,
) -> CheckResult:
    """The decisions and the portfolio's headroom (see the module's rules)."""
    recipients = list(recipients)
    if len(recipients) > BULK_LIMIT:
        raise ValueError(f"At most {BULK_LIMIT} recipients per check.")
    if template is None and category not in CATEGORIES:
        raise ValueError("Give a template (name and language) or a category.")
    if api not in (API_CLOUD, API_MARKETING_MESSAGES):
        raise ValueError("api is cloud or marketing_messages.")
    now = now or timezone.now()
    policy, number, found = _settings(phone_number_id, template, now)
    shared: list[Reason] = []

    if template is not None:
        if found is None:
            shared.append(
                Reason(
                    "template_unknown",
                    f"No template {template[0]!r} in {template[1]!r} for this number's account.",
                )
            )
        else:
            shared.extend(_template_reasons(found, now))
            if category is None and found.category in ConsentCategory.values:
                category = found.category
        category = category or ConsentCategory.MARKETING  # an unknown template: the strict rules
    free_form = category == FREE_FORM
    shared.extend(_number_reasons(number, category, now, api))
    if category not in (ConsentCategory.AUTHENTICATION, FREE_FORM) and _in_quiet_hours(policy, now):
        shared.append(Reason("quiet_hours", "It is within the client's quiet hours."))

    keys, seen = _recipients(recipients, category, policy, now, number)
    cap = policy.marketing_cap if category == ConsentCategory.MARKETING else 0
    cap = policy.utility_cap if category == ConsentCategory.UTILITY else cap
    headroom = _headroom(number) if not free_form else None
    remaining = headroom.remaining if headroom else None
    counted: set[str] = set()

    decisions = []
    for raw, key in zip(recipients, keys, strict=True):
        if isinstance(key, Reason):
            decisions.append(Decision(allowed=False, reasons=[*shared, key], recipient=str(raw)))
            continue
        reasons = list(shared)
        info = seen.get(key, _NOTHING_SEEN)
        phone = info.phone or (key if key.startswith("+") else None)
        if free_form:
            if info.last_inbound is None:
                reasons.append(
                    Reason(
                        "outside_service_window",
                        "The recipient has not written in the last 24 hours: only a template "
                        "may be sent.",
                    )
                )
        elif info.status == ConsentStatus.OPTED_OUT:
            reasons.append(Reason("opted_out", f"The recipient opted out of {category} messages."))
        elif info.status != ConsentStatus.OPTED_IN and category != ConsentCategory.AUTHENTICATION:
            reasons.append(
                Reason("no_consent", f"The recipient has not opted in to {category} messages.")
            )
        if cap and info.sent >= cap:
            reasons.append(
                Reason(
                    "frequency_cap",
                    f"{info.sent} {category} messages in the last {policy.window_days} days "
                    f"(the cap is {cap}).",
                )
            )
        if info.blocked_at is not None and category == ConsentCategory.MARKETING:
            until = info.blocked_at + BACKOFF_131049
            reasons.append(
                Reason(
                    "backoff_131049",
                    f"Meta held back a message to this recipient (131049); wait until "
                    f"{until:%Y-%m-%d %H:%M} UTC.",
                )
            )
        if category == ConsentCategory.MARKETING and phone and is_us_number(phone):
            reasons.append(
                Reason(
                    "us_marketing",
                    "Meta delivers no marketing templates to US numbers (+1); the message "
                    "would fail with 131049.",
                )
            )
        if category == ConsentCategory.AUTHENTICATION and phone is None:
            reasons.append(
                Reason(
                    "bsuid_authentication",
                    "Authentication templates cannot be sent to a WhatsApp user id (Meta's "
                    "131062); send it to the person's phone number.",
                )
            )
        if info.unreachable_at is not None and info.unreachable_at > now - UNREACHABLE_FOR:
            reasons.append(
                Reason(
                    "recipient_unreachable",
                    "Meta could not deliver to this recipient recently (131026: not on "
                    "WhatsApp or an outdated app).",
                )
            )
        if info.backoff_until is not None and info.backoff_until > now:
            reasons.append(
                Reason(
                    "recipient_backoff",
                    f"Too many messages to this recipient in a short time (131056); wait until "
                    f"{info.backoff_until:%H:%M:%S} UTC.",
                )
            )
        if not reasons and remaining is not None and not info.in_usage and key not in counted:
            if remaining <= 0:
                reasons.append(
                    Reason(
                        "portfolio_limit",
                        f"The business portfolio reached its messaging limit ({headroom.limit:,} "
                        "new recipients in 24 hours); this recipient would be a new one.",
                    )
                )
            else:
                remaining -= 1
                counted.add(key)
        decisions.append(Decision(allowed=not reasons, reasons=reasons, recipient=key))
    if headroom is not None:
        headroom = Headroom(
            portfolio=headroom.portfolio,
            limit=headroom.limit,
            used=headroom.used,
            remaining=headroom.remaining,
            remaining_after=remaining,
            new_recipients=len(counted),
        )
    return CheckResult(decisions=decisions, portfolio=headroom)


def _headroom(number: _Number | None) -> Headroom | None:
    if number is None or number.portfolio_used is None:
        return None
    limit = meta.MessagingLimit(number.portfolio_limit).daily_users
    if not limit:
        return None
    remaining = max(0, limit - number.portfolio_used)
    return Headroom(
        portfolio=number.portfolio_name or "",
        limit=limit,
        used=number.portfolio_used,
        remaining=remaining,
        remaining_after=remaining,
        new_recipients=0,
    )


def _template_reasons(template, now: datetime) -> list[Reason]:
    from templates_review.choices import PauseKind

    status = template.meta_status
    if status == meta.TemplateStatus.DISABLED or template.disabled_at is not None:
        return [Reason("template_disabled", "Meta disabled this template.")]
    if status == meta.TemplateStatus.PAUSED or (
        template.paused_until is not None and template.paused_until > now
    ):
        if template.pause_kind in (PauseKind.PACING, PauseKind.PORTFOLIO_PACING):
            return [
                Reason(
                    "template_paused",
                    "Meta paused this template under template pacing; it stays paused until "
                    "it is unpaused.",
                )
            ]
        return [Reason("template_paused", "Meta paused this template for low quality.")]
    reasons = []
    if status != meta.TemplateStatus.APPROVED:
        reasons.append(Reason("template_not_approved", f"The template is {status}, not approved."))
    if template.quality == meta.Quality.LOW:
        reasons.append(Reason("template_quality_low", "The template's quality is low (red)."))
    return reasons


POLICY_COLUMNS = tuple(name for name in POLICY_FIELDS if name != "opt_out_keywords")


def _settings(
    phone_number_id: str, template: tuple[str, str] | None, now: datetime
) -> tuple[MessagingPolicy, _Number | None, _Template | None]:
    """The policy, the number (its account's state, whether active restrictions block sending,
    its portfolio with the usage of the last 24 hours) and the template (of the number's account;
    of any account if the number is unknown), in one query."""
    from templates_review.models import MessageTemplate

    restriction = (
        f"EXISTS (SELECT 1 FROM {AccountRestriction._meta.db_table} r "  # noqa: S608 (table names and fixed SQL; values are parameters)
        "WHERE r.account_id = n.account_id AND r.restriction_type = %s "
        "AND (r.expires_at IS NULL OR r.expires_at > %s))"
    )
    numbers, accounts = PhoneNumber._meta.db_table, WhatsAppAccount._meta.db_table
    usage = (
        f"CASE WHEN bp.messaging_limit IN ({_sql_list(_FINITE_LIMITS)}) THEN "
        f"{usage_sql(portfolio='bp.id', watermark='bp.ledger_watermark')} END"
    )
    sql = (
        f"SELECT p.id, {', '.join(f'p.{c}' for c in POLICY_COLUMNS)}, "  # noqa: S608 (table names and fixed SQL; values are parameters)
        "n.account_id, n.status, n.can_send, a.can_send, a.ban_state, "
        f"{restriction}, {restriction}, n.backoff_until, n.backoff_reason, "
        "a.connection_state, a.marketing_onboarding, bp.id, bp.name, bp.messaging_limit, "
        f"bp.marketing_onboarding, {usage}, "
        "t.category, t.meta_status, t.quality, t.paused_until, t.disabled_at, t.pause_kind "
        f"FROM (SELECT 1) one "
        f"LEFT JOIN {MessagingPolicy._meta.db_table} p ON p.singleton "
        f"LEFT JOIN ({numbers} n "
        f"JOIN {accounts} a ON a.id = n.account_id) ON n.meta_id = %s "
        f"LEFT JOIN {BusinessPortfolio._meta.db_table} bp ON bp.id = a.portfolio_id "
        f"LEFT JOIN LATERAL (SELECT * FROM {MessageTemplate._meta.db_table} x "
        "WHERE %s AND x.name = %s AND x.language = %s "
        "AND (n.account_id IS NULL OR x.account_id = n.account_id) "
        "ORDER BY x.id LIMIT 1) t ON true"
    )
    name, language = template or ("", "")
    params = [
        meta.RestrictionType.BUSINESS_INITIATED_MESSAGING.value,
        now,
        meta.RestrictionType.UTILITY_TEMPLATES.value,
        now,
        *usage_params(now - USAGE_WINDOW, now),
        phone_number_id,
        template is not None,
        name,
        language,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    width = len(POLICY_COLUMNS) + 1
    policy = (
        MessagingPolicy(pk=row[0], **dict(zip(POLICY_COLUMNS, row[1:width], strict=True)))
        if row[0] is not None
        else MessagingPolicy()
    )
    size = len(_Number.__dataclass_fields__)
    number = _Number(*row[width : width + size]) if row[width] is not None else None
    rest = row[width + size :]
    found = _Template(*rest) if rest[1] is not None else None
    return policy, number, found


def _number_reasons(number, category: str, now: datetime, api: str) -> list[Reason]:
    if number is None:
        return [Reason("number_unknown", "This phone number id is not one of the client's.")]
    reasons = []
    if number.status != meta.NumberStatus.CONNECTED:
        reasons.append(
            Reason("number_not_connected", f"The number is {number.status}, not connected.")
        )
    if meta.CanSend.BLOCKED in (number.can_send, number.account_can_send):
        reasons.append(Reason("number_blocked", "Meta reports that this number cannot send."))
    if number.backoff_until is not None and number.backoff_until > now:
        reasons.append(
            Reason(
                "number_backoff",
                f"Sends from this number are held until {number.backoff_until:%H:%M:%S} UTC "
                f"({number.backoff_reason or 'Meta refused recent messages'}).",
            )
        )
    if number.ban_state == meta.BanState.DISABLED:
        reasons.append(Reason("account_disabled", "Meta disabled the WhatsApp Business account."))
    if number.connection_state != ConnectionState.ACTIVE:
        label = ConnectionState(number.connection_state).label.lower()
        reasons.append(Reason("account_offboarded", f"The WhatsApp Business account is {label}."))
    restricted = number.blocks_all or (
        category == ConsentCategory.UTILITY and number.blocks_utility
    )
    if restricted and category != FREE_FORM:
        reasons.append(
            Reason("account_restricted", "Meta restricted business-initiated messaging.")
        )
    if api == API_MARKETING_MESSAGES:
        onboarded = MarketingOnboarding.ONBOARDED in (
            number.onboarding,
            number.portfolio_onboarding,
        )
        if not onboarded:
            reasons.append(
                Reason(
                    "marketing_not_onboarded",
                    "The account is not onboarded to the Marketing Messages API: its terms must "
                    "be signed in WhatsApp Manager first.",
                )
            )
        if category != ConsentCategory.MARKETING:
            reasons.append(
                Reason(
                    "mm_marketing_only",
                    "The Marketing Messages API sends marketing templates only.",
                )
            )
    return reasons


def _in_quiet_hours(policy: MessagingPolicy, now: datetime) -> bool:
    start, end = policy.quiet_hours_start, policy.quiet_hours_end
    if start is None or end is None or start == end:
        return False
    try:
        zone = ZoneInfo(policy.time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local: time = now.astimezone(zone).time()
    return start <= local < end if start < end else (local >= start or local < end)


def _recipients(
    recipients: list, category: str, policy: MessagingPolicy, now: datetime, number
) -> tuple[list[str | Reason], dict[str, _Seen]]:
    """Each recipient's key (E.164 phone or BSUID; a Reason if invalid) and what the lookup
    found per key.

    Contacts are stored only in validated E.164 form, so a recipient written exactly like a
    stored contact needs no phonenumbers parse (the costly part of a bulk check); BSUIDs are
    checked by their pattern; the others are parsed and validated, and looked up in one more
    query if any is written otherwise.
    """
    texts = [str(raw or "").strip() for raw in recipients]
    portfolio_id = number.portfolio_id if number is not None else None
    looked_up = {t for t in texts if _E164.fullmatch(t) or (looks_like_bsuid(t))}
    seen = _lookup(looked_up, category, policy, now, portfolio_id)
    keys: list[str | Reason] = []
    region = None
    unseen = set()
    for text in texts:
        if text in seen:
            keys.append(text)
            continue
        if looks_like_bsuid(text):
            try:
                keys.append(bsuid_validate(text))
            except ValueError as exc:
                keys.append(Reason("invalid_recipient", str(exc)))
            continue
        if not text.startswith("+") and region is None:
            region = current_client().default_region
        try:
            phone = contact_normalize(text, default_region=region)
        except ValueError:
            keys.append(
                Reason(
                    "invalid_recipient",
                    f"{text!r} is not a phone number or a WhatsApp user id (BSUID).",
                )
            )
            continue
        keys.append(phone)
        if phone not in looked_up:
            unseen.add(phone)
    if unseen:
        seen.update(_lookup(unseen, category, policy, now, portfolio_id))
    return keys, seen


def _lookup(
    keys: set[str], category: str, policy: MessagingPolicy, now: datetime, portfolio_id
) -> dict[str, _Seen]:
    """Per key, in one round trip: the contact (by phone or BSUID) and its consent status for
    `category`, and over every identifier the contact holds (phone digits, BSUID) the ledger
    (sends in the cap window, the last 131049, whether it counts in the portfolio's usage now)
    and the last inbound message of the 24-hour window (free-form messages only)."""
    if not keys:
        return {}
    contacts, states = Contact._meta.db_table, ConsentState._meta.db_table
    ledger, inbound = MessageStatus._meta.db_table, InboundMessage._meta.db_table
    numbers, accounts = PhoneNumber._meta.db_table, WhatsAppAccount._meta.db_table
    window_start = now - timedelta(days=policy.window_days)
    backoff_start = now - BACKOFF_131049
    usage_start = now - USAGE_WINDOW
    sent = (
        "(m.status = 'sent' AND m.pricing_category = ANY(%s)"
        " AND m.occurred_at > %s AND m.occurred_at <= %s)"
    )
    blocked = "(m.status = 'failed' AND m.error_code = 131049 AND m.occurred_at > %s)"
    in_usage = (
        f"({USAGE_SQL} AND m.occurred_at > %s AND m.occurred_at <= %s AND m.number_id IN ("  # noqa: S608 (table names and fixed SQL; values are parameters)
        f"SELECT pn.id FROM {numbers} pn JOIN {accounts} pa ON pa.id = pn.account_id "
        "WHERE pa.portfolio_id = %s))"
    )
    sent_params = [list(PRICING_CATEGORIES[category]), window_start, now]
    usage_params = [usage_start, now, portfolio_id]
    conditions = f"{sent} OR {blocked}" + (f" OR {in_usage}" if portfolio_id else "")
    condition_params = [*sent_params, backoff_start, *(usage_params if portfolio_id else [])]
    usage_select = f"bool_or({in_usage})" if portfolio_id else "false"
    free_form = category == FREE_FORM
    sql = (
        # Phones and BSUIDs apart: each key probes only the index it can match; `r` lists
        # every identifier that names a key's person (its own, then the contact's other one).
        "WITH p AS (SELECT unnest(%s::text[]) AS key), b AS (SELECT unnest(%s::text[]) AS key), "  # noqa: S608 (table names and fixed SQL; values are parameters)
        "c AS (SELECT p.key, x.id, x.phone, x.bsuid, x.unreachable_at, x.backoff_until "
        f"FROM p JOIN {contacts} x ON x.phone = p.key "
        "UNION ALL SELECT b.key, x.id, x.phone, x.bsuid, x.unreachable_at, x.backoff_until "
        f"FROM b JOIN {contacts} x ON x.bsuid = b.key), "
        "r AS (SELECT key, substr(key, 2) AS who FROM p UNION ALL SELECT key, key FROM b "
        "UNION ALL SELECT key, bsuid FROM c WHERE left(key, 1) = '+' AND bsuid IS NOT NULL "
        "UNION ALL SELECT key, substr(phone, 2) FROM c "
        "WHERE left(key, 1) <> '+' AND phone IS NOT NULL) "
        "SELECT 0, c.key, c.phone, c.bsuid, s.status, c.unreachable_at, c.backoff_until, "
        "NULL::bigint, NULL::timestamptz, NULL::bool FROM c "
        f"LEFT JOIN {states} s ON s.contact_id = c.id AND s.category = %s "
        "UNION ALL SELECT 1, r.key, NULL, NULL, NULL, NULL, NULL, "
        f"COUNT(*) FILTER (WHERE {sent}), MAX(m.occurred_at) FILTER (WHERE {blocked}), "
        f"{usage_select} FROM r JOIN {ledger} m ON m.recipient = r.who "
        f"WHERE m.occurred_at > %s AND ({conditions}) GROUP BY r.key"
    )
    phones = [key for key in keys if key.startswith("+")]
    params = [
        phones,
        [key for key in keys if not key.startswith("+")],
        category,
        *sent_params,
        backoff_start,
        *(usage_params if portfolio_id else []),
        min(window_start, backoff_start, usage_start),
        *condition_params,
    ]
    if free_form:
        sql += (
            " UNION ALL SELECT 2, w.key, NULL, NULL, NULL, NULL, NULL, NULL, MAX(w.at), NULL "  # noqa: S608 (table names and fixed SQL; values are parameters)
            f"FROM (SELECT r.key, i.received_at AS at FROM r JOIN {inbound} i ON i.sender = r.who "
            "WHERE i.received_at > %s AND i.received_at <= %s "
            f"UNION ALL SELECT r.key, i.received_at FROM r JOIN {inbound} i "
            "ON i.sender_bsuid = r.who AND i.sender_bsuid <> '' "
            "WHERE i.received_at > %s AND i.received_at <= %s) w GROUP BY w.key"
        )
        params += [now - SERVICE_WINDOW, now, now - SERVICE_WINDOW, now]
    seen: dict[str, _Seen] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for (
            part,
            key,
            phone,
            bsuid,
            status,
            unreachable,
            backoff,
            count,
            at,
            flag,
        ) in cursor.fetchall():
            info = seen.get(key)
            if info is None:
                info = seen[key] = _Seen()
            if part == 0:
                info.known = True
                info.phone, info.bsuid = phone, bsuid
                info.status = status or ConsentStatus.UNKNOWN
                info.unreachable_at, info.backoff_until = unreachable, backoff
            elif part == 1:
                info.sent, info.blocked_at, info.in_usage = count, at, bool(flag)
            else:
                info.last_inbound = at
    return seen
