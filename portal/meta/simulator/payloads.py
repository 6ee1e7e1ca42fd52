"""Builders of Meta's webhook envelopes, one per webhook field (meta-platform.md §4).

Pure functions: they return the dict Meta would POST; nothing is sent or stored. The simulator
uses them, and so can webhook-intake tests:

    envelope = account_update_restriction(
        "1130000001", [{"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": t}]
    )
    body = encode(envelope)
    signature = portal.meta.signatures.sign(body, app_secret)

Every envelope is `{"object": "whatsapp_business_account", "entry": [{"id": <WABA id>,
"time": <unix>, "changes": [{"field": <field>, "value": {...}}]}]}`; `messages` envelopes have
no `entry[].time`, like Meta's. `time` defaults to now. Phone numbers in webhooks are digits
only (`display_phone_number` "15550100001"), as Meta sends them.
"""

from __future__ import annotations

import json
import re
import time as _time
from typing import Any

OBJECT = "whatsapp_business_account"

# Titles Meta gives common delivery errors (statuses[].errors[]), meta-platform.md §5.4.
ERROR_TITLES: dict[int, str] = {
    130429: "Rate limit hit",
    130472: "User's number is part of an experiment",
    131026: "Message undeliverable",
    131047: "Re-engagement message",
    131048: "Spam rate limit hit",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
    131050: "Unable to deliver the message. This recipient has chosen to stop receiving "
    "marketing messages on WhatsApp from your business.",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    131042: "Business eligibility payment issue",
    131053: "Media upload error",
    131031: "Account has been locked",
    131062: "Business-scoped user ID not supported",
    368: "Temporarily blocked for policies violations",
    132000: "Template Param Count Mismatch",
    132001: "Template does not exist",
    132005: "Template Hydrated Text Too Long",
    132007: "Template Format Character Policy Violated",
    132012: "Template Parameter Format Mismatch",
    132015: "Template is Paused",
    132016: "Template is Disabled",
}


def encode(envelope: dict) -> bytes:
    """The raw body the simulator POSTs (sign these bytes, not a re-serialisation)."""
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


def digits(phone: str) -> str:
    """'+1 555-010-0001' → '15550100001' (how webhooks spell numbers)."""
    return re.sub(r"\D", "", phone or "")


def _now(time: float | None) -> int:
    return int(_time.time() if time is None else time)


def envelope(waba_id: str, field: str, value: dict, *, time: float | None = None) -> dict:
    """One management change in Meta's envelope (for `messages` use `messages_envelope`)."""
    return {
        "object": OBJECT,
        "entry": [
            {
                "id": str(waba_id),
                "time": _now(time),
                "changes": [{"field": field, "value": value}],
            }
        ],
    }


def messages_envelope(waba_id: str, value: dict) -> dict:
    """A `messages` change: like `envelope` but without `entry[].time`."""
    return {
        "object": OBJECT,
        "entry": [{"id": str(waba_id), "changes": [{"field": "messages", "value": value}]}],
    }


# --- account_update (§4.5) -----------------------------------------------------------------


def account_update(waba_id: str, event: str, *, time: float | None = None, **extra: Any) -> dict:
    """`account_update` with any `event` (PARTNER_REMOVED, ACCOUNT_DELETED, ...) plus extras."""
    return envelope(waba_id, "account_update", {"event": event, **extra}, time=time)


def account_update_restriction(
    waba_id: str, restrictions: list[dict], *, time: float | None = None
) -> dict:
    """`ACCOUNT_RESTRICTION`; items: {restriction_type, expiration[, remediation]}."""
    return account_update(
        waba_id, "ACCOUNT_RESTRICTION", time=time, restriction_info=list(restrictions)
    )


def account_update_violation(
    waba_id: str, violation_type: str, *, time: float | None = None
) -> dict:
    """`ACCOUNT_VIOLATION` with `violation_info.violation_type` (e.g. "ADULT")."""
    return account_update(
        waba_id, "ACCOUNT_VIOLATION", time=time, violation_info={"violation_type": violation_type}
    )


def account_update_ban(
    waba_id: str, ban_state: str, ban_date: str, *, time: float | None = None, as_list: bool = False
) -> dict:
    """`DISABLED_UPDATE`: `ban_info.waba_ban_state` SCHEDULE_FOR_DISABLE | DISABLE | REINSTATE,
    `waba_ban_date` free text such as "April 17, 2025". `as_list`: the state as Meta's reference
    shows it, a one-item list (`["SCHEDULE_FOR_DISABLE"]`); a plain string otherwise."""
    return account_update(
        waba_id,
        "DISABLED_UPDATE",
        time=time,
        ban_info={
            "waba_ban_state": [ban_state] if as_list else ban_state,
            "waba_ban_date": ban_date,
        },
    )


