"""CSV export of consent: the state per contact and category with the evidence that decided it,
or the whole history. Streamed from a server-side cursor, so a large client does not fill memory.

Spreadsheets run a cell that starts with = + - @ (or a tab or carriage return) as a formula, and
people type whatever they like into forms we record; every such cell gets a leading apostrophe
(`csv_safe`). The importer strips that apostrophe from phone numbers, so an export imports back.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.db import connections

from compliance.models import ConsentEvent, ConsentState, Contact
from portal.db import replica_for_reads

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FETCH = 2000

# The evidence of a consent event, as the export writes it and the import reads it back.
EVIDENCE_COLUMNS = ("wording", "wording_version", "page_url", "ip_address", "user_agent", "channel")
# `bsuid` and `username` last: the contact's WhatsApp user id and username (empty when only the
# phone is known; a contact known only by its BSUID has an empty phone). The import reads both.
STATE_COLUMNS = [
    *("phone", "name", "category", "status", "since", "kind", "source"),
    *EVIDENCE_COLUMNS,
    *("actor", "recorded_at", "bsuid", "username"),
]
HISTORY_COLUMNS = [
    *("phone", "name", "category", "kind", "source", "occurred_at"),
    *EVIDENCE_COLUMNS,
    *("actor", "recorded_at", "bsuid", "username"),
]
KINDS = {"state": STATE_COLUMNS, "history": HISTORY_COLUMNS}


def csv_safe(value: object) -> str:
    """The cell's text, with a leading apostrophe where a spreadsheet would see a formula."""
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


class _Line:
    """A file-like object whose write returns the text, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def _sql(kind: str) -> str:
    contact_t = Contact._meta.db_table
    event_t = ConsentEvent._meta.db_table
    state_t = ConsentState._meta.db_table
    if kind == "state":
        return (
            f"SELECT c.phone, c.name, s.category, s.status, s.updated_at, e.kind, e.source,"  # noqa: S608 (table names and fixed SQL; values are parameters)
            f" e.wording, e.wording_version, e.page_url, host(e.ip_address), e.user_agent,"
            f" e.channel, e.actor_label, e.recorded_at, c.bsuid, c.username"
            f" FROM {state_t} s JOIN {contact_t} c ON c.id = s.contact_id"
            f" LEFT JOIN LATERAL (SELECT * FROM {event_t} x"
            f"  WHERE x.contact_id = s.contact_id AND x.category = s.category"
            f"  ORDER BY x.occurred_at DESC, x.id DESC LIMIT 1) e ON true"
            f" ORDER BY c.phone, c.bsuid, s.category"
        )
    return (
        f"SELECT c.phone, c.name, e.category, e.kind, e.source, e.occurred_at, e.wording,"  # noqa: S608 (table names and fixed SQL; values are parameters)
        f" e.wording_version, e.page_url, host(e.ip_address), e.user_agent, e.channel,"
        f" e.actor_label, e.recorded_at, c.bsuid, c.username"
        f" FROM {event_t} e JOIN {contact_t} c ON c.id = e.contact_id"
        f" ORDER BY c.phone, c.bsuid, e.occurred_at, e.id"
    )


def consent_csv_lines(*, kind: str = "state") -> Iterator[str]:
    """The export as CSV text, a few thousand rows per piece (header first)."""
    if kind not in KINDS:
        raise ValueError(f"Unknown export {kind!r}; use state or history.")
    writer = csv.writer(_Line())
    yield writer.writerow(KINDS[kind])
    # The read replica when it is current enough (portal/db.py): an audit export is a big read.
    with connections[replica_for_reads()].chunked_cursor() as cursor:
        cursor.execute(_sql(kind))
        while True:
            rows = cursor.fetchmany(FETCH)
            if not rows:
                break
            yield "".join(writer.writerow([csv_safe(v) for v in row]) for row in rows)
