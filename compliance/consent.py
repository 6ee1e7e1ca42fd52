"""Consent writes: contacts keyed by E.164, opt-ins and opt-outs with their evidence.

Run inside the client's schema. Every opt-in or opt-out appends one `ConsentEvent` (never changed
afterwards), sets the contact's `ConsentState` for that category and writes an audit row, all in
one transaction. A change that comes with a source id (a wamid, a webhook change) carries a dedupe
key derived from it, so seeing it again changes nothing.

The state follows the newest event by `occurred_at` (ties: the one recorded last); its
`updated_at` is that event's time, so an old opt-in arriving late cannot undo a newer opt-out.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import phonenumbers
from django.db import IntegrityError, transaction
from django.utils import timezone

from compliance.choices import ConsentCategory, ConsentKind, ConsentSource, ConsentStatus
from compliance.models import ConsentEvent, ConsentState, Contact
from compliance.services import dedupe_key
from portal.audit.services import audit_record
from tenants.selectors import current_client

ALL_CATEGORIES = "all"
META_SOURCES = frozenset(
    {
        ConsentSource.WHATSAPP_KEYWORD,
        ConsentSource.META_131050,
        ConsentSource.META_USER_PREFERENCES,
    }
)


def contact_normalize(raw: str, *, default_region: str | None) -> str:
    """The E.164 form of `raw` ("+44 7700 900123", "07700 900123" with region GB, …).

    Raises ValueError with a plain reason when the number cannot be read or is not valid.
    """
    text = str(raw or "").strip()
    if not text:
        raise ValueError("Give a phone number.")
    region = (default_region or "").upper() or None
    if not text.startswith("+") and region is None:
        raise ValueError(f"{text!r} has no country code (+…) and no default region is set.")
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{text!r} is not a phone number ({exc._msg}).") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{text!r} is not a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def e164_from_wa_id(wa_id: str) -> str:
    """Meta's `wa_id` / `recipient_id` is the number's digits with the country code."""
    digits = "".join(ch for ch in str(wa_id or "") if ch.isdigit())
    if not digits:
        raise ValueError("A WhatsApp id needs digits.")
    return f"+{digits}"


@dataclass(frozen=True)
class Evidence:
    """What shows the person agreed or refused: wording and version, where, how, who."""

    wording: str = ""
    wording_version: str = ""
    page_url: str = ""
    ip_address: str | None = None
    user_agent: str = ""
    channel: str = ""
    data: dict | None = None


def consent_record_opt_in(
    *,
    phone: str,
    category: str,
    source: str,
    evidence: Evidence | None = None,
    actor: Any = None,
    occurred_at: datetime | None = None,
    source_id: str = "",
    default_region: str | None = None,
    wa_id: str = "",
    name: str = "",
) -> list[ConsentEvent]:
    """Record an opt-in to `category` (one category; consent is given per category)."""
    if category not in ConsentCategory.values:
        raise ValueError(f"Unknown category {category!r}.")
    return _record(
        kind=ConsentKind.OPT_IN,
        phone=phone,
        categories=[category],
        source=source,
        evidence=evidence,
        actor=actor,
        occurred_at=occurred_at,
        source_id=source_id,
        default_region=default_region,
        wa_id=wa_id,
        name=name,
    )


def consent_record_opt_out(
    *,
    phone: str,
    category: str,
    source: str,
    evidence: Evidence | None = None,
    actor: Any = None,
    occurred_at: datetime | None = None,
    source_id: str = "",
    default_region: str | None = None,
    wa_id: str = "",
    name: str = "",
) -> list[ConsentEvent]:
    """Record an opt-out of `category`, or of every category with `category="all"`.

    It applies at once: the pre-send check reads the state this sets.
    """
    if category == ALL_CATEGORIES:
        categories = list(ConsentCategory.values)
    elif category in ConsentCategory.values:
        categories = [category]
    else:
        raise ValueError(f"Unknown category {category!r}.")
    return _record(
        kind=ConsentKind.OPT_OUT,
        phone=phone,
        categories=categories,
        source=source,
        evidence=evidence,
        actor=actor,
        occurred_at=occurred_at,
        source_id=source_id,
        default_region=default_region,
        wa_id=wa_id,
        name=name,
    )


def _record(
    *,
    kind: ConsentKind,
    phone: str,
    categories: list[str],
    source: str,
    evidence: Evidence | None,
    actor: Any,
    occurred_at: datetime | None,
    source_id: str,
    default_region: str | None,
    wa_id: str,
    name: str,
) -> list[ConsentEvent]:
    """Append the events, set the states, audit. Returns the events that were new."""
    if source not in ConsentSource.values:
        raise ValueError(f"Unknown consent source {source!r}.")
    evidence = evidence or Evidence()
    client = None
    if not str(phone).strip().startswith("+") and default_region is None:
        client = current_client()
        default_region = client.default_region
    try:
        e164 = contact_normalize(phone, default_region=default_region)
    except ValueError:
        # Meta delivered to (or heard from) this wa_id: it is real even where phonenumbers'
        # metadata is behind, so a Meta source keeps its digits rather than losing the opt-out.
        if source not in META_SOURCES or not re.fullmatch(r"\+\d{6,15}", str(phone)):
            raise
        e164 = str(phone)
    now = timezone.now()
    occurred_at = occurred_at or now
    actor_label = str(actor) if actor is not None else ""
    recorded = []
    with transaction.atomic():
        contact, created = Contact.objects.get_or_create(
            phone=e164, defaults={"wa_id": wa_id, "name": name[:200]}
        )
        if not created and ((wa_id and not contact.wa_id) or (name and not contact.name)):
            contact.wa_id = contact.wa_id or wa_id
            contact.name = contact.name or name[:200]
            contact.save(update_fields=["wa_id", "name"])
        for category in categories:
            key = (
                dedupe_key("consent", kind, category, source, source_id)
                if source_id
                else dedupe_key("consent", kind, category, source, e164, uuid.uuid4())
            )
            event = ConsentEvent(
                contact=contact,
                category=category,
                kind=kind,
                source=source,
                wording=evidence.wording,
                wording_version=evidence.wording_version[:50],
                page_url=evidence.page_url[:500],
                ip_address=evidence.ip_address or None,
                user_agent=evidence.user_agent,
                channel=evidence.channel[:50],
                actor_label=actor_label[:200],
                data=evidence.data or {},
                occurred_at=occurred_at,
                recorded_at=now,
                dedupe_key=key,
            )
            try:
                with transaction.atomic():
                    event.save()
            except IntegrityError:
                continue  # seen before: nothing changes
            _state_apply(contact=contact, category=category, kind=kind, occurred_at=occurred_at)
            recorded.append(event)
        if recorded:
            audit_record(
                action=f"consent.{kind}",
                actor=actor,
                client=client or current_client(),
                target=contact,
                after={
                    "phone": e164,
                    "categories": [e.category for e in recorded],
                    "source": source,
                    "events": [e.pk for e in recorded],
                },
            )
            from integrations.events import event_emit

            event_emit(
                event_type="consent.changed",
                data={
                    "contact_id": contact.pk,
                    "phone": e164,
                    "kind": kind,
                    "categories": [e.category for e in recorded],
                    "source": source,
                    "occurred_at": occurred_at,
                },
            )
    return recorded


def _state_apply(*, contact: Contact, category: str, kind: str, occurred_at: datetime) -> None:
    status = ConsentStatus.OPTED_IN if kind == ConsentKind.OPT_IN else ConsentStatus.OPTED_OUT
    state, created = ConsentState.objects.select_for_update().get_or_create(
        contact=contact, category=category, defaults={"status": status, "updated_at": occurred_at}
    )
    if created or state.updated_at > occurred_at:
        return  # new, or a newer event already decided the state
    state.status = status
    state.updated_at = occurred_at
    state.save(update_fields=["status", "updated_at"])


POLICY_FIELDS = (
    "marketing_cap",
    "utility_cap",
    "window_days",
    "quiet_hours_start",
    "quiet_hours_end",
    "time_zone",
    "opt_out_keywords",
)


def _policy_snapshot(policy) -> dict:
    return {
        name: (value.isoformat() if hasattr(value, "isoformat") else value)
        for name in POLICY_FIELDS
        for value in [getattr(policy, name)]
    }


def messaging_policy_update(*, actor: Any, **changes: Any):
    """Set the client's messaging policy (caps, window, quiet hours, opt-out keywords)."""
    from compliance.models import MessagingPolicy

    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise ValueError(f"Unknown policy fields: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        policy, _ = MessagingPolicy.objects.select_for_update().get_or_create(singleton=True)
        before = _policy_snapshot(policy)
        for name, value in changes.items():
            setattr(policy, name, value)
        policy.updated_at = timezone.now()
        policy.save()
        after = _policy_snapshot(policy)
        if after != before:
            audit_record(
                action="consent.policy_update",
                actor=actor,
                client=current_client(),
                target=policy,
                before=before,
                after=after,
            )
    return policy
