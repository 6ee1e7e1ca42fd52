"""The pre-send check: may this client send this template (or category) to these recipients now?

Reads only; run inside the client's schema. One recipient or up to `BULK_LIMIT` cost the same
two round trips (the check sits in front of every send, so each one is latency): the settings
(the policy, the number with its account and active restrictions, the template) in one query,
then the recipients' consent states and their delivery ledger (sends in the cap window and the
last 131049 failure) in another. Recipients written other than in E.164 cost one more.

Rules (codes are stable, messages are for people):
- consent: marketing and utility need an opt-in (`no_consent`), no category may be sent after an
  opt-out of it (`opted_out`); authentication needs no opt-in, only no opt-out;
- `frequency_cap`: `sent` ledger rows of the category to the recipient in the rolling window
  (now - window_days, now] reached the policy's cap (0 = no cap); a send exactly window_days ago
  no longer counts;
- `backoff_131049` (marketing only; 131049 is Meta's per-user marketing limit): a 131049 failure
  to the recipient less than 24 hours ago (exactly 24 hours later sending is allowed again);
- `quiet_hours`: the policy's quiet hours (in its time zone) cover now; not for authentication;
- template: `template_unknown`, `template_not_approved`, `template_paused`, `template_disabled`,
  `template_quality_low`;
- number: `number_unknown`, `number_not_connected`, `number_blocked` (number or account cannot
  send), `account_disabled`, `account_restricted` (an active restriction on business-initiated
  messaging, or on utility templates for utility);
- `invalid_recipient`: not a phone number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import connection
from django.utils import timezone

from compliance.choices import ConsentCategory, ConsentStatus
from compliance.consent import POLICY_FIELDS, contact_normalize
from compliance.models import (
    AccountRestriction,
    ConsentState,
    Contact,
    MessageStatus,
    MessagingPolicy,
    PhoneNumber,
    WhatsAppAccount,
)
from portal.meta import types as meta
from tenants.selectors import current_client

BULK_LIMIT = 10_000
BACKOFF_131049 = timedelta(hours=24)
_E164 = re.compile(r"\+[1-9]\d{6,14}")
PRICING_CATEGORIES = {
    ConsentCategory.MARKETING: ("marketing", "marketing_lite"),
    ConsentCategory.UTILITY: ("utility",),
    ConsentCategory.AUTHENTICATION: ("authentication", "authentication-international"),
}


@dataclass(frozen=True)
class _Number:
    account_id: int
    status: str
    can_send: str
    account_can_send: str
    ban_state: str
    blocks_all: bool
    blocks_utility: bool


@dataclass(frozen=True)
class _Template:
    category: str
    meta_status: str
    quality: str
    paused_until: datetime | None
    disabled_at: datetime | None


@dataclass(frozen=True)
class Reason:
    code: str
    message: str


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reasons: list[Reason] = field(default_factory=list)
    recipient: str = ""


def presend_check(
    *,
    recipient: str,
    phone_number_id: str,
    category: str | None = None,
    template: tuple[str, str] | None = None,
    now: datetime | None = None,
) -> Decision:
    """The decision for one recipient; `template` is (name, language), else give `category`."""
    return presend_check_bulk(
        recipients=[recipient],
        phone_number_id=phone_number_id,
        category=category,
        template=template,
        now=now,
    )[0]


def presend_check_bulk(
    *,
    recipients: Iterable[str],
    phone_number_id: str,
    category: str | None = None,
    template: tuple[str, str] | None = None,
    now: datetime | None = None,
) -> list[Decision]:
    """One decision per recipient, in order, with a constant number of queries."""
    recipients = list(recipients)
    if len(recipients) > BULK_LIMIT:
        raise ValueError(f"At most {BULK_LIMIT} recipients per check.")
    if template is None and category not in ConsentCategory.values:
        raise ValueError("Give a template (name and language) or a category.")
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
    shared.extend(_number_reasons(number, category, now))
    if category != ConsentCategory.AUTHENTICATION and _in_quiet_hours(policy, now):
        shared.append(Reason("quiet_hours", "It is within the client's quiet hours."))

    phones, states, counts = _recipients(recipients, category, policy, now)
    cap = policy.marketing_cap if category == ConsentCategory.MARKETING else 0
    cap = policy.utility_cap if category == ConsentCategory.UTILITY else cap

    decisions = []
    for raw, phone in zip(recipients, phones, strict=True):
        if phone is None:
            reasons = [*shared, Reason("invalid_recipient", f"{raw!r} is not a phone number.")]
            decisions.append(Decision(allowed=False, reasons=reasons, recipient=str(raw)))
            continue
        reasons = list(shared)
        status = states.get(phone, ConsentStatus.UNKNOWN)
        if status == ConsentStatus.OPTED_OUT:
            reasons.append(Reason("opted_out", f"The recipient opted out of {category} messages."))
        elif status != ConsentStatus.OPTED_IN and category != ConsentCategory.AUTHENTICATION:
            reasons.append(
                Reason("no_consent", f"The recipient has not opted in to {category} messages.")
            )
        sent, blocked_at = counts.get(phone, (0, None))
        if cap and sent >= cap:
            reasons.append(
                Reason(
                    "frequency_cap",
                    f"{sent} {category} messages in the last {policy.window_days} days "
                    f"(the cap is {cap}).",
                )
            )
        if blocked_at is not None and category == ConsentCategory.MARKETING:
            until = blocked_at + BACKOFF_131049
            reasons.append(
                Reason(
                    "backoff_131049",
                    f"Meta held back a message to this recipient (131049); wait until "
                    f"{until:%Y-%m-%d %H:%M} UTC.",
                )
            )
        decisions.append(Decision(allowed=not reasons, reasons=reasons, recipient=phone))
    return decisions


def _template_reasons(template, now: datetime) -> list[Reason]:
    status = template.meta_status
    if status == meta.TemplateStatus.DISABLED or template.disabled_at is not None:
        return [Reason("template_disabled", "Meta disabled this template.")]
    if status == meta.TemplateStatus.PAUSED or (
        template.paused_until is not None and template.paused_until > now
    ):
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
    """The policy, the number (its account's state, whether active restrictions block sending)
    and the template (of the number's account; of any account if the number is unknown), in
    one query."""
    from templates_review.models import MessageTemplate

    restriction = (
        f"EXISTS (SELECT 1 FROM {AccountRestriction._meta.db_table} r "  # noqa: S608 (table names and fixed SQL; values are parameters)
        "WHERE r.account_id = n.account_id AND r.restriction_type = %s "
        "AND (r.expires_at IS NULL OR r.expires_at > %s))"
    )
    sql = (
        f"SELECT p.id, {', '.join(f'p.{c}' for c in POLICY_COLUMNS)}, "  # noqa: S608 (table names and fixed SQL; values are parameters)
        "n.account_id, n.status, n.can_send, a.can_send, a.ban_state, "
        f"{restriction}, {restriction}, "
        "t.category, t.meta_status, t.quality, t.paused_until, t.disabled_at "
        f"FROM (SELECT 1) one "
        f"LEFT JOIN {MessagingPolicy._meta.db_table} p ON p.singleton "
        f"LEFT JOIN ({PhoneNumber._meta.db_table} n "
        f"JOIN {WhatsAppAccount._meta.db_table} a ON a.id = n.account_id) ON n.meta_id = %s "
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
    number = _Number(*row[width : width + 7]) if row[width] is not None else None
    found = _Template(*row[width + 7 :]) if row[width + 8] is not None else None
    return policy, number, found


def _number_reasons(number, category: str, now: datetime) -> list[Reason]:
    if number is None:
        return [Reason("number_unknown", "This phone number id is not one of the client's.")]
    reasons = []
    if number.status != meta.NumberStatus.CONNECTED:
        reasons.append(
            Reason("number_not_connected", f"The number is {number.status}, not connected.")
        )
    if meta.CanSend.BLOCKED in (number.can_send, number.account_can_send):
        reasons.append(Reason("number_blocked", "Meta reports that this number cannot send."))
    if number.ban_state == meta.BanState.DISABLED:
        reasons.append(Reason("account_disabled", "Meta disabled the WhatsApp Business account."))
    restricted = number.blocks_all or (
        category == ConsentCategory.UTILITY and number.blocks_utility
    )
    if restricted:
        reasons.append(
            Reason("account_restricted", "Meta restricted business-initiated messaging.")
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
    recipients: list, category: str, policy: MessagingPolicy, now: datetime
) -> tuple[list[str | None], dict[str, str], dict[str, tuple[int, datetime | None]]]:
    """Each recipient's E.164 form (None if invalid), the consent status of known ones and the
    ledger counts (see `_ledger`) of those with any.

    Contacts are stored only in validated E.164 form, so a recipient written exactly like a
    stored contact needs no phonenumbers parse (the costly part of a bulk check); the others
    are parsed and validated, and looked up in one more query if any is written otherwise.
    """
    texts = [str(raw or "").strip() for raw in recipients]
    looked_up = {t for t in texts if _E164.fullmatch(t)}
    states, counts = _lookup(looked_up, category, policy, now)
    phones: list[str | None] = []
    region = None
    unseen = set()
    for text in texts:
        if text in states:
            phones.append(text)
            continue
        if not text.startswith("+") and region is None:
            region = current_client().default_region
        try:
            phone = contact_normalize(text, default_region=region)
        except ValueError:
            phone = None
        phones.append(phone)
        if phone is not None and phone not in looked_up:
            unseen.add(phone)
    if unseen:
        more_states, more_counts = _lookup(unseen, category, policy, now)
        states.update(more_states)
        counts.update(more_counts)
    return phones, states, counts


def _lookup(
    phones: set[str], category: str, policy: MessagingPolicy, now: datetime
) -> tuple[dict[str, str], dict[str, tuple[int, datetime | None]]]:
    """`_states` and `_ledger` of `phones` in one round trip."""
    if not phones:
        return {}, {}
    states_sql, states_params = _states_sql(phones, category)
    ledger_sql, ledger_params = _ledger_sql(phones, category, policy, now)
    sql = (
        f"SELECT true, phone, status, NULL::bigint, NULL::timestamptz FROM ({states_sql}) s "  # noqa: S608 (fixed SQL; values are parameters)
        f"UNION ALL SELECT false, '+' || recipient, NULL, sent, blocked FROM ({ledger_sql}) l"
    )
    states: dict[str, str] = {}
    counts: dict[str, tuple[int, datetime | None]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [*states_params, *ledger_params])
        for is_state, phone, status, sent, blocked in cursor.fetchall():
            if is_state:
                states[phone] = status or ConsentStatus.UNKNOWN
            else:
                counts[phone] = (sent, blocked)
    return states, counts


def _states_sql(phones: set[str], category: str) -> tuple[str, list]:
    """Known contacts among `phones` with their status for `category` (NULL if none).

    Raw SQL with one array parameter: 10,000 `IN` placeholders cost more to bind than to run.
    """
    sql = (
        f"SELECT c.phone, s.status FROM {Contact._meta.db_table} c "  # noqa: S608 (table names and fixed SQL; values are parameters)
        f"LEFT JOIN {ConsentState._meta.db_table} s ON s.contact_id = c.id AND s.category = %s "
        "WHERE c.phone = ANY(%s)"
    )
    return sql, [category, list(phones)]


def _ledger_sql(
    phones: set[str], category: str, policy: MessagingPolicy, now: datetime
) -> tuple[str, list]:
    """Per recipient (Meta's digits, no "+"): sends of the category in the cap window (`sent`),
    and the last 131049 failure in the back-off window (`blocked`). One aggregate."""
    window_start = now - timedelta(days=policy.window_days)
    backoff_start = now - BACKOFF_131049
    sent = (
        "(status = 'sent' AND pricing_category = ANY(%s)"
        " AND occurred_at > %s AND occurred_at <= %s)"
    )
    blocked = "(status = 'failed' AND error_code = 131049 AND occurred_at > %s)"
    sent_params = [list(PRICING_CATEGORIES[category]), window_start, now]
    sql = (
        f"SELECT recipient, COUNT(*) FILTER (WHERE {sent}) AS sent, "  # noqa: S608 (table names and fixed SQL; values are parameters)
        f"MAX(occurred_at) FILTER (WHERE {blocked}) AS blocked "
        f"FROM {MessageStatus._meta.db_table} "
        f"WHERE recipient = ANY(%s) AND occurred_at > %s AND ({sent} OR {blocked}) "
        "GROUP BY recipient"
    )
    params = [
        *sent_params,
        backoff_start,
        [p[1:] for p in phones],
        min(window_start, backoff_start),
        *sent_params,
        backoff_start,
    ]
    return sql, params
