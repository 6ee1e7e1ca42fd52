"""What the compliance appliers share: the account a change is about, number lookup by
display number, labels."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from compliance.choices import EventSource
from compliance.models import PhoneNumber, WhatsAppAccount

WEBHOOK = EventSource.WEBHOOK

_kept = threading.local()


def account_for_change(meta_id: str) -> WhatsAppAccount:
    """The client's account for a WABA id a routed change names (created on first sight: the
    route says the WABA is this client's). Inside `accounts_kept_for_group`, read once."""
    accounts = getattr(_kept, "accounts", None)
    if accounts is not None and meta_id in accounts:
        account = accounts[meta_id]
        # Its own row is what the appliers wrote; what it refers to (the portfolio) may have
        # been written through another instance since, so that is read again when used.
        account._state.fields_cache.clear()
        return account
    account, _ = WhatsAppAccount.objects.get_or_create(meta_id=meta_id)
    if accounts is not None:
        accounts[meta_id] = account
    return account


@contextmanager
def accounts_kept_for_group() -> Iterator[None]:
    """Inside, `account_for_change` answers each WABA id with the instance it read first.

    The pipeline applies a client group's changes in one transaction with no savepoint between
    them, and the appliers write the account through the instance they were given (state with
    `save(update_fields=...)`, account events through a locked copy they mirror back), so the
    kept instance holds what the database holds. Read per change, the account was a query for
    each (a tenth of a drain's time). A group that raises is applied again change by change,
    outside this scope, from fresh reads.
    """
    if getattr(_kept, "accounts", None) is not None:
        yield
        return
    _kept.accounts, _kept.directories = {}, {}
    try:
        yield
    finally:
        _kept.accounts = _kept.directories = None


def digits(text: str) -> str:
    return re.sub(r"\D", "", text or "")


def number_by_display(account: WhatsAppAccount, display: str) -> PhoneNumber | None:
    """The account's number with these digits, read now (None if the sync has not seen it).

    Inside `accounts_kept_for_group`, which number has which digits is read once per account
    (only the sync creates numbers or changes their display number): a change about a number
    the portal does not know costs no query, and one about a known number reads only that
    number, fresh, since other appliers write numbers through querysets."""
    wanted = digits(display)
    if not wanted:
        return None
    directories = getattr(_kept, "directories", None)
    if directories is None:
        for number in account.numbers.all():
            if digits(number.display_phone_number) == wanted:
                number.account = account
                return number
        return None
    directory = directories.get(account.pk)
    if directory is None:
        directory = directories[account.pk] = {}
        for pk, shown in account.numbers.values_list("pk", "display_phone_number"):
            directory.setdefault(digits(shown), pk)  # the first in the account's order, as above
    pk = directory.get(wanted)
    number = PhoneNumber.objects.filter(pk=pk).first() if pk is not None else None
    if number is not None:
        number.account = account
    return number


def label(enum_value: str) -> str:
    return str(enum_value).replace("_", " ")
