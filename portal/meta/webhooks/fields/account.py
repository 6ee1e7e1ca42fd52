"""Account-level fields: `account_update`, `account_review_update`, `account_alerts`,
`business_capability_update`, `security`, and the number fields `phone_number_quality_update`
and `phone_number_name_update` (meta-platform §2, §4.5, §4.6, §4.10, §8)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from portal.meta import types as meta
from portal.meta.webhooks.contract import ItemFailure, WebhookRejected
from portal.meta.webhooks.fields import _read as r

DISPLAY_PHONE_MAX = 32  # PhoneNumber.display_phone_number
NAME_MAX = 200  # PhoneNumber.verified_name
TOKEN_MAX = 80
FREE_TEXT_MAX = 4_000


@dataclass(frozen=True)
class Restriction:
    type: meta.RestrictionType
    raw_type: str
    expires_at: datetime | None = None
    remediation: str = ""
    index: int = 0
    alone: dict = field(default_factory=dict, compare=False)  # the value with only this item


@dataclass(frozen=True)
class BanInfo:
    state: meta.BanState
    raw_state: str
    date: str = ""  # free text as Meta wrote it ("April 17, 2025")


@dataclass(frozen=True)
class PartnerInfo:
    reason: str = ""
    initiated_by: str = ""
    waba_id: str | None = None  # `waba_info.waba_id`: the WABA when entry id is the partner's


@dataclass(frozen=True)
class AccountUpdate:
    event: meta.AccountEvent
    raw_event: str
    restrictions: tuple[Restriction, ...] = ()
    violation_type: str = ""
    ban: BanInfo | None = None
    partner: PartnerInfo | None = None
    country: str = ""
    owner_business_id: str | None = None  # `waba_info.owner_business_id`: the portfolio
    rejected: tuple[ItemFailure, ...] = ()  # restriction items of a shape Meta never sends
    raw: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class AccountReview:
    decision: meta.ReviewStatus
    raw_decision: str
    raw: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class AccountAlert:
    severity: meta.AlertSeverity
    alert_type: str
    description: str = ""
    status: str = ""
    entity_type: str = ""
    entity_id: str | None = None
    raw: dict = field(default_factory=dict, compare=False)

    @property
    def info(self) -> dict:
        """The alert flattened, as the account-event table keeps it (`alert_description`, …)."""
        return {
            "alert_type": self.alert_type,
            "alert_severity": self.severity.value,
            "alert_description": self.description,
            "alert_status": self.status,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
        }


@dataclass(frozen=True)
class CapabilityUpdate:
    """`max_daily_conversations_per_business` (a TIER_* string in v24+, sometimes an integer)
    or the legacy `max_daily_conversation_per_phone` (250 … 100000, -1 for unlimited)."""

    limit: meta.MessagingLimit | None = None
    max_phone_numbers_per_business: int | None = None
    max_phone_numbers_per_waba: int | None = None
    raw: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class NumberQualityUpdate:
    display_phone_number: str
    event: meta.NumberEvent
    raw_event: str
    limit: meta.MessagingLimit | None = None  # v24+ field, else the legacy `current_limit`
    old_limit: meta.MessagingLimit | None = None
    # `max_daily_conversations_per_business` alone: the portfolio's limit (v24+); None when
    # only the legacy per-number `current_limit` came
    business_limit: meta.MessagingLimit | None = None
    raw: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class NameUpdate:
    display_phone_number: str
    decision: meta.NameDecision
    raw_decision: str
    requested_name: str = ""
    rejection_reason: str | None = None
    raw: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class SecurityUpdate:
    display_phone_number: str
    event: meta.SecurityEvent
    raw_event: str
    requester: str = ""
    raw: dict = field(default_factory=dict, compare=False)


def _value(value) -> dict:
    value = r.as_obj(value, "value")
    r.check_tree(value)
    return value


def parse_account_update(value) -> AccountUpdate:
    value = _value(value)
    event, raw_event = r.token(value, "event", "value", meta.AccountEvent, required=True)
    restrictions: list[Restriction] = []
    rejected: list[ItemFailure] = []
    ban = partner = None
    violation_type = country = ""
    if event == meta.AccountEvent.ACCOUNT_RESTRICTION:
        listed = r.items(value, "restriction_info", "value")
        for index, item in enumerate(listed):
            alone = {**value, "restriction_info": [item]}
            try:
                restrictions.append(
                    _restriction(item, f"value.restriction_info[{index}]", index, alone)
                )
            except WebhookRejected as exc:
                rejected.append(
                    ItemFailure(
                        index=index,
                        kind="restriction",
                        value=alone,
                        error=exc.reason,
                        rejected=True,
                    )
                )
    elif event == meta.AccountEvent.ACCOUNT_VIOLATION:
        info = r.obj(value, "violation_info", "value") or {}
        violation_type = r.text(info, "violation_type", "value.violation_info", max_len=TOKEN_MAX)
    elif event == meta.AccountEvent.DISABLED_UPDATE:
        info = r.obj(value, "ban_info", "value", required=True)
        state, raw_state = r.token(
            info, "waba_ban_state", "value.ban_info", meta.BanState, required=True
        )
        date = r.text(info, "waba_ban_date", "value.ban_info", max_len=64)
        ban = BanInfo(state=state, raw_state=raw_state, date=date)
    elif event.is_partner:
        info = r.obj(value, "disconnection_info", "value") or {}
        waba = r.obj(value, "waba_info", "value") or {}
        partner = PartnerInfo(
            reason=r.text(info, "reason", "value.disconnection_info", max_len=TOKEN_MAX),
            initiated_by=r.text(info, "initiated_by", "value.disconnection_info", max_len=20),
            waba_id=r.ident(waba, "waba_id", "value.waba_info"),
        )
    elif event == meta.AccountEvent.BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE:
        country = r.text(value, "country", "value", max_len=8)
    owner = r.ident(
        r.obj(value, "waba_info", "value") or {}, "owner_business_id", "value.waba_info"
    )
    return AccountUpdate(
        event=event,
        raw_event=raw_event,
        restrictions=tuple(restrictions),
        violation_type=violation_type,
        ban=ban,
        partner=partner,
        country=country,
        owner_business_id=owner,
        rejected=tuple(rejected),
        raw=value,
    )


def _restriction(item, path: str, index: int, alone: dict) -> Restriction:
    item = r.as_obj(item, path)
    kind, raw_type = r.token(item, "restriction_type", path, meta.RestrictionType, required=True)
    return Restriction(
        type=kind,
        raw_type=raw_type,
        expires_at=r.unix_time(item, "expiration", path),
        remediation=r.text(item, "remediation", path, max_len=FREE_TEXT_MAX),
        index=index,
        alone=alone,
    )


def parse_account_review_update(value) -> AccountReview:
    value = _value(value)
    decision, raw = r.token(value, "decision", "value", meta.ReviewStatus, required=True)
    return AccountReview(decision=decision, raw_decision=raw, raw=value)


def parse_account_alerts(value) -> AccountAlert:
    value = _value(value)
    info = r.obj(value, "alert_info", "value", required=True)
    severity, _ = r.token(info, "alert_severity", "value.alert_info", meta.AlertSeverity)
    return AccountAlert(
        severity=severity,
        alert_type=r.text(info, "alert_type", "value.alert_info", max_len=TOKEN_MAX) or "alert",
        description=r.text(info, "alert_description", "value.alert_info", max_len=FREE_TEXT_MAX),
        status=r.text(info, "alert_status", "value.alert_info", max_len=20).upper(),
        entity_type=r.text(value, "entity_type", "value", max_len=40).upper(),
        entity_id=r.ident(value, "entity_id", "value"),
        raw=value,
    )


_PER_PHONE_LIMITS = {
    50: meta.MessagingLimit.TIER_50,
    250: meta.MessagingLimit.TIER_250,
    1000: meta.MessagingLimit.TIER_1K,
    2000: meta.MessagingLimit.TIER_2K,
    10000: meta.MessagingLimit.TIER_10K,
    100000: meta.MessagingLimit.TIER_100K,
    -1: meta.MessagingLimit.UNLIMITED,
}


def parse_business_capability_update(value) -> CapabilityUpdate:
    value = _value(value)
    limit = None
    per_business = value.get("max_daily_conversations_per_business")
    if isinstance(per_business, str) and not per_business.strip().lstrip("-").isdigit():
        limit, _ = r.token(
            value, "max_daily_conversations_per_business", "value", meta.MessagingLimit
        )
    elif per_business is not None:
        count = r.integer(value, "max_daily_conversations_per_business", "value", low=-1)
        limit = _PER_PHONE_LIMITS.get(count, meta.MessagingLimit.UNKNOWN)
    else:
        count = r.integer(value, "max_daily_conversation_per_phone", "value", low=-1)
        if count is not None:
            limit = _PER_PHONE_LIMITS.get(count, meta.MessagingLimit.UNKNOWN)
    if limit == meta.MessagingLimit.UNKNOWN:
        limit = None  # a level we cannot place: the event is kept, the limit left alone
    return CapabilityUpdate(
        limit=limit,
        max_phone_numbers_per_business=r.integer(
            value, "max_phone_numbers_per_business", "value", low=0
        ),
        max_phone_numbers_per_waba=r.integer(value, "max_phone_numbers_per_waba", "value", low=0),
        raw=value,
    )


def _limit(value: dict, key: str) -> meta.MessagingLimit | None:
    limit, raw = r.token(value, key, "value", meta.MessagingLimit, max_len=40)
    return limit if raw else None


def parse_phone_number_quality_update(value) -> NumberQualityUpdate:
    value = _value(value)
    event, raw_event = r.token(value, "event", "value", meta.NumberEvent, required=True)
    limit = _limit(value, "max_daily_conversations_per_business")
    legacy = _limit(value, "current_limit")
    return NumberQualityUpdate(
        display_phone_number=_display_number(value),
        event=event,
        raw_event=raw_event,
        limit=limit or legacy,
        old_limit=_limit(value, "old_limit"),
        business_limit=limit,
        raw=value,
    )


def _display_number(value: dict) -> str:
    number = r.ident(value, "display_phone_number", "value", max_len=DISPLAY_PHONE_MAX)
    if number is None:
        raise r.reject("value.display_phone_number", "missing")
    return number


def parse_phone_number_name_update(value) -> NameUpdate:
    value = _value(value)
    decision, raw = r.token(value, "decision", "value", meta.NameDecision, required=True)
    return NameUpdate(
        display_phone_number=_display_number(value),
        decision=decision,
        raw_decision=raw,
        requested_name=r.text(value, "requested_verified_name", "value", max_len=NAME_MAX),
        rejection_reason=r.optional_text(value, "rejection_reason", "value", max_len=TOKEN_MAX),
        raw=value,
    )


def parse_security(value) -> SecurityUpdate:
    value = _value(value)
    event, raw = r.token(value, "event", "value", meta.SecurityEvent, required=True)
    return SecurityUpdate(
        display_phone_number=_display_number(value),
        event=event,
        raw_event=raw,
        requester=r.text(value, "requester", "value", max_len=NAME_MAX),
        raw=value,
    )