def account_review_update(waba_id: str, decision: str, *, time: float | None = None) -> dict:
    """`account_review_update`: decision APPROVED | REJECTED | PENDING | DEFERRED."""
    return envelope(waba_id, "account_review_update", {"decision": decision}, time=time)


# --- phone numbers (§4.6, §4.10) -----------------------------------------------------------


def phone_number_quality_update(
    waba_id: str,
    display_phone_number: str,
    *,
    max_daily_conversations_per_business: str,
    event: str,
    time: float | None = None,
) -> dict:
    """Current form: `event` plus `max_daily_conversations_per_business` (a TIER_* string)."""
    return envelope(
        waba_id,
        "phone_number_quality_update",
        {
            "display_phone_number": digits(display_phone_number),
            "event": event,
            "max_daily_conversations_per_business": max_daily_conversations_per_business,
        },
        time=time,
    )


def phone_number_quality_update_legacy(
    waba_id: str,
    display_phone_number: str,
    *,
    event: str,
    current_limit: str,
    time: float | None = None,
) -> dict:
    """Legacy form: `event` FLAGGED | UNFLAGGED | UPGRADE | DOWNGRADE plus `current_limit`."""
    return envelope(
        waba_id,
        "phone_number_quality_update",
        {
            "display_phone_number": digits(display_phone_number),
            "event": event,
            "current_limit": current_limit,
        },
        time=time,
    )


def phone_number_name_update(
    waba_id: str,
    display_phone_number: str,
    *,
    decision: str,
    requested_verified_name: str,
    rejection_reason: str | None = None,
    time: float | None = None,
) -> dict:
    """Display-name decision: APPROVED | DEFERRED | PENDING | REJECTED (+ rejection_reason)."""
    return envelope(
        waba_id,
        "phone_number_name_update",
        {
            "display_phone_number": digits(display_phone_number),
            "decision": decision,
            "requested_verified_name": requested_verified_name,
            "rejection_reason": rejection_reason,
        },
        time=time,
    )


def business_capability_update(
    waba_id: str,
    *,
    max_daily_conversations_per_business: str | None = None,
    max_daily_conversation_per_phone: int | None = None,
    max_phone_numbers_per_business: int | None = None,
    max_phone_numbers_per_waba: int | None = None,
    time: float | None = None,
) -> dict:
    """`business_capability_update`; only the given limits are included."""
    value = {
        key: val
        for key, val in {
            "max_daily_conversations_per_business": max_daily_conversations_per_business,
            "max_daily_conversation_per_phone": max_daily_conversation_per_phone,
            "max_phone_numbers_per_business": max_phone_numbers_per_business,
            "max_phone_numbers_per_waba": max_phone_numbers_per_waba,
        }.items()
        if val is not None
    }
    return envelope(waba_id, "business_capability_update", value, time=time)


def account_alerts(
    waba_id: str,
    *,
    entity_type: str,
    entity_id: str,
    alert_type: str,
    alert_severity: str = "WARNING",
    alert_status: str = "ACTIVE",
    alert_description: str = "",
    time: float | None = None,
) -> dict:
    """`account_alerts` (e.g. INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED for a limit denial)."""
    return envelope(
        waba_id,
        "account_alerts",
        {
            "entity_type": entity_type,
            "entity_id": str(entity_id),
            "alert_info": {
                "alert_severity": alert_severity,
                "alert_status": alert_status,
                "alert_type": alert_type,
                "alert_description": alert_description,
            },
        },
        time=time,
    )


# --- templates (§4.7-4.9) ------------------------------------------------------------------


