"""`messages` (statuses with errors and pricing, inbound messages, top-level errors, the 2026
identity fields) and `user_preferences` (meta-platform §4.11, §7, §9).

One bad item (a null status, an error code no column can hold) never rejects the whole change:
the good items are parsed and each bad one becomes an `ItemFailure(rejected=True)` holding a
complete value with only that item, which the applier hands back to the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from portal.meta import types as meta
from portal.meta.webhooks.contract import ItemFailure, WebhookRejected
from portal.meta.webhooks.fields import _read as r

WAMID_MAX = 200  # MessageStatus.wamid, InboundMessage.wamid
WA_ID_MAX = 32  # MessageStatus.recipient, InboundMessage.sender
BSUID_MAX = 300  # CC + "." + up to 256 alphanumerics (128 since Feb 2026); parents a bit more
USERNAME_MAX = 64  # 3-35 characters, "@" included in webhooks
NAME_MAX = 200
TITLE_MAX = 200  # MessageStatus.error_title
PRICING_MAX = 40  # MessageStatus.pricing_category / pricing_type
TYPE_MAX = 30  # InboundMessage.message_type
TEXT_MAX = 65_536
DETAIL_MAX = 1_000


@dataclass(frozen=True)
class DeliveryError:
    code: int | None
    title: str = ""
    message: str = ""
    details: str = ""
    href: str = ""


# A campaign's statuses are parsed by the tens of thousands: these two are slotted and not
# frozen (a frozen dataclass sets each field through object.__setattr__, which was a third of a
# status's parse). They are values all the same: nothing changes one once it is parsed.
@dataclass(slots=True)
class Pricing:
    category: str = ""  # marketing, marketing_lite, utility, authentication, service, …
    type: str = ""  # regular, free_customer_service, free_entry_point
    model: str = ""  # CBP, PMP
    billable: bool | None = None


@dataclass(frozen=True)
class Contact:
    wa_id: str | None = None  # may be missing for username users (Apr 2026)
    user_id: str | None = None  # the BSUID
    parent_user_id: str | None = None
    name: str = ""
    username: str = ""


@dataclass(slots=True)
class Status:
    index: int
    wamid: str
    state: meta.DeliveryState
    raw_state: str
    at: datetime | None
    recipient_id: str = ""  # the phone's digits; missing when sent to a BSUID
    recipient_user_id: str | None = None
    recipient_parent_user_id: str | None = None
    recipient_type: str = ""  # "group" for group sends
    recipient_participant_id: str | None = None
    callback_data: str = ""
    pricing: Pricing | None = None
    errors: tuple[DeliveryError, ...] = ()
    alone: dict = field(default_factory=dict, compare=False)

    @property
    def error(self) -> DeliveryError | None:
        return self.errors[0] if self.errors else None


@dataclass(frozen=True)
class SystemNotice:
    """A `system` message: the user changed phone (`user_changed_number`) or BSUID."""

    kind: meta.SystemChange
    raw_kind: str
    body: str = ""
    wa_id: str | None = None
    user_id: str | None = None
    previous_user_id: str | None = None
    parent_user_id: str | None = None
    previous_parent_user_id: str | None = None


@dataclass(frozen=True)
class Inbound:
    index: int
    wamid: str
    type: str
    at: datetime | None
    sender: str = ""  # `from`: the phone's digits; missing for username users
    from_user_id: str | None = None
    from_parent_user_id: str | None = None
    sender_name: str = ""
    username: str = ""
    text: str = ""  # text body, button text or interactive reply title
    system: SystemNotice | None = None
    alone: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Messages:
    phone_number_id: str
    display_phone_number: str = ""
    contacts: tuple[Contact, ...] = ()
    statuses: tuple[Status, ...] = ()
    inbound: tuple[Inbound, ...] = ()
    errors: tuple[DeliveryError, ...] = ()  # top-level `errors[]`
    rejected: tuple[ItemFailure, ...] = ()


def _bsuid(item: dict, key: str, path: str) -> str | None:
    return r.ident(item, key, path, max_len=BSUID_MAX)


def _error(item, path: str) -> DeliveryError:
    item = r.as_obj(item, path)
    data = r.obj(item, "error_data", path) or {}
    return DeliveryError(
        code=r.integer(item, "code", path, low=0),
        title=r.text(item, "title", path, max_len=TITLE_MAX),
        message=r.text(item, "message", path, max_len=TEXT_MAX),
        details=r.text(data, "details", f"{path}.error_data", max_len=TEXT_MAX),
        href=r.text(item, "href", path, max_len=2_000),
    )


def _contact(item, path: str) -> Contact:
    item = r.as_obj(item, path)
    profile = r.obj(item, "profile", path) or {}
    return Contact(
        wa_id=r.ident(item, "wa_id", path, max_len=WA_ID_MAX),
        user_id=_bsuid(item, "user_id", path),
        parent_user_id=_bsuid(item, "parent_user_id", path),
        name=r.text(profile, "name", f"{path}.profile", max_len=NAME_MAX),
        username=r.text(profile, "username", f"{path}.profile", max_len=USERNAME_MAX),
    )


# Meta renamed it twice before May 5 2026: every spelling is the same field (meta-platform §7).
_PARENT_RECIPIENT_KEYS = ("recipient_parent_user_id", "parent_recipient_user_id", "parent_user_id")


def _status(item, path: str, index: int, alone: dict) -> Status:
    item = r.as_obj(item, path)
    state, raw_state = r.token(item, "status", path, meta.DeliveryState, required=True)
    pricing = r.obj(item, "pricing", path)
    billable = pricing.get("billable") if pricing else None
    if billable is not None and not isinstance(billable, bool):
        raise r.reject(f"{path}.pricing.billable", f"expected a boolean, got {r.kind_of(billable)}")
    parent = None
    for key in _PARENT_RECIPIENT_KEYS:
        parent = parent or _bsuid(item, key, path)
    return Status(
        index=index,
        wamid=r.text(item, "id", path, max_len=WAMID_MAX, required=True),
        state=state,
        raw_state=raw_state,
        at=r.unix_time(item, "timestamp", path),
        recipient_id=r.ident(item, "recipient_id", path, max_len=WA_ID_MAX) or "",
        recipient_user_id=_bsuid(item, "recipient_user_id", path),
        recipient_parent_user_id=parent,
        recipient_type=r.text(item, "recipient_type", path, max_len=20),
        recipient_participant_id=r.ident(item, "recipient_participant_id", path, max_len=WA_ID_MAX),
        callback_data=r.text(item, "biz_opaque_callback_data", path, max_len=512),
        pricing=Pricing(
            category=r.text(pricing, "category", f"{path}.pricing", max_len=PRICING_MAX).lower(),
            type=r.text(pricing, "type", f"{path}.pricing", max_len=PRICING_MAX).lower(),
            model=r.text(pricing, "pricing_model", f"{path}.pricing", max_len=PRICING_MAX),
            billable=billable,
        )
        if pricing
        else None,
        errors=tuple(
            _error(error, f"{path}.errors[{i}]")
            for i, error in enumerate(r.items(item, "errors", path))
        ),
        alone=alone,
    )


def _system(message: dict, path: str) -> SystemNotice | None:
    system = r.obj(message, "system", path)
    if system is None:
        return None
    where = f"{path}.system"
    kind, raw_kind = r.token(system, "type", where, meta.SystemChange)
    return SystemNotice(
        kind=kind,
        raw_kind=raw_kind,
        body=r.text(system, "body", where, max_len=TEXT_MAX),
        wa_id=r.ident(system, "wa_id", where, max_len=WA_ID_MAX),
        user_id=_bsuid(system, "user_id", where),
        previous_user_id=_bsuid(system, "previous_user_id", where),
        parent_user_id=_bsuid(system, "parent_user_id", where),
        previous_parent_user_id=_bsuid(system, "previous_parent_user_id", where),
    )


def _message_text(message: dict, kind: str, path: str) -> str:
    if kind == "text":
        body = r.obj(message, "text", path) or {}
        return r.text(body, "body", f"{path}.text", max_len=TEXT_MAX)
    if kind == "button":
        button = r.obj(message, "button", path) or {}
        return r.text(button, "text", f"{path}.button", max_len=TEXT_MAX)
    if kind == "interactive":
        interactive = r.obj(message, "interactive", path) or {}
        for key in ("button_reply", "list_reply"):
            reply = r.obj(interactive, key, f"{path}.interactive")
            if reply is not None:
                return r.text(reply, "title", f"{path}.interactive.{key}", max_len=TEXT_MAX)
    return ""


def _inbound(item, path: str, index: int, contacts: list[Contact], alone: dict) -> Inbound:
    item = r.as_obj(item, path)
    kind = r.text(item, "type", path, max_len=TYPE_MAX, required=True).lower()
    sender = r.ident(item, "from", path, max_len=WA_ID_MAX) or ""
    from_user_id = _bsuid(item, "from_user_id", path)
    contact = next(
        (
            c
            for c in contacts
            if (sender and c.wa_id == sender) or (from_user_id and c.user_id == from_user_id)
        ),
        None,
    )
    return Inbound(
        index=index,
        wamid=r.text(item, "id", path, max_len=WAMID_MAX, required=True),
        type=kind,
        at=r.unix_time(item, "timestamp", path),
        sender=sender,
        from_user_id=from_user_id,
        from_parent_user_id=_bsuid(item, "from_parent_user_id", path),
        sender_name=contact.name if contact else "",
        username=contact.username if contact else "",
        text=_message_text(item, kind, path),
        system=_system(item, path),
        alone=alone,
    )


def _failure(index: int, kind: str, value: dict, exc: WebhookRejected) -> ItemFailure:
    return ItemFailure(index=index, kind=kind, value=value, error=exc.reason, rejected=True)


def parse_messages(value) -> Messages:
    value = r.as_obj(value, "value")
    r.check_tree(value)
    metadata = r.obj(value, "metadata", "value", required=True)
    phone_id = r.ident(metadata, "phone_number_id", "value.metadata", required=True)
    display = r.ident(metadata, "display_phone_number", "value.metadata", max_len=32) or ""
    envelope = {k: value[k] for k in ("messaging_product", "metadata") if k in value}
    rejected: list[ItemFailure] = []
    contacts: list[Contact] = []
    raw_contacts = r.items(value, "contacts", "value")
    for index, item in enumerate(raw_contacts):
        try:
            contacts.append(_contact(item, f"value.contacts[{index}]"))
        except WebhookRejected as exc:
            rejected.append(_failure(index, "contact", {**envelope, "contacts": [item]}, exc))
    statuses = []
    for index, item in enumerate(r.items(value, "statuses", "value")):
        alone = {**envelope, "statuses": [item]}
        try:
            statuses.append(_status(item, f"value.statuses[{index}]", index, alone))
        except WebhookRejected as exc:
            rejected.append(_failure(index, "status", alone, exc))
    inbound = []
    for index, item in enumerate(r.items(value, "messages", "value")):
        alone = {**envelope, "contacts": raw_contacts, "messages": [item]}
        try:
            inbound.append(_inbound(item, f"value.messages[{index}]", index, contacts, alone))
        except WebhookRejected as exc:
            rejected.append(_failure(index, "message", alone, exc))
    errors = []
    for index, item in enumerate(r.items(value, "errors", "value")):
        try:
            errors.append(_error(item, f"value.errors[{index}]"))
        except WebhookRejected as exc:
            rejected.append(_failure(index, "error", {**envelope, "errors": [item]}, exc))
    return Messages(
        phone_number_id=phone_id,
        display_phone_number=display,
        contacts=tuple(contacts),
        statuses=tuple(statuses),
        inbound=tuple(inbound),
        errors=tuple(errors),
        rejected=tuple(rejected),
    )


# --- user_preferences -------------------------------------------------------------------------


@dataclass(frozen=True)
class Preference:
    """A user stopping or resuming a category of messages (`value`: stop / resume)."""

    index: int
    wa_id: str  # digits; "" when only a BSUID is known
    user_id: str | None
    category: str  # marketing_messages (missing reads as marketing)
    choice: meta.PreferenceChoice
    raw_choice: str
    at: datetime | None = None
    stated_unix: int | None = None  # Meta's own timestamp: the user's statement, for dedupe
    detail: str = ""
    name: str = ""
    alone: dict = field(default_factory=dict, compare=False)

    @property
    def is_marketing(self) -> bool:
        return self.category.startswith("marketing")


@dataclass(frozen=True)
class UserPreferences:
    items: tuple[Preference, ...] = ()
    rejected: tuple[ItemFailure, ...] = ()


_CHOICE_KEYS = ("value", "preference", "status", "action")
_WA_ID_KEYS = ("wa_id", "from", "recipient_id")


def parse_user_preferences(value) -> UserPreferences:
    """Meta's `user_preferences[]` (meta-platform §4.10, §7); also read as BSPs forward it: one
    object under `user_preferences` or `preferences`, or the value itself as the only item;
    the user under `wa_id`, `from` or `recipient_id` (else the only `contacts[].wa_id`), the
    choice under `value`, `preference`, `status` or `action`."""
    value = r.as_obj(value, "value")
    r.check_tree(value)
    key = "user_preferences" if "user_preferences" in value else "preferences"
    listed = value.get(key)
    if isinstance(listed, dict):
        listed = [listed]
    elif listed is None:
        listed, key = [value], ""
    elif not isinstance(listed, list):
        raise r.reject(f"value.{key}", f"expected a list, got {r.kind_of(listed)}")
    contacts, rejected = [], []
    raw_contacts = r.items(value, "contacts", "value")
    for index, item in enumerate(raw_contacts):
        try:
            contacts.append(_contact(item, f"value.contacts[{index}]"))
        except WebhookRejected as exc:
            rejected.append(_failure(index, "contact", {"contacts": [item]}, exc))
    only = contacts[0].wa_id if len(contacts) == 1 else None
    names = {c.wa_id: c.name for c in contacts if c.wa_id}
    items = []
    for index, item in enumerate(listed):
        path = f"value.{key}[{index}]" if key else "value"
        alone = {"contacts": raw_contacts, "user_preferences": [item]}
        try:
            items.append(_preference(item, path, index, only, names, alone))
        except WebhookRejected as exc:
            rejected.append(_failure(index, "preference", alone, exc))
    return UserPreferences(items=tuple(items), rejected=tuple(rejected))


def _preference(
    item, path: str, index: int, only: str | None, names: dict, alone: dict
) -> Preference:
    item = r.as_obj(item, path)
    wa_id = next((w for k in _WA_ID_KEYS if (w := r.ident(item, k, path, max_len=WA_ID_MAX))), only)
    digits = "".join(ch for ch in wa_id or "" if ch.isdigit())
    choice_key = next((k for k in _CHOICE_KEYS if item.get(k)), "value")
    choice, raw_choice = r.token(item, choice_key, path, meta.PreferenceChoice, max_len=40)
    at = r.unix_time(item, "timestamp", path)
    return Preference(
        index=index,
        wa_id=digits,
        user_id=_bsuid(item, "user_id", path),
        category=r.text(item, "category", path, max_len=40).lower() or "marketing_messages",
        choice=choice,
        raw_choice=raw_choice.lower(),
        at=at,
        stated_unix=int(at.timestamp()) if at else None,
        detail=r.text(item, "detail", path, max_len=DETAIL_MAX),
        name=names.get(wa_id, "") if wa_id else "",
        alone=alone,
    )


# --- user_id_update ---------------------------------------------------------------------------


@dataclass(frozen=True)
class UserIdChange:
    """A user's BSUID regenerated (`user_id_update[]`: previous → current), phone if known."""

    index: int
    previous: str
    current: str
    wa_id: str = ""  # digits; "" when Meta withholds the phone
    at: datetime | None = None
    alone: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class UserIdUpdates:
    items: tuple[UserIdChange, ...] = ()
    rejected: tuple[ItemFailure, ...] = ()


