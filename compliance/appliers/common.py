"""What the compliance appliers share: the account a change is about, number lookup by
display number, labels."""

from __future__ import annotations

import re

from compliance.choices import EventSource
from compliance.models import PhoneNumber, WhatsAppAccount

WEBHOOK = EventSource.WEBHOOK


def account_for_change(meta_id: str) -> WhatsAppAccount:
    """The client's account for a WABA id a routed change names (created on first sight: the
    route says the WABA is this client's)."""
    account, _ = WhatsAppAccount.objects.get_or_create(meta_id=meta_id)
    return account


def digits(text: str) -> str:
    return re.sub(r"\D", "", text or "")


def number_by_display(account: WhatsAppAccount, display: str) -> PhoneNumber | None:
    wanted = digits(display)
    if not wanted:
        return None
    for number in account.numbers.all():
        if digits(number.display_phone_number) == wanted:
            number.account = account
            return number
    return None


def label(enum_value: str) -> str:
    return str(enum_value).replace("_", " ")