def message_template_status_update(
    waba_id: str,
    *,
    template_id: str,
    name: str,
    language: str,
    event: str,
    reason: str | None = "NONE",
    category: str | None = None,
    other_info_title: str | None = None,
    other_info_description: str | None = None,
    disable_date: str | None = None,
    rejection_info: dict | None = None,
    time: float | None = None,
) -> dict:
    """`message_template_status_update`: event APPROVED | REJECTED | PAUSED | DISABLED | ...;
    pauses carry `other_info.title` FIRST_PAUSE | SECOND_PAUSE | UNPAUSE | DISABLED."""
    value: dict[str, Any] = {
        "event": event,
        "message_template_id": int(template_id),
        "message_template_name": name,
        "message_template_language": language,
        "reason": reason,
    }
    if category:
        value["message_template_category"] = category
    if other_info_title:
        value["other_info"] = {
            "title": other_info_title,
            "description": other_info_description or "",
        }
    if disable_date:
        value["disable_info"] = {"disable_date": disable_date}
    if rejection_info:
        value["rejection_info"] = rejection_info
    return envelope(waba_id, "message_template_status_update", value, time=time)


def message_template_quality_update(
    waba_id: str,
    *,
    template_id: str,
    name: str,
    language: str,
    previous_quality_score: str,
    new_quality_score: str,
    time: float | None = None,
) -> dict:
    """`message_template_quality_update`: GREEN | YELLOW | RED | UNKNOWN scores."""
    return envelope(
        waba_id,
        "message_template_quality_update",
        {
            "previous_quality_score": previous_quality_score,
            "new_quality_score": new_quality_score,
            "message_template_id": int(template_id),
            "message_template_name": name,
            "message_template_language": language,
        },
        time=time,
    )


def template_category_update_impending(
    waba_id: str,
    *,
    template_id: str,
    name: str,
    language: str,
    current_category: str,
    correct_category: str,
    category_update_timestamp: int,
    time: float | None = None,
) -> dict:
    """Impending change: `new_category` is the *current* one; `correct_category` applies
    24 h later."""
    return envelope(
        waba_id,
        "template_category_update",
        {
            "message_template_id": int(template_id),
            "message_template_name": name,
            "message_template_language": language,
            "new_category": current_category,
            "correct_category": correct_category,
            "category_update_timestamp": int(category_update_timestamp),
        },
        time=time,
    )


def template_category_update_completed(
    waba_id: str,
    *,
    template_id: str,
    name: str,
    language: str,
    previous_category: str,
    new_category: str,
    time: float | None = None,
) -> dict:
    """Completed change: `previous_category` → `new_category`."""
    return envelope(
        waba_id,
        "template_category_update",
        {
            "message_template_id": int(template_id),
            "message_template_name": name,
            "message_template_language": language,
            "previous_category": previous_category,
            "new_category": new_category,
        },
        time=time,
    )


# --- messages (§4.11) ----------------------------------------------------------------------


def delivery_error(code: int, *, details: str | None = None) -> dict:
    """One `errors[]` item of a failed status."""
    title = ERROR_TITLES.get(code, "Message failed")
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": details or title},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }


def messages_status(
    waba_id: str,
    *,
    phone_number_id: str,
    display_phone_number: str,
    wamid: str,
    status: str,
    recipient_id: str | None,
    timestamp: float | None = None,
    category: str | None = None,
    pricing_model: str = "PMP",
    pricing_type: str = "regular",
    error_codes: list[int] | None = None,
    recipient_user_id: str | None = None,
    recipient_parent_user_id: str | None = None,
    username: str | None = None,
) -> dict:
    """An outbound message status (`sent` | `delivered` | `read` | `failed`); `pricing` when a
    `category` (marketing, utility, ...) is given, `errors[]` for `error_codes`.

    Since April 2026 (meta-platform §7): `recipient_user_id` (the BSUID) on every status,
    `recipient_id` omitted when the message went to a BSUID (`recipient_id=None`), and sent,
    delivered and read statuses carry `contacts[]` with the `user_id` (`username` on delivered
    and read only); failed ones carry no `contacts`."""
    return messages_statuses(
        waba_id,
        phone_number_id=phone_number_id,
        display_phone_number=display_phone_number,
        items=[
            status_item(
                wamid=wamid,
                status=status,
                recipient_id=recipient_id,
                timestamp=timestamp,
                category=category,
                pricing_model=pricing_model,
                pricing_type=pricing_type,
                error_codes=error_codes,
                recipient_user_id=recipient_user_id,
                recipient_parent_user_id=recipient_parent_user_id,
            )
        ],
        contacts=_status_contacts(status, recipient_id, recipient_user_id, username),
    )


def _status_contacts(status, recipient_id, user_id, username) -> list[dict]:
    if status == "failed" or not user_id:
        return []
    contact: dict[str, Any] = {"user_id": user_id}
    if recipient_id:
        contact["wa_id"] = str(recipient_id)
    if username and status in ("delivered", "read"):
        contact["profile"] = {"username": f"@{username.lstrip('@')}"}
    return [contact]