def parse_user_id_update(value) -> UserIdUpdates:
    """`user_id_update` (meta-platform §7): described by Meta from Mar 2026, then said not to be
    a subscribable field (Aug 2026); some BSPs still forward it. Accepted, never relied on: the
    `system` messages of `messages` carry the same change."""
    value = r.as_obj(value, "value")
    r.check_tree(value)
    envelope = {k: value[k] for k in ("messaging_product", "metadata", "contacts") if k in value}
    items, rejected = [], []
    for index, item in enumerate(r.items(value, "user_id_update", "value")):
        path = f"value.user_id_update[{index}]"
        alone = {**envelope, "user_id_update": [item]}
        try:
            items.append(_user_id_change(item, path, index, alone))
        except WebhookRejected as exc:
            rejected.append(_failure(index, "user_id_update", alone, exc))
    return UserIdUpdates(items=tuple(items), rejected=tuple(rejected))


def _user_id_change(item, path: str, index: int, alone: dict) -> UserIdChange:
    item = r.as_obj(item, path)
    ids = r.obj(item, "user_id", path, required=True)
    previous = _bsuid(ids, "previous", f"{path}.user_id")
    current = _bsuid(ids, "current", f"{path}.user_id")
    if not previous or not current:
        raise r.reject(f"{path}.user_id", "needs both previous and current")
    wa_id = r.ident(item, "wa_id", path, max_len=WA_ID_MAX) or ""
    return UserIdChange(
        index=index,
        previous=previous,
        current=current,
        wa_id="".join(ch for ch in wa_id if ch.isdigit()),
        at=r.unix_time(item, "timestamp", path),
        alone=alone,
    )
