"""Consent writes: opt-ins and opt-outs with their evidence, on the contact (the identity) the
phone, BSUID or username names.

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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import phonenumbers
from django.db import IntegrityError, transaction
from django.db.models import Case, DateTimeField, Q, Value, When
from django.utils import timezone

from compliance.choices import ConsentCategory, ConsentKind, ConsentSource, ConsentStatus
from compliance.e164 import e164_certain
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
    certain = e164_certain(text, region)  # plain digits: phonenumbers' answer, sooner
    if certain is not None:
        return certain
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
    phone: str | None = None,
    category: str,
    source: str,
    evidence: Evidence | None = None,
    actor: Any = None,
    occurred_at: datetime | None = None,
    source_id: str = "",
    default_region: str | None = None,
    wa_id: str = "",
    name: str = "",
    bsuid: str | None = None,
    username: str | None = None,
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
        bsuid=bsuid,
        username=username,
    )


def consent_record_opt_out(
    *,
    phone: str | None = None,
    category: str,
    source: str,
    evidence: Evidence | None = None,
    actor: Any = None,
    occurred_at: datetime | None = None,
    source_id: str = "",
    default_region: str | None = None,
    wa_id: str = "",
    name: str = "",
    bsuid: str | None = None,
    username: str | None = None,
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
        bsuid=bsuid,
        username=username,
    )


def _record(
    *,
    kind: ConsentKind,
    phone: str | None,
    categories: list[str],
    source: str,
    evidence: Evidence | None,
    actor: Any,
    occurred_at: datetime | None,
    source_id: str,
    default_region: str | None,
    wa_id: str,
    name: str,
    bsuid: str | None = None,
    username: str | None = None,
) -> list[ConsentEvent]:
    """Append the events, set the states, audit. Returns the events that were new.

    The contact is the identity the phone, BSUID and username name (`compliance.identity`):
    an opt-out that comes with only a BSUID lands on the contact that also holds the phone.
    """
    from compliance.identity import Identity, bsuid_validate, contact_resolve, username_validate

    if source not in ConsentSource.values:
        raise ValueError(f"Unknown consent source {source!r}.")
    evidence = evidence or Evidence()
    client = None
    e164 = None
    if phone or not (bsuid or username):
        if not str(phone or "").strip().startswith("+") and default_region is None:
            client = current_client()
            default_region = client.default_region
        try:
            e164 = contact_normalize(phone, default_region=default_region)
        except ValueError:
            # Meta delivered to (or heard from) this wa_id: it is real even where phonenumbers'
            # metadata is behind, so a Meta source keeps its digits rather than losing it.
            if source not in META_SOURCES or not re.fullmatch(r"\+\d{6,15}", str(phone)):
                raise
            e164 = str(phone)
    identity = Identity(
        phone=e164,
        bsuid=bsuid_validate(bsuid) if bsuid else None,
        username=username_validate(username) if username else None,
    )
    label = identity.label
    now = timezone.now()
    occurred_at = occurred_at or now
    actor_label = str(actor) if actor is not None else ""
    recorded = []
    with transaction.atomic():
        contact = contact_resolve(identity=identity, create=True, wa_id=wa_id, name=name)
        for category in categories:
            key = (
                dedupe_key("consent", kind, category, source, source_id)
                if source_id
                else dedupe_key("consent", kind, category, source, label, uuid.uuid4())
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
                    "phone": contact.phone,
                    "bsuid": contact.bsuid,
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


@dataclass(frozen=True)
class MetaOptOut:
    """One opt-out of marketing Meta told us about (a keyword text, a 131050 failure)."""

    wa_id: str  # the digits Meta sent
    source: str  # a `META_SOURCES` member
    source_id: str  # the wamid: the same opt-out seen again changes nothing
    occurred_at: datetime
    evidence: Evidence
    name: str = ""


def consent_record_meta_opt_outs(*, opt_outs: Sequence[MetaOptOut]) -> list[ConsentEvent]:
    """`consent_record_opt_out` of marketing for many opt-outs from Meta at once (a batch of
    webhooks), with the same effect in a fixed number of queries whatever their count:
    contacts found or created together, the new history rows in one INSERT, the states set
    by one UPDATE (an older opt-out never overrides a newer decision), one audit row.

    Raises ValueError if a wa_id is not a phone number (the caller applies items alone then).
    """
    if not opt_outs:
        return []
    category, kind = ConsentCategory.MARKETING.value, ConsentKind.OPT_OUT
    phones: list[str] = []
    for item in opt_outs:
        if item.source not in META_SOURCES:
            raise ValueError(f"{item.source!r} is not an opt-out source Meta reports.")
        phone = e164_from_wa_id(item.wa_id)
        try:
            phone = contact_normalize(phone, default_region=None)
        except ValueError:
            if not re.fullmatch(r"\+\d{6,15}", phone):  # as in _record: Meta's ids are real
                raise
        phones.append(phone)
    now = timezone.now()
    with transaction.atomic():
        contacts = {c.phone: c for c in Contact.objects.filter(phone__in=set(phones))}
        missing = {p: item for p, item in zip(phones, opt_outs, strict=True) if p not in contacts}
        if missing:
            Contact.objects.bulk_create(
                [
                    Contact(phone=p, wa_id=i.wa_id[:32], name=i.name[:200])
                    for p, i in missing.items()
                ],
                ignore_conflicts=True,
            )
            contacts.update({c.phone: c for c in Contact.objects.filter(phone__in=set(missing))})
        # As `_record` does: a known contact gets the wa_id and name Meta gave, if it had none.
        fill = {}
        for phone, item in zip(phones, opt_outs, strict=True):
            contact = contacts[phone]
            if phone not in missing and (not contact.wa_id or (item.name and not contact.name)):
                fill[contact.pk] = (
                    contact.wa_id or item.wa_id[:32],
                    contact.name or item.name[:200],
                )
        if fill:
            Contact.objects.filter(pk__in=fill).update(
                wa_id=Case(*(When(pk=pk, then=Value(w)) for pk, (w, _) in fill.items())),
                name=Case(*(When(pk=pk, then=Value(n)) for pk, (_, n) in fill.items())),
            )
        keys = [
            dedupe_key("consent", kind, category, item.source, item.source_id) for item in opt_outs
        ]
        seen = set(
            ConsentEvent.objects.filter(dedupe_key__in=set(keys)).values_list(
                "dedupe_key", flat=True
            )
        )
        events, latest = [], {}
        for item, phone, key in zip(opt_outs, phones, keys, strict=True):
            if key in seen:
                continue
            seen.add(key)
            contact = contacts[phone]
            events.append(
                ConsentEvent(
                    contact=contact,
                    category=category,
                    kind=kind,
                    source=item.source,
                    wording=item.evidence.wording,
                    channel=item.evidence.channel[:50],
                    data=item.evidence.data or {},
                    occurred_at=item.occurred_at,
                    recorded_at=now,
                    dedupe_key=key,
                )
            )
            latest[contact.pk] = max(latest.get(contact.pk, item.occurred_at), item.occurred_at)
        if not events:
            return []
        ConsentEvent.objects.bulk_create(events, ignore_conflicts=True)
        ConsentState.objects.bulk_create(
            [
                ConsentState(
                    contact_id=pk, category=category, status=ConsentStatus.OPTED_OUT, updated_at=at
                )
                for pk, at in latest.items()
            ],
            ignore_conflicts=True,
        )
        newer_than_state = Q()
        for pk, at in latest.items():
            newer_than_state |= Q(contact_id=pk, updated_at__lte=at)
        ConsentState.objects.filter(newer_than_state, category=category).update(
            status=ConsentStatus.OPTED_OUT,
            updated_at=Case(
                *(When(contact_id=pk, then=Value(at)) for pk, at in latest.items()),
                output_field=DateTimeField(),
            ),
        )
        audit_record(
            action=f"consent.{kind}",
            actor=None,
            client=current_client(),
            after={
                "phones": sorted({e.contact.phone for e in events}),
                "categories": [category],
                "sources": sorted({e.source for e in events}),
                "events": len(events),
            },
        )
    return events


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
