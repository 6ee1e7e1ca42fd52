"""The pre-send check: may this client send this template (or category) to these recipients now?

Reads only; run inside the client's schema. One recipient or up to `BULK_LIMIT` cost the same,
constant number of queries: the policy, the number with its account, its active restrictions,
the template, the consent states of all recipients (`__in`) and one aggregate over the delivery
ledger (sends in the cap window and the last 131049 failure per recipient).

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

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Count, Max, Q
from django.utils import timezone

from compliance.choices import ConsentCategory, ConsentStatus
from compliance.consent import contact_normalize, current_client
from compliance.models import (
    AccountRestriction,
    ConsentState,
    MessageStatus,
    MessagingPolicy,
    PhoneNumber,
)
from portal.meta import types as meta

BULK_LIMIT = 10_000
BACKOFF_131049 = timedelta(hours=24)
PRICING_CATEGORIES = {
    ConsentCategory.MARKETING: ("marketing", "marketing_lite"),
    ConsentCategory.UTILITY: ("utility",),
    ConsentCategory.AUTHENTICATION: ("authentication", "authentication-international"),
}


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
    policy = MessagingPolicy.current()
    shared: list[Reason] = []

    number = PhoneNumber.objects.select_related("account").filter(meta_id=phone_number_id).first()
    if template is not None:
        found = _template(number, *template)
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

    phones: list[str | None] = []
    region = None
    for raw in recipients:
        text = str(raw or "").strip()
        if not text.startswith("+") and region is None:
            region = current_client().default_region
        try:
            phones.append(contact_normalize(text, default_region=region))
        except ValueError:
            phones.append(None)
    valid = {p for p in phones if p}
    states = _states(valid, category)
    counts = _ledger(valid, category, policy, now)
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


def _template(number, name: str, language: str):
    from templates_review.models import MessageTemplate

    found = MessageTemplate.objects.filter(name=name, language=language)
    if number is not None:
        found = found.filter(account_id=number.account_id)
    return found.only(
        "category", "meta_status", "quality", "paused_until", "disabled_at", "name", "language"
    ).first()


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


def _number_reasons(number, category: str, now: datetime) -> list[Reason]:
    if number is None:
        return [Reason("number_unknown", "This phone number id is not one of the client's.")]
    reasons = []
    account = number.account
    if number.status != meta.NumberStatus.CONNECTED:
        reasons.append(
            Reason("number_not_connected", f"The number is {number.status}, not connected.")
        )
    if meta.CanSend.BLOCKED in (number.can_send, account.can_send):
        reasons.append(Reason("number_blocked", "Meta reports that this number cannot send."))
    if account.ban_state == meta.BanState.DISABLED:
        reasons.append(Reason("account_disabled", "Meta disabled the WhatsApp Business account."))
    blocking = {meta.RestrictionType.BUSINESS_INITIATED_MESSAGING}
    if category == ConsentCategory.UTILITY:
        blocking.add(meta.RestrictionType.UTILITY_TEMPLATES)
    restricted = (
        AccountRestriction.objects.filter(account_id=account.pk, restriction_type__in=blocking)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .exists()
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


def _states(phones: set[str], category: str) -> dict[str, str]:
    if not phones:
        return {}
    return dict(
        ConsentState.objects.filter(contact__phone__in=phones, category=category).values_list(
            "contact__phone", "status"
        )
    )


def _ledger(
    phones: set[str], category: str, policy: MessagingPolicy, now: datetime
) -> dict[str, tuple[int, datetime | None]]:
    """Per E.164 phone: sends of the category in the cap window, and the last 131049 failure in
    the back-off window. One aggregate query (the ledger stores Meta's digits, no "+")."""
    if not phones:
        return {}
    window_start = now - timedelta(days=policy.window_days)
    backoff_start = now - BACKOFF_131049
    sent = Q(
        status="sent",
        pricing_category__in=PRICING_CATEGORIES[category],
        occurred_at__gt=window_start,
        occurred_at__lte=now,
    )
    blocked = Q(status="failed", error_code=131049, occurred_at__gt=backoff_start)
    rows = (
        MessageStatus.objects.filter(
            recipient__in=[p[1:] for p in phones],
            occurred_at__gt=min(window_start, backoff_start),
        )
        .filter(sent | blocked)
        .values("recipient")
        .annotate(sent=Count("id", filter=sent), blocked_at=Max("occurred_at", filter=blocked))
    )
    return {f"+{row['recipient']}": (row["sent"], row["blocked_at"]) for row in rows}
