"""Reads for the consent pages (inside the client's schema)."""

from __future__ import annotations

import contextlib

from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

from compliance.choices import ConsentCategory, ConsentStatus
from compliance.consent import contact_normalize
from compliance.models import ConsentEvent, ConsentState, Contact


def contacts_search(*, q: str, default_region: str | None) -> QuerySet[Contact]:
    """Contacts whose number (any way written) or name matches `q` (their states for a page of
    them: `states_by_contact`)."""
    contacts = Contact.objects.order_by("phone")
    q = q.replace("\x00", "").strip()  # PostgreSQL text cannot hold NUL
    if not q:
        return contacts
    match = Q(name__icontains=q) | Q(bsuid=q) | Q(username=q.removeprefix("@"))
    digits = "".join(ch for ch in q if ch.isdigit())
    if digits:
        match |= Q(phone__contains=digits)
        with contextlib.suppress(ValueError):
            match |= Q(phone=contact_normalize(q, default_region=default_region))
    return contacts.filter(match)


def states_by_category(contact: Contact) -> list[tuple[str, str, str]]:
    """(category label, status, status label) for every category, unknown where none."""
    return _category_states({s.category: s.status for s in contact.states.all()})


def states_by_contact(*, contacts: list[Contact]) -> dict[int, list[tuple[str, str, str]]]:
    """`states_by_category` of each of a page of contacts, in one query of plain values (a
    prefetch built a model and a queryset a state: a third of the contact list's time)."""
    have: dict[int, dict[str, str]] = {contact.pk: {} for contact in contacts}
    rows = ConsentState.objects.filter(contact__in=list(have)).values_list(
        "contact_id", "category", "status"
    )
    for contact_id, category, status in rows:
        have[contact_id][category] = status
    return {pk: _category_states(states) for pk, states in have.items()}


def _category_states(have: dict[str, str]) -> list[tuple[str, str, str]]:
    labels = dict(ConsentStatus.choices)
    return [
        (label, have.get(value, ConsentStatus.UNKNOWN), labels[have.get(value, "unknown")])
        for value, label in ConsentCategory.choices
    ]


def contact_with_history(*, phone: str, default_region: str | None) -> Contact:
    """The contact by number (E.164 or national) or BSUID, its states and history newest first;
    or 404."""
    from compliance.identity import looks_like_bsuid

    if looks_like_bsuid(phone):
        found = Q(bsuid=phone.strip())
    else:
        try:
            found = Q(phone=contact_normalize(phone, default_region=default_region))
        except ValueError:
            raise Http404("No such contact.") from None
    contact = (
        Contact.objects.filter(found)
        .prefetch_related(
            "states",
            Prefetch(
                "consent_events", queryset=ConsentEvent.objects.order_by("-occurred_at", "-id")
            ),
        )
        .first()
    )
    if contact is None:
        raise Http404("No such contact.")
    return contact


IMPORT_ERRORS_SHOWN = 50


def import_errors_head(job, *, limit: int = IMPORT_ERRORS_SHOWN) -> list[list[str]]:
    """The first rows (row, column, reason) of a finished import's error report, to read on
    the page; the whole report stays a download."""
    import csv
    import io

    if not job.is_finished or not job.errors_file or not job.rows_invalid:
        return []
    with job.errors_file.open("rb") as stored:
        text = io.TextIOWrapper(stored, encoding="utf-8", newline="")
        reader = csv.reader(text)
        next(reader, None)  # the header
        rows = []
        for record in reader:
            rows.append(record)
            if len(rows) >= limit:
                break
        text.detach()
    return rows
