"""Meta's business portfolio as our types: the WABA's owner, limits from both payload generations.

Kept apart from `client.py` (whose fetch layer is being reworked): the WABA read asks for
`owner_business_info` (`client.WABA_FIELDS`), and the sync hands the WABA's raw JSON here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portal.meta.types import BusinessVerification, MessagingLimit

# `owner_business_info` on the WABA node (meta-platform §2, §11).
OWNER_FIELD = "owner_business_info"

# v23 and older: `max_daily_conversation_per_phone` as a number (-1 = unlimited; removed Feb 2026).
_LEGACY_LIMITS = {
    50: MessagingLimit.TIER_50,
    250: MessagingLimit.TIER_250,
    1000: MessagingLimit.TIER_1K,
    2000: MessagingLimit.TIER_2K,
    10000: MessagingLimit.TIER_10K,
    100000: MessagingLimit.TIER_100K,
    -1: MessagingLimit.UNLIMITED,
}


@dataclass(frozen=True)
class OwnerBusiness:
    """The portfolio that owns a WABA."""

    id: str
    name: str = ""
    verification: BusinessVerification = BusinessVerification.UNKNOWN
    # Portfolio-level Marketing Messages onboarding (`TERM_OF_SERVICE_SIGNED`, `REQUEST_SENT`,
    # `NOT_STARTED`), our words: onboarded, request_sent, not_started, or "" if not sent.
    marketing_onboarding: str = ""


_ONBOARDING = {
    "TERM_OF_SERVICE_SIGNED": "onboarded",
    "ONBOARDED": "onboarded",
    "ELIGIBLE": "eligible",
    "REQUEST_SENT": "request_sent",
    "NOT_STARTED": "not_started",
}


def onboarding_from_meta(raw: Any) -> str:
    """Our onboarding word for Meta's WABA or portfolio token ("" when unknown)."""
    if isinstance(raw, dict):
        raw = raw.get("status")
    return _ONBOARDING.get(str(raw or "").strip().upper(), "")


def parse_owner_business(waba_raw: dict) -> OwnerBusiness | None:
    """The owner portfolio from a WABA's JSON, or None when Meta did not include it."""
    info = waba_raw.get(OWNER_FIELD) if isinstance(waba_raw, dict) else None
    if not isinstance(info, dict) or not str(info.get("id") or "").strip():
        return None
    return OwnerBusiness(
        id=str(info["id"]).strip(),
        name=str(info.get("name") or ""),
        verification=BusinessVerification.from_meta(info.get("verification_status")),
        marketing_onboarding=onboarding_from_meta(info.get("marketing_messages_onboarding_status")),
    )


def waba_onboarding(waba_raw: dict) -> str:
    """The WABA's `marketing_messages_onboarding_status` in our words ("" if absent)."""
    return onboarding_from_meta((waba_raw or {}).get("marketing_messages_onboarding_status"))


def messaging_limit_from_meta(value: Any) -> MessagingLimit | None:
    """A limit from either payload generation: a `TIER_*` token (v24+,
    `max_daily_conversations_per_business`) or the legacy number
    (`max_daily_conversation_per_phone`: 250/2000/…/-1). None when it says nothing we can read."""
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        limit = MessagingLimit.from_meta(value)
        return None if limit == MessagingLimit.UNKNOWN else limit
    try:
        return _LEGACY_LIMITS.get(int(value))
    except (TypeError, ValueError):
        return None