def status_item(
    *,
    wamid: str,
    status: str,
    recipient_id: str | None,
    timestamp: float | None = None,
    category: str | None = None,
    pricing_model: str = "PMP",
    pricing_type: str = "regular",
    error_codes: list[int] | None = None,
    recipient_user_id: str | None = None,
    recipient_parent_user_id: str | None = None,
) -> dict:
    """One `statuses[]` item."""
    item: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(_now(timestamp))}
    if recipient_id is not None:
        item["recipient_id"] = str(recipient_id)
    if recipient_user_id and (status != "failed" or recipient_id is None):
        item["recipient_user_id"] = recipient_user_id
        if recipient_parent_user_id:
            item["recipient_parent_user_id"] = recipient_parent_user_id
    if category:
        item["pricing"] = {
            "billable": pricing_type == "regular",
            "pricing_model": pricing_model,
            "type": pricing_type,
            "category": category,
        }
    if error_codes:
        item["errors"] = [delivery_error(code) for code in error_codes]
    return item


def messages_statuses(
    waba_id: str,
    *,
    phone_number_id: str,
    display_phone_number: str,
    items: list[dict],
    contacts: list[dict] | None = None,
) -> dict:
    """Several statuses in one change (Meta batches up to 1,000 updates in a delivery)."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": digits(display_phone_number),
            "phone_number_id": str(phone_number_id),
        },
    }
    if contacts:
        value["contacts"] = contacts
    value["statuses"] = items
    return messages_envelope(waba_id, value)


def messages_inbound_text(
    waba_id: str,
    *,
    phone_number_id: str,
    display_phone_number: str,
    from_wa_id: str | None,
    text: str,
    wamid: str,
    profile_name: str = "",
    timestamp: float | None = None,
    from_user_id: str | None = None,
    from_parent_user_id: str | None = None,
    username: str | None = None,
) -> dict:
    """An inbound text message from a user (e.g. "STOP"). With `from_user_id` (the BSUID, in
    every messages webhook since April 2026) `contacts[].user_id` and `messages[].from_user_id`
    are set; `from_wa_id=None` leaves the phone out, as Meta does for username users."""
    contact: dict[str, Any] = {"profile": {"name": profile_name}}
    message: dict[str, Any] = {}
    if from_wa_id is not None:
        contact["wa_id"] = str(from_wa_id)
        message["from"] = str(from_wa_id)
    message.update(
        {"id": wamid, "timestamp": str(_now(timestamp)), "type": "text", "text": {"body": text}}
    )
    if from_user_id:
        contact["user_id"] = from_user_id
        message["from_user_id"] = from_user_id
        if from_parent_user_id:
            contact["parent_user_id"] = from_parent_user_id
            message["from_parent_user_id"] = from_parent_user_id
    if username:
        contact["profile"]["username"] = f"@{username.lstrip('@')}"
    return messages_envelope(
        waba_id,
        {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": digits(display_phone_number),
                "phone_number_id": str(phone_number_id),
            },
            "contacts": [contact],
            "messages": [message],
        },
    )


def messages_user_id_change(
    waba_id: str,
    *,
    phone_number_id: str,
    display_phone_number: str,
    wamid: str,
    previous_user_id: str,
    user_id: str,
    wa_id: str | None = None,
    from_wa_id: str | None = None,
    timestamp: float | None = None,
) -> dict:
    """A BSUID change (meta-platform §7): a `system` message without `contacts`,
    `user_changed_number` when the new phone (`wa_id`) is included, else `user_changed_user_id`."""
    system: dict[str, Any] = {
        "body": "User changed number" if wa_id else "User's id changed",
        "user_id": user_id,
        "previous_user_id": previous_user_id,
        "type": "user_changed_number" if wa_id else "user_changed_user_id",
    }
    if wa_id:
        system["wa_id"] = str(wa_id)
    message: dict[str, Any] = {
        "id": wamid,
        "timestamp": str(_now(timestamp)),
        "type": "system",
        "system": system,
    }
    if from_wa_id:
        message["from"] = str(from_wa_id)
    return messages_envelope(
        waba_id,
        {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": digits(display_phone_number),
                "phone_number_id": str(phone_number_id),
            },
            "messages": [message],
        },
    )
