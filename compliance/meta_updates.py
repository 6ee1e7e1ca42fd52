"""Apply one webhook change from Meta inside the client's schema.

Each applier takes the change's `value`, the entry id (the WABA id), the entry time and the
change's dedupe key, and is idempotent: state is set (not incremented) and events carry keys
derived from the change key.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from compliance import services
from compliance.choices import ConsentSource, EventKind, EventSource, Severity
from compliance.models import (
    AccountRestriction,
    ConsentEvent,
    InboundMessage,
    MessageStatus,
    MessagingPolicy,
    PhoneNumber,
    WhatsAppAccount,
)
from portal.meta import types as meta

WEBHOOK = EventSource.WEBHOOK


def _account(entry_id: str) -> WhatsAppAccount:
    account, _ = WhatsAppAccount.objects.get_or_create(meta_id=entry_id)
    return account


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text or "")


def _number_by_display(account: WhatsAppAccount, display: str) -> PhoneNumber | None:
    wanted = _digits(display)
    if not wanted:
        return None
    for number in account.numbers.all():
        if _digits(number.display_phone_number) == wanted:
            return number
    return None


def _from_unix(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _label(enum_value: str) -> str:
    return enum_value.replace("_", " ")


# --- account_update -----------------------------------------------------------------------


def apply_account_update(*, value: dict, entry_id: str, entry_time, change_key: str) -> None:
    account = _account(entry_id)
    event = str(value.get("event", "")).upper()
    if event == "ACCOUNT_RESTRICTION":
        _restrictions(account, value, entry_time, change_key)
    elif event == "ACCOUNT_VIOLATION":
        violation = (value.get("violation_info") or {}).get("violation_type", "unspecified")
        services.health_event_record(
            kind=EventKind.VIOLATION,
            severity=Severity.CRITICAL,
            title=f"Meta recorded a policy violation: {_label(str(violation)).lower()}",
            detail="Repeat violations lead to restrictions. You can appeal or acknowledge it.",
            key=change_key,
            source=WEBHOOK,
            occurred_at=entry_time,
            account=account,
            data={"violation_type": violation},
        )
    elif event == "DISABLED_UPDATE":
        _ban(account, value, entry_time, change_key)
    elif event.startswith("PARTNER_"):
        removed = event in ("PARTNER_REMOVED", "PARTNER_APP_UNINSTALLED")
        reason = (value.get("disconnection_info") or {}).get("reason", "")
        services.health_event_record(
            kind=EventKind.PARTNER_CHANGE,
            severity=Severity.WARNING if removed else Severity.INFO,
            title=f"Partner link: {_label(event).lower()}" + (f" ({reason})" if reason else ""),
            key=change_key,
            source=WEBHOOK,
            occurred_at=entry_time,
            account=account,
            data=value,
        )
    else:
        services.health_event_record(
            kind=EventKind.ACCOUNT_UPDATE,
            severity=Severity.INFO,
            title=f"Account update: {_label(event).lower() or 'unspecified'}",
            key=change_key,
            source=WEBHOOK,
            occurred_at=entry_time,
            account=account,
            data=value,
        )
    services.account_reassess_numbers(account=account)


def _restrictions(account, value, entry_time, change_key) -> None:
    for item in value.get("restriction_info") or []:
        raw_type = str(item.get("restriction_type", ""))
        restriction_type = meta.RestrictionType.from_meta(raw_type)
        expires_at = _from_unix(item.get("expiration"))
        AccountRestriction.objects.get_or_create(
            account=account,
            raw_type=raw_type,
            expires_at=expires_at,
            defaults={
                "restriction_type": restriction_type,
                "remediation": str(item.get("remediation") or ""),
            },
        )
        until = f" until {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""
        services.health_event_record(
            kind=EventKind.RESTRICTION,
            severity=Severity.CRITICAL,
            title=f"Account restricted: {_label(restriction_type.value)}{until}",
            detail=str(item.get("remediation") or ""),
            key=services.dedupe_key(change_key, raw_type, item.get("expiration")),
            source=WEBHOOK,
            occurred_at=entry_time,
            account=account,
            data={
                "restriction_type": raw_type,
                "expires_at": expires_at and expires_at.isoformat(),
            },
        )


_BAN_EVENTS = {
    meta.BanState.SCHEDULED_FOR_DISABLE: (
        EventKind.BAN_SCHEDULED,
        Severity.CRITICAL,
        "Meta scheduled the account to be disabled",
    ),
    meta.BanState.DISABLED: (EventKind.BANNED, Severity.CRITICAL, "Meta disabled the account"),
    meta.BanState.REINSTATED: (EventKind.REINSTATED, Severity.INFO, "Meta reinstated the account"),
}


def superseded(decided_at: datetime | None, when: datetime | None) -> bool:
    """Whether a decision made at `when` is older than the one already applied (Meta retries a
    webhook for hours, so an old decision can arrive after a newer one)."""
    return decided_at is not None and when is not None and when < decided_at


LATE = " (an earlier decision, delivered late: the newer one stands)"


def _ban(account, value, entry_time, change_key) -> None:
    info = value.get("ban_info") or {}
    state = meta.BanState.from_meta(info.get("waba_ban_state"))
    ban_date = str(info.get("waba_ban_date") or "")[:64]
    late = superseded(account.ban_state_at, entry_time)
    if not late:
        account.ban_state, account.ban_date, account.ban_state_at = state, ban_date, entry_time
        account.save(update_fields=["ban_state", "ban_date", "ban_state_at"])
    kind, severity, title = _BAN_EVENTS.get(
        state, (EventKind.ACCOUNT_UPDATE, Severity.WARNING, "Ban state changed")
    )
    services.health_event_record(
        kind=kind,
        severity=Severity.INFO if late else severity,
        title=title + (f" ({ban_date})" if ban_date else "") + (LATE if late else ""),
        key=change_key,
        source=WEBHOOK,
        occurred_at=entry_time,
        account=account,
        data=info,
    )


# --- other account-level fields -----------------------------------------------------------


def apply_account_review_update(*, value: dict, entry_id: str, entry_time, change_key: str):
    account = _account(entry_id)
    decision = meta.ReviewStatus.from_meta(value.get("decision"))
    account.review_status = decision
    account.save(update_fields=["review_status"])
    severity = {
        meta.ReviewStatus.APPROVED: Severity.INFO,
        meta.ReviewStatus.REJECTED: Severity.CRITICAL,
    }.get(decision, Severity.WARNING)
    services.health_event_record(
        kind=EventKind.REVIEW_DECISION,
        severity=severity,
        title=f"Account review: {decision.value}",
        detail="" if decision == meta.ReviewStatus.APPROVED else "The account cannot use the API.",
        key=change_key,
        source=WEBHOOK,
        occurred_at=entry_time,
        account=account,
        data=value,
    )


def apply_business_capability_update(*, value: dict, entry_id: str, entry_time, change_key: str):
    account = _account(entry_id)
    limit = _capability_limit(value)
    if limit is not None:
        for number in account.numbers.all():
            number_limit_change(
                number, limit, entry_time, services.dedupe_key(change_key, number.pk)
            )
    services.health_event_record(
        kind=EventKind.CAPABILITY_UPDATE,
        severity=Severity.INFO,
        title="Messaging capabilities updated"
        + (f": limit {_label(limit.value)}" if limit else ""),
        key=change_key,
        source=WEBHOOK,
        occurred_at=entry_time,
        account=account,
        data=value,
    )
    services.account_reassess_numbers(account=account)


_PER_PHONE_LIMITS = {
    250: meta.MessagingLimit.TIER_250,
    1000: meta.MessagingLimit.TIER_1K,
    2000: meta.MessagingLimit.TIER_2K,
    10000: meta.MessagingLimit.TIER_10K,
    100000: meta.MessagingLimit.TIER_100K,
    -1: meta.MessagingLimit.UNLIMITED,
}


def _capability_limit(value: dict) -> meta.MessagingLimit | None:
    per_business = value.get("max_daily_conversations_per_business")
    if isinstance(per_business, str):
        limit = meta.MessagingLimit.from_meta(per_business)
        return None if limit == meta.MessagingLimit.UNKNOWN else limit
    legacy = value.get("max_daily_conversation_per_phone", per_business)
    try:
        return _PER_PHONE_LIMITS.get(int(legacy))
    except (TypeError, ValueError):
        return None


def apply_account_alerts(*, value: dict, entry_id: str, entry_time, change_key: str):
    account = _account(entry_id)
    info = value.get("alert_info") or {}
    severity = {
        "CRITICAL": Severity.CRITICAL,
        "WARNING": Severity.WARNING,
    }.get(str(info.get("alert_severity", "")).upper(), Severity.INFO)
    alert_type = str(info.get("alert_type", "alert"))
    services.health_event_record(
        kind=EventKind.ACCOUNT_ALERT,
        severity=severity,
        title=f"Meta alert: {_label(alert_type).lower()}",
        detail=str(info.get("alert_description") or ""),
        key=change_key,
        source=WEBHOOK,
        occurred_at=entry_time,
        account=account,
        data=value,
    )


# --- phone numbers ------------------------------------------------------------------------


def apply_phone_number_quality_update(*, value: dict, entry_id: str, entry_time, change_key: str):
    account = _account(entry_id)
    number = _number_by_display(account, str(value.get("display_phone_number", "")))
    event = str(value.get("event", "")).upper()
    limit_token = value.get("max_daily_conversations_per_business") or value.get("current_limit")
    limit = meta.MessagingLimit.from_meta(limit_token) if limit_token else None
    if number is None:
        services.health_event_record(
            kind=EventKind.ACCOUNT_UPDATE,
            severity=Severity.INFO,
            title=f"Update for number {value.get('display_phone_number')} not yet synced",
            key=change_key,
            source=WEBHOOK,
            occurred_at=entry_time,
            account=account,
            data=value,
        )
        return
    if event == "FLAGGED":
        number_status_change(number, meta.NumberStatus.FLAGGED, entry_time, change_key)
    elif event == "UNFLAGGED":
        number_status_change(number, meta.NumberStatus.CONNECTED, entry_time, change_key)
    elif event == "THROUGHPUT_UPGRADE":
        number.throughput = meta.ThroughputLevel.HIGH
        number.save(update_fields=["throughput"])
    if limit is not None and limit != meta.MessagingLimit.UNKNOWN:
        number_limit_change(number, limit, entry_time, services.dedupe_key(change_key, "limit"))
    services.number_reassess(number=number)


def number_status_change(
    number: PhoneNumber, status: meta.NumberStatus, when, key, source=WEBHOOK
) -> None:
    if number.status == status:
        return
    flagged = status == meta.NumberStatus.FLAGGED
    late = superseded(number.status_at, when)
    if not late:
        number.status, number.status_at = status, when
        number.save(update_fields=["status", "status_at"])
    services.health_event_record(
        kind=EventKind.FLAGGED if flagged else EventKind.UNFLAGGED,
        severity=Severity.WARNING if flagged and not late else Severity.INFO,
        title=(
            f"{number.display_phone_number} flagged: quality dropped to low"
            if flagged
            else f"{number.display_phone_number} is no longer flagged"
        )
        + (LATE if late else ""),
        detail=(
            "If quality recovers within 7 days the number returns to connected; otherwise its "
            "messaging limit may be lowered."
            if flagged and not late
            else ""
        ),
        key=key,
        source=source,
        occurred_at=when,
        number=number,
    )


def number_limit_change(
    number: PhoneNumber, limit: meta.MessagingLimit, when, key, source=WEBHOOK
) -> None:
    old = meta.MessagingLimit(number.messaging_limit)
    if old == limit:
        return
    number.messaging_limit = limit
    number.save(update_fields=["messaging_limit"])
    if old.rank == 0 or limit.rank == 0:
        return  # first value seen, or an unrankable one: not a rise or a drop
    dropped = limit.rank < old.rank
    services.health_event_record(
        kind=EventKind.LIMIT_DROP if dropped else EventKind.LIMIT_RISE,
        severity=Severity.WARNING if dropped else Severity.INFO,
        title=(
            f"Messaging limit of {number.display_phone_number} "
            f"{'lowered' if dropped else 'raised'}: {_label(old.value)} → {_label(limit.value)}"
        ),
        key=key,
        source=source,
        occurred_at=when,
        number=number,
        data={"old": old.value, "new": limit.value},
    )


def apply_phone_number_name_update(*, value: dict, entry_id: str, entry_time, change_key: str):
    account = _account(entry_id)
    number = _number_by_display(account, str(value.get("display_phone_number", "")))
    decision = str(value.get("decision", "")).upper()
    status = {
        "APPROVED": meta.NameStatus.APPROVED,
        "REJECTED": meta.NameStatus.DECLINED,
        "PENDING": meta.NameStatus.PENDING_REVIEW,
        "DEFERRED": meta.NameStatus.PENDING_REVIEW,
    }.get(decision, meta.NameStatus.UNKNOWN)
    requested = str(value.get("requested_verified_name") or "")
    if number is not None:
        number.name_status = status
        if status == meta.NameStatus.APPROVED and requested:
            number.verified_name = requested
        number.save(update_fields=["name_status", "verified_name"])
    reason = value.get("rejection_reason")
    services.health_event_record(
        kind=EventKind.DISPLAY_NAME_DECISION,
        severity=Severity.WARNING if decision == "REJECTED" else Severity.INFO,
        title=f"Display name “{requested}”: {decision.lower() or 'updated'}",
        detail=(
            f"Reason: {_label(str(reason)).lower()}."
            if reason
            else "Re-register the number within 14 days for the new name to show."
            if decision == "APPROVED"
            else ""
        ),
        key=change_key,
        source=WEBHOOK,
        occurred_at=entry_time,
        account=account,
        number=number,
        data=value,
    )


# --- messages: the delivery ledger and inbound texts ---------------------------------------

_STATUS_VALUES = {"sent", "delivered", "read", "failed", "played"}


def apply_messages(*, value: dict, entry_id: str, entry_time, change_key: str) -> None:
    metadata = value.get("metadata") or {}
    phone_id = str(metadata.get("phone_number_id", ""))
    number = PhoneNumber.objects.select_related("account").filter(meta_id=phone_id).first()
    statuses = []
    for item in value.get("statuses") or []:
        errors = item.get("errors") or []
        error = errors[0] if errors else {}
        pricing = item.get("pricing") or {}
        status = str(item.get("status", "")).lower()
        statuses.append(
            MessageStatus(
                number=number,
                phone_number_meta_id=phone_id,
                wamid=str(item.get("id", ""))[:200],
                recipient=str(item.get("recipient_id", ""))[:32],
                status=status if status in _STATUS_VALUES else "unknown",
                occurred_at=_from_unix(item.get("timestamp")) or entry_time,
                pricing_category=str(pricing.get("category") or "")[:40],
                pricing_type=str(pricing.get("type") or "")[:40],
                error_code=_int_or_none(error.get("code")),
                error_title=str(error.get("title") or "")[:200],
                error_details=str((error.get("error_data") or {}).get("details") or ""),
            )
        )
    MessageStatus.objects.bulk_create(statuses, ignore_conflicts=True)
    names = {
        str(c.get("wa_id")): (c.get("profile") or {}).get("name", "")
        for c in value.get("contacts") or []
    }
    inbound = [
        InboundMessage(
            number=number,
            phone_number_meta_id=phone_id,
            wamid=str(message.get("id", ""))[:200],
            sender=str(message.get("from", ""))[:32],
            sender_name=str(names.get(str(message.get("from")), ""))[:200],
            message_type=str(message.get("type", ""))[:30],
            text=_message_text(message),
            received_at=_from_unix(message.get("timestamp")) or entry_time,
        )
        for message in value.get("messages") or []
    ]
    InboundMessage.objects.bulk_create(inbound, ignore_conflicts=True)
    _consent_from_messages(number=number, statuses=statuses, inbound=inbound, names=names)
    if number is not None and any(s.status == "failed" for s in statuses):
        services.error_spikes_check(number=number)
        services.number_reassess(number=number)


# --- consent: opt-outs from keywords and 131050, violations from marketing sends -------------

_MARKETING_PRICING = {"marketing", "marketing_lite"}


def _consent_from_messages(*, number, statuses, inbound, names) -> None:
    """Opt-outs from this change (keywords, 131050) and marketing sent without consent.

    Idempotent: opt-outs carry the wamid as source id, violations a key per wamid.
    """
    from compliance.consent import Evidence, consent_record_opt_out

    if inbound:
        keywords = MessagingPolicy.current().keyword_set()
        for message in inbound:
            if message.text.strip().casefold() in keywords and _digits(message.sender):
                consent_record_opt_out(
                    phone=f"+{_digits(message.sender)}",
                    category="marketing",
                    source=ConsentSource.WHATSAPP_KEYWORD,
                    evidence=Evidence(
                        channel="whatsapp",
                        data={"wamid": message.wamid, "text": message.text},
                    ),
                    occurred_at=message.received_at,
                    source_id=message.wamid,
                    wa_id=message.sender,
                    name=message.sender_name,
                )
    for status in statuses:
        if status.status == "failed" and status.error_code == 131050 and _digits(status.recipient):
            consent_record_opt_out(
                phone=f"+{_digits(status.recipient)}",
                category="marketing",
                source=ConsentSource.META_131050,
                evidence=Evidence(
                    channel="whatsapp",
                    data={"wamid": status.wamid, "error_code": 131050},
                ),
                occurred_at=status.occurred_at,
                source_id=status.wamid,
                wa_id=status.recipient,
            )
    sends = [
        s
        for s in statuses
        if s.status == "sent" and s.pricing_category in _MARKETING_PRICING and _digits(s.recipient)
    ]
    if sends:
        _consent_violations(number=number, sends=sends)


def _consent_violations(*, number, sends) -> None:
    """A marketing send is a violation unless the recipient's latest marketing consent event at
    the time of the send was an opt-in (no record, or an opt-out, is a violation)."""
    phones = {f"+{_digits(s.recipient)}" for s in sends}
    history: dict[str, list[tuple]] = {}
    for phone, kind, occurred_at in (
        ConsentEvent.objects.filter(contact__phone__in=phones, category="marketing")
        .order_by("occurred_at", "recorded_at", "id")
        .values_list("contact__phone", "kind", "occurred_at")
    ):
        history.setdefault(phone, []).append((kind, occurred_at))
    for send in sends:
        phone = f"+{_digits(send.recipient)}"
        decided = [kind for kind, at in history.get(phone, []) if at <= send.occurred_at]
        last = decided[-1] if decided else None
        if last == "opt_in":
            continue
        why = "after the recipient opted out" if last == "opt_out" else "without an opt-in"
        services.health_event_record(
            kind=EventKind.CONSENT_VIOLATION,
            severity=Severity.WARNING,
            title=f"Marketing message sent to {phone} {why}",
            detail=(
                "Marketing needs the recipient's opt-in and must stop after an opt-out. "
                "Check the campaign's audience against the consent records."
            ),
            key=services.dedupe_key("consent_violation", send.wamid),
            source=WEBHOOK,
            occurred_at=send.occurred_at,
            number=number,
            data={"wamid": send.wamid, "recipient": phone, "consent": last or "none"},
        )


# --- user_preferences: a user stops or resumes marketing messages -------------------------

_STOP_VALUES = {"stop", "stopped", "opt_out", "opt-out", "optout", "unsubscribe"}
_RESUME_VALUES = {"resume", "resumed", "opt_in", "opt-in", "optin", "subscribe", "start"}


def apply_user_preferences(*, value: dict, entry_id: str, entry_time, change_key: str) -> None:
    """Meta's `user_preferences` (meta-platform §4.10): a user stopping or resuming marketing.

    Accepted liberally: a list under `user_preferences` (or `preferences`), or the value itself
    as one item. Each item: `wa_id` (or `from`/`recipient_id`, else the only `contacts[].wa_id`),
    `category` (`marketing_messages`/`marketing`; missing means marketing; other categories are
    ignored), `value` (or `preference`/`status`/`action`): `stop` → opt-out of marketing,
    `resume` → opt-in to marketing (source meta_user_preferences), `timestamp` (unix) and
    `detail`. Items that say neither stop nor resume are ignored.
    """
    from compliance.consent import Evidence, consent_record_opt_in, consent_record_opt_out

    items = value.get("user_preferences") or value.get("preferences")
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        items = [value]
    contacts = [c for c in value.get("contacts") or [] if isinstance(c, dict)]
    only_wa_id = str(contacts[0].get("wa_id", "")) if len(contacts) == 1 else ""
    names = {str(c.get("wa_id")): (c.get("profile") or {}).get("name", "") for c in contacts}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        wa_id = str(item.get("wa_id") or item.get("from") or item.get("recipient_id") or "")
        wa_id = _digits(wa_id or only_wa_id)
        category = str(item.get("category") or "marketing_messages").lower()
        choice = str(
            item.get("value") or item.get("preference") or item.get("status") or ""
        ).lower()
        choice = choice or str(item.get("action") or "").lower()
        if not wa_id or not category.startswith("marketing"):
            continue
        if choice in _STOP_VALUES:
            record = consent_record_opt_out
        elif choice in _RESUME_VALUES:
            record = consent_record_opt_in
        else:
            continue
        record(
            phone=f"+{wa_id}",
            category="marketing",
            source=ConsentSource.META_USER_PREFERENCES,
            evidence=Evidence(
                channel="whatsapp",
                wording=str(item.get("detail") or "")[:1000],
                data={"change": change_key, "value": choice, "category": category},
            ),
            occurred_at=_from_unix(item.get("timestamp")) or entry_time,
            # Meta's retries may come in new batches (new change keys): key by what was said.
            source_id=(
                f"{wa_id}:{choice}:{item['timestamp']}"
                if item.get("timestamp")
                else f"{change_key}:{index}:{wa_id}"
            ),
            wa_id=wa_id,
            name=str(names.get(wa_id) or ""),
        )


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _message_text(message: dict) -> str:
    kind = message.get("type")
    if kind == "text":
        return str((message.get("text") or {}).get("body", ""))
    if kind == "button":
        return str((message.get("button") or {}).get("text", ""))
    if kind == "interactive":
        interactive = message.get("interactive") or {}
        reply = interactive.get("button_reply") or interactive.get("list_reply") or {}
        return str(reply.get("title", ""))
    return ""


# --- templates (handed to templates_review) ------------------------------------------------


def apply_template_status_update(*, value: dict, entry_id: str, entry_time, change_key: str):
    from templates_review.meta_sync import template_apply_meta_status

    if "new_quality_score" in value:  # Meta's docs show quality payloads under this field too
        return apply_template_quality_update(
            value=value, entry_id=entry_id, entry_time=entry_time, change_key=change_key
        )
    template_apply_meta_status(
        account=_account(entry_id), value=value, occurred_at=entry_time, key=change_key
    )
    return None


def apply_template_quality_update(*, value: dict, entry_id: str, entry_time, change_key: str):
    from templates_review.meta_sync import template_apply_meta_quality

    template_apply_meta_quality(
        account=_account(entry_id), value=value, occurred_at=entry_time, key=change_key
    )


def apply_template_category_update(*, value: dict, entry_id: str, entry_time, change_key: str):
    from templates_review.meta_sync import template_apply_category_update

    template_apply_category_update(
        account=_account(entry_id), value=value, occurred_at=entry_time, key=change_key
    )
