"""A contact is one identity: an E.164 phone, a BSUID and a username, any of them missing.

Meta's business-scoped user id (BSUID, meta-platform §7) comes in every messages webhook since
April 2026, with or without the phone; a username may stand in for the phone. Here every
identifier resolves to one `Contact`, so consent, opt-outs, caps and back-offs follow the person
whichever identifier a webhook, the API or an import uses.

- `bsuid_validate`, `username_validate`: Meta's documented formats, ValueError with plain words;
- `contact_resolve(*, phone, bsuid, username, create)`: the one contact these name; two
  contacts named by identifiers of one person (a phone imported, then a webhook with BSUID and
  phone) are merged into the older one;
- `contact_identity_change(*, previous_bsuid, bsuid, phone)`: Meta's user-id change
  (`user_changed_number`, `user_changed_user_id`), kept as `ContactIdentityChange` history.

Run inside the client's schema. A merge moves the consent history rows to the surviving contact
by their foreign key only (their content, the evidence, never changes) and keeps, per category,
the state decided by the newest event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from compliance.models import ConsentEvent, ConsentState, Contact, ContactIdentityChange
from portal.audit.services import audit_record
from tenants.selectors import current_client

_BSUID = re.compile(r"[A-Z]{2}\.[A-Za-z0-9]{1,128}")
_PARENT_BSUID = re.compile(r"[A-Z]{2}\.ENT\.[A-Za-z0-9]{1,128}")
_USERNAME = re.compile(r"[a-z0-9._]{3,35}")
_LOOKS_LIKE_BSUID = re.compile(r"[A-Za-z]{2}\.")


def looks_like_bsuid(text: str) -> bool:
    """Whether `text` is meant as a BSUID (two letters and a dot), valid or not."""
    return bool(_LOOKS_LIKE_BSUID.match(str(text or "").strip()))


def bsuid_validate(raw: str) -> str:
    """A BSUID as Meta writes it: ISO 3166 alpha-2 country, ".", up to 128 letters and digits
    (`US.13491208655302741918`). Returned unchanged (Meta wants it sent back as is)."""
    text = str(raw or "").strip()
    if not text:
        raise ValueError("Give a WhatsApp user id (BSUID).")
    if _PARENT_BSUID.fullmatch(text):
        raise ValueError(
            f"{text!r} is a parent user id (XX.ENT.…), shared by several businesses; give the "
            "user's own id."
        )
    if not _BSUID.fullmatch(text):
        raise ValueError(
            f"{text!r} is not a WhatsApp user id: expected a two-letter country code in capitals, "
            "a dot and up to 128 letters or digits (e.g. US.13491208655302741918)."
        )
    return text


def parent_bsuid_validate(raw: str) -> str:
    """A parent BSUID (`US.ENT.118…`), or "" for none."""
    text = str(raw or "").strip()
    if text and not _PARENT_BSUID.fullmatch(text):
        raise ValueError(f"{text!r} is not a parent user id (XX.ENT. and up to 128 characters).")
    return text


def username_validate(raw: str) -> str:
    """A WhatsApp username: 3 to 35 of a-z, 0-9, "." and "_" (a leading "@" is dropped)."""
    text = str(raw or "").strip().removeprefix("@")
    if not _USERNAME.fullmatch(text):
        raise ValueError(
            f"{raw!r} is not a WhatsApp username: 3 to 35 lower-case letters, digits, dots or "
            "underscores."
        )
    return text


@dataclass(frozen=True)
class Identity:
    """Validated identifiers of one person (None where not known)."""

    phone: str | None = None
    bsuid: str | None = None
    username: str | None = None

    def __bool__(self) -> bool:
        return bool(self.phone or self.bsuid or self.username)

    @property
    def label(self) -> str:
        return self.phone or self.bsuid or self.username or ""


def identity_of(
    *,
    phone: str | None = None,
    bsuid: str | None = None,
    username: str | None = None,
    default_region: str | None = None,
) -> Identity:
    """Validate each given identifier (ValueError naming the bad one); phones to E.164."""
    from compliance.consent import contact_normalize

    e164 = None
    if phone:
        if not str(phone).strip().startswith("+") and default_region is None:
            default_region = current_client().default_region
        e164 = contact_normalize(phone, default_region=default_region)
    return Identity(
        phone=e164,
        bsuid=bsuid_validate(bsuid) if bsuid else None,
        username=username_validate(username) if username else None,
    )


def contact_resolve(
    *,
    phone: str | None = None,
    bsuid: str | None = None,
    username: str | None = None,
    create: bool = False,
    name: str = "",
    wa_id: str = "",
    parent_bsuid: str = "",
    identity: Identity | None = None,
) -> Contact | None:
    """The contact these identifiers name (validated; `phone` already E.164 or parsed with the
    client's region), completed with the identifiers it lacked; created if none and `create`.

    When the identifiers name two or more contacts, they are one person Meta has now linked
    (e.g. a webhook with both BSUID and phone): they are merged into the oldest, keeping all
    history. None when nothing matches and not `create`.
    """
    identity = identity or identity_of(phone=phone, bsuid=bsuid, username=username)
    if not identity:
        raise ValueError("Give a phone number, a WhatsApp user id (BSUID) or a username.")
    parent = parent_bsuid_validate(parent_bsuid)
    with transaction.atomic():
        found = _contacts_of(identity)
        if not found:
            if not create:
                return None
            return Contact.objects.create(
                phone=identity.phone,
                bsuid=identity.bsuid,
                username=identity.username,
                parent_bsuid=parent,
                wa_id=wa_id,
                name=name[:200],
            )
        contact, others = found[0], found[1:]
        for other in others:
            merge_contacts(into=contact, other=other, reason="linked identifiers")
        _complete(contact, identity, name=name, wa_id=wa_id, parent_bsuid=parent)
    return contact


def _contacts_of(identity: Identity) -> list[Contact]:
    """Contacts holding any of the identifiers, locked, oldest first."""
    from django.db.models import Q

    query = Q(pk__in=[])
    if identity.phone:
        query |= Q(phone=identity.phone)
    if identity.bsuid:
        query |= Q(bsuid=identity.bsuid)
    if identity.username:
        query |= Q(username=identity.username)
    return list(Contact.objects.select_for_update().filter(query).order_by("created_at", "pk"))


def _complete(contact: Contact, identity: Identity, **extra: str) -> None:
    changed = []
    for field in ("phone", "bsuid", "username"):
        value = getattr(identity, field)
        if value and getattr(contact, field) != value and not getattr(contact, field):
            setattr(contact, field, value)
            changed.append(field)
    for field, value in extra.items():
        if value and not getattr(contact, field):
            setattr(contact, field, value[:200])
            changed.append(field)
    if changed:
        contact.save(update_fields=changed)


def merge_contacts(*, into: Contact, other: Contact, reason: str) -> None:
    """Move everything of `other` onto `into` and delete `other` (same transaction).

    Consent history rows change only their contact link (raw UPDATE: the append-only guard
    protects their content, which stays as recorded); per category the state decided by the
    newest event survives; identifiers `into` lacks are taken over.
    """
    mine = {s.category: s for s in ConsentState.objects.select_for_update().filter(contact=into)}
    for state in ConsentState.objects.select_for_update().filter(contact=other):
        kept = mine.get(state.category)
        if kept is None:
            ConsentState.objects.filter(pk=state.pk).update(contact=into)
        else:
            if state.updated_at > kept.updated_at:
                kept.status, kept.updated_at = state.status, state.updated_at
                kept.save(update_fields=["status", "updated_at"])
            state.delete()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ConsentEvent._meta.db_table} SET contact_id = %s WHERE contact_id = %s",  # noqa: S608 (table name; values are parameters)
            [into.pk, other.pk],
        )
    ContactIdentityChange.objects.filter(contact=other).update(contact=into)
    taken = {
        field: getattr(other, field)
        for field in ("phone", "bsuid", "username", "parent_bsuid", "wa_id", "name")
        if getattr(other, field) and not getattr(into, field)
    }
    into.unreachable_at = max(
        (t for t in (into.unreachable_at, other.unreachable_at) if t), default=None
    )
    into.backoff_until = max(
        (t for t in (into.backoff_until, other.backoff_until) if t), default=None
    )
    snapshot = {
        "merged_contact": other.pk,
        "phone": other.phone,
        "bsuid": other.bsuid,
        "username": other.username,
    }
    other.delete()  # first: its unique identifiers move to `into`
    for field, value in taken.items():
        setattr(into, field, value)
    into.save(update_fields=[*taken, "unreachable_at", "backoff_until"])
    audit_record(
        action="contact.merged",
        actor=None,
        client=current_client(),
        target=into,
        before=snapshot,
        after={"reason": reason, "contact": into.pk},
    )


def contact_identity_change(
    *,
    previous_bsuid: str,
    bsuid: str,
    phone: str | None = None,
    occurred_at: datetime | None = None,
    key: str = "",
    username: str | None = None,
) -> Contact:
    """Meta regenerated the user's BSUID (`user_changed_user_id`), with a new phone when the user
    changed number (`user_changed_number`). The contact holding the previous BSUID (or the new
    one, or the phone) takes the new BSUID and phone; a second contact already holding the new
    BSUID is merged into it. The change is kept as `ContactIdentityChange`, once per `key`.
    """
    from compliance.services import dedupe_key

    previous = bsuid_validate(previous_bsuid)
    new = identity_of(phone=phone, bsuid=bsuid, username=username, default_region=None)
    occurred_at = occurred_at or timezone.now()
    key = key or dedupe_key("identity", previous, new.bsuid, new.phone, occurred_at.isoformat())
    with transaction.atomic():
        seen = ContactIdentityChange.objects.filter(dedupe_key=key).select_related("contact")
        if seen:
            return seen[0].contact
        holders = list(
            Contact.objects.select_for_update().filter(bsuid=previous).order_by("created_at")
        )
        contact = holders[0] if holders else None
        named = _contacts_of(new)
        if contact is None:
            contact = named[0] if named else Contact.objects.create()
            named = named[1:]
        for other in named:
            if other.pk != contact.pk:
                merge_contacts(into=contact, other=other, reason="user id changed")
        contact.refresh_from_db()
        before_phone = contact.phone or ""
        contact.bsuid = new.bsuid
        fields = ["bsuid"]
        if new.phone and contact.phone != new.phone:
            contact.phone = new.phone
            fields.append("phone")
        if new.username and contact.username != new.username:
            contact.username = new.username
            fields.append("username")
        contact.save(update_fields=fields)
        ContactIdentityChange.objects.create(
            contact=contact,
            previous_bsuid=previous,
            bsuid=new.bsuid,
            previous_phone=before_phone,
            phone=new.phone or "",
            merged_contact_id=None,
            occurred_at=occurred_at,
            dedupe_key=key,
        )
        audit_record(
            action="contact.identity_changed",
            actor=None,
            client=current_client(),
            target=contact,
            before={"bsuid": previous, "phone": before_phone},
            after={"bsuid": new.bsuid, "phone": contact.phone},
        )
    return contact
