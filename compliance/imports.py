"""CSV import of opt-ins and opt-outs: upload, then a Celery job that streams the file.

The file's first row names the columns (any order, any case): `category` and `action` are
required, with at least one identifier column: `phone`, `bsuid` (Meta's business-scoped user id;
`user_id` is read as `bsuid`) or `username`; `occurred_at`, `source`, `name`, `wording`,
`wording_version`, `page_url`, `ip_address`, `user_agent` and `channel` are optional. A row names
its person by any of its identifiers (`compliance.identity`): one that Meta has linked to another
contact's (a phone and the BSUID a webhook brought) lands on that contact. Rows are numbered as a
spreadsheet shows them (the header is row 1).

Each row is validated in Python (the phone number with phonenumbers and the client's default
region, BSUIDs and usernames to Meta's formats; the rest by rule). Valid rows go to the database
in chunks: the contacts of rows with a BSUID or username are resolved for the whole chunk at
once (`_contacts_for_identities`), then COPY into a temporary table, then one set-based
INSERT … ON CONFLICT each into contacts (rows with a phone only), the consent history and the
consent state. A history row's dedupe key is derived from the row's content, so importing the
same file again (or the same rows in another file) adds nothing and changes nothing. Rejected
rows are listed in the error report (row, column, reason), every valid row is kept.
"""

from __future__ import annotations

import csv
import hashlib
import io
import ipaddress
import logging
import os
import pickle
import queue
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.files import File
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from compliance.choices import ConsentCategory, ConsentKind, ConsentSource, ImportState
from compliance.consent import META_SOURCES, contact_normalize
from compliance.e164 import e164_certain
from compliance.exports import EVIDENCE_COLUMNS, csv_safe
from compliance.identity import bsuid_validate, username_validate
from compliance.models import ConsentEvent, ConsentImport, ConsentState, Contact
from portal.audit.services import audit_record
from tenants.selectors import current_client

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("category", "action")
IDENTITY_COLUMNS = ("phone", "bsuid", "username")  # at least one
OPTIONAL_COLUMNS = ("occurred_at", "source", "name", *EVIDENCE_COLUMNS)
# (`RowValidator.rows` unpacks the cells in this order)
COLUMNS = ("phone", *REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, "bsuid", "username")
COLUMN_ALIASES = {"user_id": "bsuid"}  # Meta's webhook field for the BSUID
COLUMNS_HELP = (
    f"UTF-8 CSV. Columns: {', '.join(REQUIRED_COLUMNS)} and at least one of "
    f"{', '.join(IDENTITY_COLUMNS)} (required); {', '.join(OPTIONAL_COLUMNS)}."
)
CHUNK_ROWS = 25_000  # progress is written (and a chunk committed) every CHUNK_ROWS rows
# A queued or running job with no progress this long is sent again (`consent_imports_stale`).
STALE_AFTER = timedelta(minutes=2)
SCHEMAS_PER_QUERY = 500
MAX_UPLOAD_BYTES = 500 * 1024 * 1024
PHONE_CACHE_LIMIT = 500_000
# Files from this size have their distinct numbers parsed first, in worker processes.
READ_AHEAD_MIN_BYTES = 4 * 1024 * 1024
READ_AHEAD_MAX_NUMBERS = 2_000_000
# ... when at least this share of the distinct numbers in the first READ_AHEAD_SAMPLE_ROWS rows
# needs phonenumbers (`e164.e164_certain` cannot vouch for them). The fast path costs a few
# microseconds a number in the importing process, hidden behind the database's writes (the
# import's time); the read-ahead is a pass over the whole file before the first write.
READ_AHEAD_SAMPLE_ROWS = 5_000
READ_AHEAD_MIN_HARD_SHARE = 0.02
PHONE_PROCESSES = 2
ALL = "all"
CATEGORIES = frozenset(ConsentCategory.values)
ACTIONS = {
    "opt_in": ConsentKind.OPT_IN.value,
    "opt-in": ConsentKind.OPT_IN.value,
    "optin": ConsentKind.OPT_IN.value,
    "opt in": ConsentKind.OPT_IN.value,
    "opt_out": ConsentKind.OPT_OUT.value,
    "opt-out": ConsentKind.OPT_OUT.value,
    "optout": ConsentKind.OPT_OUT.value,
    "opt out": ConsentKind.OPT_OUT.value,
}
SOURCES = frozenset(s for s in ConsentSource.values if s not in META_SOURCES)
LIMITS = {"name": 200, "wording_version": 50, "page_url": 500, "channel": 50}
FUTURE_SLACK = timedelta(minutes=5)
STAGING_COLUMNS = (
    *("row", "phone", "name", "category", "kind", "source", "occurred_at"),
    *EVIDENCE_COLUMNS,
    *("dedupe_key", "bsuid", "username", "contact_id"),
)
# COPY in binary: nothing for the server to parse (the address is cast once, on insert)
STAGING_TYPES = ("int4", *["text"] * 5, "timestamptz", *["text"] * 9, "int8")
DEDUPE_PREFIX = "consent-import"


class ImportRejected(ValueError):
    """The upload cannot be imported at all (not CSV, no header, a required column missing)."""


DELIMITERS = (",", ";", "\t")


def delimiter_of(first_line: str) -> str:
    """Comma, or the semicolon or tab a spreadsheet in some locales saves CSV with."""
    return max(DELIMITERS, key=first_line.count)


def header_columns(first_line: str) -> list[str]:
    """The header row's names, normalised: " Phone Number" becomes "phone_number", and
    "user_id" (Meta's name) "bsuid"."""
    names = next(csv.reader([first_line], delimiter=delimiter_of(first_line)), [])
    columns = [n.strip().lower().replace(" ", "_") for n in names]
    return [
        alias if (alias := COLUMN_ALIASES.get(name)) and alias not in columns else name
        for name in columns
    ]


def header_check(columns: list[str]) -> None:
    required = [name for name in REQUIRED_COLUMNS if name not in columns]
    missing = [", ".join(required)] if required else []
    if not any(name in columns for name in IDENTITY_COLUMNS):
        missing.insert(0, "a phone, bsuid or username column")
    if missing:
        one = len(missing) == 1 and len(required) <= 1
        raise ImportRejected(
            f"The first row must name the columns; {' and '.join(missing)} "
            f"{'is' if one else 'are'} missing. Required: "
            f"{', '.join(REQUIRED_COLUMNS)} and at least one of {', '.join(IDENTITY_COLUMNS)}; "
            f"optional: {', '.join(OPTIONAL_COLUMNS)}."
        )


def consent_import_create(*, upload: Any, actor: Any = None) -> ConsentImport:
    """Store the uploaded CSV for this client and queue the job that applies it.

    Raises ImportRejected when the file is empty, too big, not UTF-8 text or has no header with
    the required columns; nothing is stored then.
    """
    size = getattr(upload, "size", None) or 0
    if size == 0:
        raise ImportRejected("The file is empty.")
    if size > MAX_UPLOAD_BYTES:
        raise ImportRejected(
            f"The file is {size // (1024 * 1024)} MB; the limit is "
            f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB. Split it into several files."
        )
    upload.seek(0)
    first = upload.readline()
    try:
        header = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRejected("The file is not UTF-8 text; save it as CSV UTF-8.") from None
    header_check(header_columns(header))
    upload.seek(0)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    name = str(getattr(upload, "name", "") or "import.csv")[-255:]
    job = ConsentImport(
        original_name=name,
        size_bytes=size,
        sha256=digest.hexdigest(),
        requested_by=actor
        if getattr(actor, "_meta", None) and getattr(actor, "pk", None)
        else None,
        actor_label=str(actor)[:200] if actor is not None else "",
    )
    with transaction.atomic():
        job.file.save(name, File(upload), save=False)
        job.save()
        audit_record(
            action="consent.import_create",
            actor=actor,
            client=current_client(),
            target=job,
            after={"file": name, "bytes": size, "sha256": job.sha256},
        )
        schema = connection.schema_name
        # robust: with the broker down the upload still succeeds; the sweeper sends it later
        transaction.on_commit(
            lambda: consent_import_queue(import_id=job.pk, schema=schema), robust=True
        )
    return job


# --- Validation -------------------------------------------------------------------------------


class PhoneReader:
    """E.164 for a raw number, parsed once per distinct text (imports repeat numbers)."""

    def __init__(self, region: str | None) -> None:
        self.region = (region or "").upper() or None
        self.cache: dict[str, str] = {}
        self.limit: int | None = PHONE_CACHE_LIMIT  # None: read ahead, never emptied

    def __call__(self, raw: str) -> str:
        """The E.164 form (starts with "+"), or the reason it is not valid (never starts so)."""
        found = self.cache.get(raw)
        if found is None:
            found = self._read(raw)
            if self.limit is not None and len(self.cache) >= self.limit:
                self.cache.clear()
            self.cache[raw] = found
        return found

    def read_ahead(self, texts: list[str]) -> None:
        """Parse these numbers now, in PHONE_PROCESSES forked processes (phonenumbers is most
        of an import's work, and it is CPU-bound Python: threads would share one core). Plain
        fork, not multiprocessing: a Celery pool process is daemonic and may not start
        multiprocessing children. A child only computes and leaves by os._exit (no database,
        no cleanup); what a failed child had is parsed here instead."""
        parts = [texts[i::PHONE_PROCESSES] for i in range(PHONE_PROCESSES)]
        children = []
        for part in parts:
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:  # the child
                code = 1
                try:
                    os.close(read_fd)
                    with os.fdopen(write_fd, "wb") as out:
                        pickle.dump(_read_phones(part, self.region), out, protocol=5)
                    code = 0
                finally:
                    os._exit(code)
            os.close(write_fd)
            children.append((pid, read_fd, part))
        for pid, read_fd, part in children:
            with os.fdopen(read_fd, "rb") as answers:
                data = answers.read()
            _, status = os.waitpid(pid, 0)
            found = pickle.loads(data) if status == 0 and data else None  # noqa: S301 (ours)
            if found is None or len(found) != len(part):
                logger.warning("phone read-ahead: a child failed; parsing its share here")
                found = _read_phones(part, self.region)
            self.cache.update(zip(part, found, strict=True))
        self.limit = None

    def _read(self, text: str) -> str:
        try:
            return contact_normalize(text, default_region=self.region)
        except ValueError as exc:
            return str(exc)


def _read_phones(texts: list[str], region: str | None) -> list[str]:
    """In a worker process: PhoneReader's answer for each text."""
    reader = PhoneReader(region)
    return [reader._read(text) for text in texts]


def raw_phone(cell: str) -> str:
    """The number as written, for PhoneReader."""
    cell = cell.strip()
    return cell[1:] if cell.startswith("'") else cell  # our export guards cells starting "+"


@dataclass
class Counts:
    rows: int = 0
    valid: int = 0
    invalid: int = 0
    created: int = 0
    unchanged: int = 0
    contacts: int = 0


class RowValidator:
    """Turns a CSV record into staging rows, or into (column, reason) errors."""

    def __init__(self, *, columns: list[str], region: str | None, now: datetime) -> None:
        self.width = len(columns)
        # Each record gets one empty cell appended; an absent column reads that cell.
        self.at = tuple(columns.index(name) if name in columns else self.width for name in COLUMNS)
        self.phone = PhoneReader(region)
        # a blank phone is only "no identifier" when the file has other identifier columns
        self.other_identifiers = "bsuid" in columns or "username" in columns
        self.bsuids: dict[str, tuple[str | None, str]] = {}  # text: (BSUID, or None and why)
        self.usernames: dict[str, tuple[str | None, str]] = {}
        self.ips: dict[str, str] = {}  # "" for text that is not an address
        self.nul_free = False  # set when the whole file is known to hold no NUL character
        self.latest = now + FUTURE_SLACK

    def rows(self, row: int, record: list[str]) -> tuple[list[tuple], list[tuple[str, str]]]:
        # (the hot loop of an import: plain locals, no per-row dicts)
        width = self.width
        if len(record) != width:
            record = record[:width] + [""] * (width - len(record))
        record.append("")
        (
            at_phone,
            at_category,
            at_action,
            at_occurred,
            at_source,
            at_name,
            at_wording,
            at_version,
            at_url,
            at_ip,
            at_agent,
            at_channel,
            at_bsuid,
            at_username,
        ) = self.at
        errors: list[tuple[str, str]] = []

        given_phone = raw_phone(record[at_phone])
        given_bsuid = record[at_bsuid].strip()
        given_username = record[at_username].strip()
        phone: str | None = None
        if given_phone or not (given_bsuid or given_username):
            phone = self.phone(given_phone)
            if phone[0] != "+":
                if given_phone or not self.other_identifiers:
                    errors.append(("phone", phone))
                else:
                    errors.append(("phone", NO_IDENTIFIER))
                phone = None
        bsuid = username = None
        if given_bsuid:
            bsuid, reason = _checked(self.bsuids, bsuid_validate, given_bsuid)
            if reason:
                errors.append(("bsuid", reason))
        if given_username:
            username, reason = _checked(self.usernames, username_validate, given_username)
            if reason:
                errors.append(("username", reason))

        kind = ACTIONS.get(record[at_action].strip().lower())
        if kind is None:
            errors.append(
                ("action", f"{record[at_action]!r} is not an action; use opt_in or opt_out.")
            )

        category = record[at_category].strip().lower()
        if category in CATEGORIES:
            categories: tuple[str, ...] = (category,)
        elif category == ALL and kind != ConsentKind.OPT_IN:
            categories = tuple(ConsentCategory.values)
        elif category == ALL:
            categories = ()
            errors.append(("category", "Consent is given per category; opt_in needs one."))
        else:
            categories = ()
            errors.append(
                (
                    "category",
                    f"{record[at_category]!r} is not a category; use marketing, utility, "
                    "authentication (or all, for an opt-out).",
                )
            )

        source = record[at_source].strip().lower() or ConsentSource.IMPORT.value
        if source not in SOURCES:
            errors.append(
                (
                    "source",
                    f"{record[at_source]!r} is not a source; use one of "
                    f"{', '.join(sorted(SOURCES))}.",
                )
            )

        occurred_at = None
        given = record[at_occurred].strip()
        if given:
            try:
                occurred_at = datetime.fromisoformat(given)
            except ValueError:
                errors.append(
                    (
                        "occurred_at",
                        f"{given!r} is not a date and time; use ISO 8601, "
                        "e.g. 2025-03-01T14:30:00+00:00.",
                    )
                )
            else:
                try:
                    occurred_at = (
                        occurred_at.replace(tzinfo=UTC)
                        if occurred_at.tzinfo is None
                        else occurred_at.astimezone(UTC)
                    )
                except OverflowError:  # e.g. year 1 at +14:00 is before year 1 in UTC
                    occurred_at = None
                    errors.append(
                        ("occurred_at", f"{given!r} is not a date and time we can store.")
                    )
                else:
                    if occurred_at > self.latest:
                        errors.append(("occurred_at", f"{given!r} is in the future."))

        name = record[at_name].strip()
        wording = record[at_wording].strip()
        version = record[at_version].strip()
        page_url = record[at_url].strip()
        agent = record[at_agent].strip()
        channel = record[at_channel].strip()
        for column, value in (
            ("name", name),
            ("wording_version", version),
            ("page_url", page_url),
            ("channel", channel),
        ):
            if len(value) > LIMITS[column]:
                errors.append((column, f"Longer than {LIMITS[column]} characters."))
        if page_url and not page_url.lower().startswith(("http://", "https://")):
            errors.append(("page_url", f"{page_url!r} is not a web address (http:// or https://)."))

        ip = None
        given = record[at_ip].strip()
        if given:
            ip = self.ips.get(given)
            if ip is None:
                try:
                    ip = str(ipaddress.ip_address(given))
                except ValueError:
                    ip = ""
                if len(self.ips) >= PHONE_CACHE_LIMIT:
                    self.ips.clear()
                self.ips[given] = ip
            if not ip:
                errors.append(("ip_address", f"{given!r} is not an IP address."))

        if not self.nul_free and "\x00" in "".join(record):  # PostgreSQL text cannot hold NUL
            errors.extend(
                (column, "Contains a NUL character, which cannot be stored.")
                for column, at in zip(COLUMNS, self.at, strict=True)
                if "\x00" in record[at]
            )
        if errors:
            return [], errors
        # the row's content is its identity (`dedupe_key`): the same row imported again is the
        # same event
        when = repr(occurred_at.timestamp()) if occurred_at else ""
        evidence = (wording, version, page_url, ip, agent, channel)
        who = (DEDUPE_PREFIX, phone, bsuid, username)
        what = (kind, source, when, wording, version, page_url, ip or "", agent, channel)
        # (the contact id, last, is filled in by the writer for rows with a BSUID or username)
        staged = [
            (
                *(row, phone, name, c, kind, source, occurred_at, *evidence),
                *(dedupe_key((*who, c, *what)), bsuid, username, None),
            )
            for c in categories
        ]
        return staged, errors


def dedupe_key(parts: tuple[str | None, ...]) -> str:
    """A history row's dedupe key: sha256 (hex) of its parts joined by \\x1f (DEDUPE_PREFIX, the
    identifiers, category, kind, source, the time as Python's repr of its POSIX timestamp or "",
    the evidence with a missing address as ""). Absent identifiers (None, not "") are skipped,
    as PostgreSQL's concat_ws skipped NULLs when the database computed the key: a row without a
    BSUID or username keeps the key it had before those columns were read, so re-importing an
    older file still adds nothing. Computed in the parsing thread, which waits on the database
    anyway: the database's time is the import's (a test holds it to the SQL it replaces)."""
    return hashlib.sha256("\x1f".join(p for p in parts if p is not None).encode()).hexdigest()


NO_IDENTIFIER = "Give a phone number, a WhatsApp user id (bsuid) or a username."


def _checked(cache: dict, validate, text: str) -> tuple[str | None, str]:
    """`validate(text)` as (value, "") or (None, the reason), once per distinct text."""
    found = cache.get(text)
    if found is None:
        try:
            found = (validate(text), "")
        except ValueError as exc:
            found = (None, str(exc))
        if len(cache) >= PHONE_CACHE_LIMIT:
            cache.clear()
        cache[text] = found
    return found


# --- Writing ----------------------------------------------------------------------------------


def _write_chunk(
    *,
    rows: list[tuple],
    job: ConsentImport,
    default_time: datetime,
    progress: dict,
    staged: Callable[[], None] | None = None,
) -> Counts:
    """COPY the rows into a temporary table, then two set-based statements, and the job's
    progress (`progress`: its fields, this chunk's figures added) in the same transaction: what
    the job row says was done is exactly what is committed, so a killed job resumes from it.
    `staged` is called once the rows are in the temporary table."""
    counts = Counts()
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        if rows:
            counts = _insert_rows(cursor, rows, job, default_time, now, staged)
            counts.unchanged = len(rows) - counts.created
        fields = {
            **progress,
            "events_created": progress["events_created"] + counts.created,
            "events_unchanged": progress["events_unchanged"] + counts.unchanged,
            "contacts_created": progress["contacts_created"] + counts.contacts,
            "progress_at": now,
        }
        ConsentImport.objects.filter(pk=job.pk).update(**fields)
    return counts


def _insert_rows(cursor, rows: list[tuple], job, default_time, now, staged=None) -> Counts:
    counts = Counts()
    contact_t = Contact._meta.db_table
    event_t = ConsentEvent._meta.db_table
    state_t = ConsentState._meta.db_table
    # A crash of the database can lose the last few chunks, but never a chunk without the ones
    # before it (the log is sequential), and the job's progress is lost with its chunk.
    cursor.execute("SET LOCAL synchronous_commit TO off")
    cursor.execute("SET LOCAL work_mem TO '64MB'")  # the chunk's sorts stay in memory
    # (named for its columns: a pooled server connection may still hold an older release's)
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS consent_import_rows_v3 ("
        " row integer, phone text, name text, category text, kind text, source text,"
        " occurred_at timestamptz, wording text, wording_version text, page_url text,"
        " ip_address text, user_agent text, channel text, dedupe_key text,"
        " bsuid text, username text, contact_id bigint)"
        " ON COMMIT DELETE ROWS"
    )
    rows, counts.contacts = _contacts_for_identities(rows, now)
    raw = cursor.cursor  # psycopg's own cursor, for COPY
    with raw.copy(
        f"COPY consent_import_rows_v3 ({', '.join(STAGING_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(STAGING_TYPES)
        write = copy.write_row
        for item in rows:
            write(item)
    if staged is not None:
        staged()
    # a new contact takes the name of its number's first row (earlier chunks came first); rows
    # with a BSUID or username came with their contact. Numbers already held are left out
    # before the insert: an index probe each, where ON CONFLICT's speculative insert of every
    # known number cost about twice that (most of a big file's numbers after its first chunks).
    cursor.execute(
        f"WITH new AS ("  # noqa: S608 (table names and fixed SQL; values are parameters)
        f" INSERT INTO {contact_t} (phone, wa_id, name, created_at)"
        f" SELECT DISTINCT ON (phone) phone, '', name, %s::timestamptz"
        f" FROM consent_import_rows_v3 r WHERE contact_id IS NULL AND phone IS NOT NULL"
        f"  AND NOT EXISTS (SELECT FROM {contact_t} c WHERE c.phone = r.phone)"
        f" ORDER BY phone, row"
        f" ON CONFLICT (phone) DO NOTHING RETURNING 1)"
        f" SELECT count(*) FROM new",
        [now],
    )
    counts.contacts += cursor.fetchone()[0]
    # The state follows the newest event (ties: the later row); an older one changes nothing.
    cursor.execute(
        f"WITH ins AS ("  # noqa: S608 (table names and fixed SQL; values are parameters)
        f" INSERT INTO {event_t} (contact_id, category, kind, source, wording,"
        f"  wording_version, page_url, ip_address, user_agent, channel, actor_label, data,"
        f"  occurred_at, recorded_at, dedupe_key)"
        f" SELECT r.contact, r.category, r.kind, r.source, r.wording, r.wording_version,"
        f"  r.page_url, r.ip_address::inet, r.user_agent, r.channel, %(actor)s,"
        f"  jsonb_build_object('import', %(job)s::integer, 'row', r.row),"
        f"  coalesce(r.occurred_at, %(default_time)s), %(now)s, r.dedupe_key"
        f" FROM (SELECT r.*, c.id AS contact FROM consent_import_rows_v3 r"
        f"  JOIN {contact_t} c ON c.phone = r.phone WHERE r.contact_id IS NULL"
        f"  UNION ALL SELECT r.*, r.contact_id FROM consent_import_rows_v3 r"
        f"  WHERE r.contact_id IS NOT NULL) r"
        # the file's order: of rows naming one event, the first is the one kept
        f" ORDER BY r.row"
        f" ON CONFLICT (dedupe_key) DO NOTHING"
        f" RETURNING contact_id, category, kind, occurred_at, (data->>'row')::integer AS row),"
        f" states AS ("
        f" INSERT INTO {state_t} (contact_id, category, status, updated_at)"
        f" SELECT DISTINCT ON (contact_id, category) contact_id, category,"
        f"  CASE kind WHEN 'opt_in' THEN 'opted_in' ELSE 'opted_out' END, occurred_at"
        f" FROM ins ORDER BY contact_id, category, occurred_at DESC, row DESC"
        f" ON CONFLICT (contact_id, category) DO UPDATE"
        f"  SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at"
        f"  WHERE {state_t}.updated_at <= EXCLUDED.updated_at"
        f" RETURNING 1)"
        f" SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM states)",
        {
            "actor": job.actor_label,
            "job": job.pk,
            "default_time": default_time,
            "now": now,
        },
    )
    counts.created = cursor.fetchone()[0]
    if connection.in_atomic_block and connection.savepoint_ids:
        # inside a caller's transaction the commit that empties the table is not ours
        cursor.execute("DELETE FROM consent_import_rows_v3")
    return counts


class _Person:
    """A contact as `_contacts_for_identities` replays the chunk: an existing one (`contact`)
    or one to create; `into` is set when it turned out to be another person's."""

    __slots__ = ("bsuid", "contact", "into", "name", "order", "phone", "username")

    def __init__(self, *, contact: Contact | None = None, name: str = "", order: tuple) -> None:
        self.contact = contact
        self.phone = contact.phone if contact else None
        self.bsuid = contact.bsuid if contact else None
        self.username = contact.username if contact else None
        self.name = name
        self.order = order
        self.into: _Person | None = None

    def final(self) -> _Person:
        person = self
        while person.into is not None:
            person = person.into
        return person


IDENTITY_AT = {"phone": 1, "bsuid": -3, "username": -2}  # positions in a staged row


def _contacts_for_identities(rows: list[tuple], now: datetime) -> tuple[list[tuple], int]:
    """The staged rows with their contact id set where the row has a BSUID or username, and
    how many contacts were created for them. Rows with a phone only are left to the set-based
    INSERT … ON CONFLICT (phone).

    Resolves as `compliance.identity.contact_resolve` would row by row (the contact holding any
    of the row's identifiers, the oldest when several do, the others merged into it; identifiers
    it lacks are added; a new contact otherwise, named by its first row), in a constant number of
    statements for the chunk: one read of the contacts holding any identifier of the chunk, one
    insert and one update, and one merge for each pair of existing contacts a row links (rare:
    a person imported by phone, then by phone and BSUID after a webhook stored the BSUID). A
    contact that a webhook creates meanwhile makes the unique index refuse: resolved again."""
    wanted = [r for r in rows if r[-3] or r[-2]]
    if not wanted:
        return rows, 0
    for attempt in range(3):
        try:
            with transaction.atomic():
                ids, created = _resolve_identities(wanted, now)
            break
        except IntegrityError:
            if attempt == 2:
                raise
    return [(*r[:-1], ids[(r[1], r[-3], r[-2])]) if (r[-3] or r[-2]) else r for r in rows], created


def _resolve_identities(rows: list[tuple], now: datetime) -> tuple[dict[tuple, int], int]:
    from django.db.models import Q

    from compliance.identity import merge_contacts

    names: dict[tuple, str] = {}
    for r in rows:  # file order
        names.setdefault((r[1], r[-3], r[-2]), r[2])
    values = {field: {r[at] for r in rows if r[at]} for field, at in IDENTITY_AT.items()}
    existing = Contact.objects.select_for_update().filter(
        Q(phone__in=values["phone"])
        | Q(bsuid__in=values["bsuid"])
        | Q(username__in=values["username"])
    )
    index: dict[tuple[str, str], _Person] = {}
    for contact in existing.order_by("created_at", "pk"):
        person = _Person(contact=contact, order=(0, contact.created_at, contact.pk))
        for field in IDENTITY_AT:
            if value := getattr(contact, field):
                index[(field, value)] = person
    merges: list[tuple[_Person, _Person]] = []
    new: list[_Person] = []
    resolved: dict[tuple, _Person] = {}
    for identity, name in names.items():
        keys = [(f, v) for f, v in zip(IDENTITY_AT, identity, strict=True) if v]
        found = sorted(
            {id(p): p for k in keys if (p := index.get(k)) is not None}.values(),
            key=lambda p: p.order,
        )
        if not found:
            person = _Person(name=name, order=(1, len(new)))
            new.append(person)
        else:
            person = found[0]
            for other in found[1:]:
                other.into = person
                if other.contact is not None:  # (an existing one is never merged into a new one)
                    merges.append((person, other))
                for field in IDENTITY_AT:  # what `person` lacks is taken, the rest dropped
                    value = getattr(other, field)
                    if not value:
                        continue
                    if not getattr(person, field):
                        setattr(person, field, value)
                        index[(field, value)] = person
                    elif index.get((field, value)) is other:
                        del index[(field, value)]
        for field, value in keys:
            if not getattr(person, field):
                setattr(person, field, value)
                index[(field, value)] = person
        resolved[identity] = person

    for into, other in merges:  # in the order found: a chain folds as it would row by row
        merge_contacts(into=into.contact, other=other.contact, reason="linked identifiers")
    completed = []
    for person in {id(p.final()): p.final() for p in resolved.values()}.values():
        contact = person.contact
        if contact is None:
            continue
        changed = False
        for field in IDENTITY_AT:
            if getattr(person, field) and not getattr(contact, field):
                setattr(contact, field, getattr(person, field))
                changed = True
        if changed:
            completed.append(contact)
    if completed:
        Contact.objects.bulk_update(completed, ["phone", "bsuid", "username"])
    created = [p for p in new if p.into is None]
    if created:
        contacts = Contact.objects.bulk_create(
            [
                Contact(
                    phone=p.phone,
                    bsuid=p.bsuid,
                    username=p.username,
                    name=p.name[:200],
                    created_at=now,
                )
                for p in created
            ]
        )
        for person, contact in zip(created, contacts, strict=True):
            person.contact = contact
    return {identity: p.final().contact.pk for identity, p in resolved.items()}, len(created)


def _progress_fields(seen: Counts, written: Counts, bytes_done: int) -> dict:
    return {
        "bytes_done": bytes_done,
        "rows_done": seen.rows,
        "rows_valid": seen.valid,
        "rows_invalid": seen.invalid,
        "events_created": written.created,
        "events_unchanged": written.unchanged,
        "contacts_created": written.contacts,
    }


class _Writer:
    """Applies the chunks in file order, each with the job's progress in its transaction.

    Outside a transaction (the Celery job) it works in a thread with a connection of its own,
    so the database writes a chunk while the next one is parsed. Inside a transaction (tests, a
    caller's transaction) it writes inline, in that transaction.

    The parsing thread may be two chunks ahead; a chunk's place is given back once its rows are
    staged (COPY formats them in Python), not when the writer takes it: parsing then runs while
    the database works, and does not share the GIL with the COPY, which the database waits on.
    """

    def __init__(self, *, job: ConsentImport, client, written: Counts) -> None:
        self.job = job
        self.written = replace(written)  # what this job wrote so far, before this run too
        self.error: BaseException | None = None
        self.threaded = not connection.in_atomic_block
        self.queue: queue.Queue = queue.Queue()
        self.places = threading.Semaphore(2)
        self.thread: threading.Thread | None = None
        if self.threaded:
            self.thread = threading.Thread(
                target=self._loop, args=(client,), name=f"consent-import-{job.pk}", daemon=True
            )
            self.thread.start()

    def put(self, rows: list[tuple], seen: Counts, position: int) -> None:
        if self.thread is None:
            self._write(rows, seen, position)
            return
        self.places.acquire()
        if self.error is not None:
            raise self.error
        self.queue.put((rows, seen, position))

    def close(self) -> Counts:
        """Wait for the chunks still queued; the counts the database holds for this job."""
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()
        if self.error is not None:
            raise self.error
        return self.written

    def _write(self, rows: list[tuple], seen: Counts, position: int, staged=None) -> None:
        progress = _progress_fields(seen, self.written, position)
        counts = _write_chunk(
            rows=rows,
            job=self.job,
            default_time=self.job.created_at,
            progress=progress,
            staged=staged,
        )
        self.written.created += counts.created
        self.written.unchanged += counts.unchanged
        self.written.contacts += counts.contacts

    def _loop(self, client) -> None:
        connection.set_tenant(client)
        try:
            while (item := self.queue.get()) is not None:
                given_back = threading.Event()

                def staged(given_back=given_back) -> None:
                    if not given_back.is_set():
                        given_back.set()
                        self.places.release()

                try:
                    if self.error is None:
                        self._write(*item, staged=staged)
                except BaseException as exc:  # handed to the parsing thread
                    self.error = exc
                finally:
                    staged()
        finally:
            connection.close()


def _job_lock(job_id: int, *, take: bool) -> bool:
    """A session lock on the job for as long as one run applies it: a second run (a task
    delivered again, or re-queued by the sweeper) leaves it alone. The database drops it when
    the holder's connection ends, so a killed worker's job can be taken up again."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {'pg_try_advisory_lock' if take else 'pg_advisory_unlock'}(hashtext(%s), %s)",
            [f"consent-import:{connection.schema_name}", job_id],
        )
        return bool(cursor.fetchone()[0])


def consent_import_run(*, import_id: int, chunk_rows: int = CHUNK_ROWS) -> ConsentImport | None:
    """Apply an uploaded import (the Celery job). Safe to run twice and at once: a finished job
    is left alone, so is one that another run is applying, and an interrupted one resumes after
    its last committed chunk with its counters (what it wrote before counts as its own), its
    first `started_at` and its whole error report."""
    job = ConsentImport.objects.filter(pk=import_id).first()
    if job is None or job.is_finished or not _job_lock(job.pk, take=True):
        return job
    try:
        job.refresh_from_db()  # as the last holder of the lock left it
        if job.is_finished:
            return job
        return _run(job, chunk_rows)
    finally:
        _job_lock(job.pk, take=False)


def _run(job: ConsentImport, chunk_rows: int) -> ConsentImport:
    client = current_client()
    done = job.rows_done  # rows committed by an earlier run of this job: replayed, not written
    job.state = ImportState.RUNNING
    job.started_at = job.started_at or timezone.now()
    job.progress_at = timezone.now()
    job.save(update_fields=["state", "started_at", "progress_at"])
    if done:
        logger.info("consent import %s resumes after row %s", job.pk, done)

    counts = Counts()
    failure = ""
    raw = None
    row = 1
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as report:
        errors = csv.writer(report)
        errors.writerow(["row", "column", "reason"])
        try:
            writer = _Writer(
                job=job,
                client=client,
                written=Counts(
                    created=job.events_created,
                    unchanged=job.events_unchanged,
                    contacts=job.contacts_created,
                ),
            )
            try:
                nul_free = _nul_free(job)
                read_ahead = (
                    _phones_read_ahead(job, client.default_region)
                    if job.size_bytes >= READ_AHEAD_MIN_BYTES
                    else None
                )
                with job.file.open("rb") as stored:
                    raw = stored.file
                    text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
                    first_line = text.readline()
                    columns = header_columns(first_line)
                    reader = csv.reader(text, delimiter=delimiter_of(first_line))
                    header_check(columns)
                    check = RowValidator(
                        columns=columns, region=client.default_region, now=job.started_at
                    )
                    check.nul_free = nul_free
                    if read_ahead is not None:
                        check.phone.cache, check.phone.limit = read_ahead, None
                    batch: list[tuple] = []
                    batch_rows = 0
                    for record in reader:
                        row += 1
                        if not record or (len(record) == 1 and not record[0].strip()):
                            continue  # a blank line is not a row of data
                        counts.rows += 1
                        # a row already written is checked again for the report, not written
                        replayed = counts.rows <= done
                        staged, problems = check.rows(row, record)
                        if problems:
                            counts.invalid += 1
                            errors.writerows(
                                (row, column, csv_safe(reason)) for column, reason in problems
                            )
                        else:
                            counts.valid += 1
                            if not replayed:
                                batch.extend(staged)
                        if replayed:
                            continue
                        batch_rows += 1
                        if batch_rows >= chunk_rows:
                            writer.put(batch, replace(counts), _position(raw))
                            batch, batch_rows = [], 0
                    if batch_rows:
                        writer.put(batch, replace(counts), _position(raw))
            finally:
                written = writer.close()
        except UnicodeDecodeError:
            failure = (
                f"The file is not UTF-8 text after row {row}; save it as CSV UTF-8 and "
                "upload it again. The rows before it were imported."
            )
        except (csv.Error, ImportRejected) as exc:
            failure = f"The file could not be read as CSV: {exc}"
        except Exception:
            ConsentImport.objects.filter(pk=job.pk).update(
                state=ImportState.FAILED,
                finished_at=timezone.now(),
                failure="The import stopped because of an internal error; the BSP has been "
                "told. The rows before it were imported; uploading the file again is safe.",
            )
            raise
        counts.created, counts.unchanged, counts.contacts = (
            written.created,
            written.unchanged,
            written.contacts,
        )
        report.seek(0)
        job.errors_file.save("errors.csv", File(report), save=False)
    for name, value in _progress_fields(
        counts, counts, job.size_bytes if not failure else _position(raw)
    ).items():
        setattr(job, name, value)
    job.state = ImportState.FAILED if failure else ImportState.DONE
    job.failure = failure
    job.finished_at = job.progress_at = timezone.now()
    with transaction.atomic():
        job.save(
            update_fields=[
                *_progress_fields(counts, counts, 0),
                *("state", "failure", "finished_at", "progress_at", "errors_file"),
            ]
        )
        audit_record(
            action="consent.import_finish",
            actor=None,
            client=client,
            target=job,
            after={
                "state": job.state,
                "rows": counts.rows,
                "valid": counts.valid,
                "invalid": counts.invalid,
                "events_created": counts.created,
                "events_unchanged": counts.unchanged,
                "contacts_created": counts.contacts,
                "failure": failure,
                "started_at": job.started_at.isoformat(),
                "resumed_after_row": done,
            },
        )
        from integrations.events import event_emit

        event_emit(
            event_type="consent.import_finished",
            data={
                "import_id": job.pk,
                "state": job.state,
                "rows": counts.rows,
                "valid": counts.valid,
                "invalid": counts.invalid,
                "events_created": counts.created,
                "contacts_created": counts.contacts,
                "failure": failure or None,
            },
        )
    return job


def _phones_read_ahead(job: ConsentImport, region: str | None) -> dict[str, str] | None:
    """A big file's distinct numbers, parsed before its rows are read (`PhoneReader.read_ahead`):
    one quick pass of the CSV reader collects them. None when its first READ_AHEAD_SAMPLE_ROWS
    rows hold few numbers the fast path cannot read (`_worth_reading_ahead`), when there are too
    many to keep, or when the file cannot be read (the main pass reports why, at its row)."""
    texts: set[str] = {""}
    upper = (region or "").upper() or None
    with job.file.open("rb") as stored:
        text = io.TextIOWrapper(stored.file, encoding="utf-8-sig", newline="")
        try:
            first_line = text.readline()
            columns = header_columns(first_line)
            if "phone" not in columns:
                return None
            at = columns.index("phone")
            for n, record in enumerate(csv.reader(text, delimiter=delimiter_of(first_line))):
                if n == READ_AHEAD_SAMPLE_ROWS and not _worth_reading_ahead(texts, upper):
                    return None  # plain numbers: the fast path reads them during the import
                if len(record) > at:
                    texts.add(raw_phone(record[at]))
                    if len(texts) > READ_AHEAD_MAX_NUMBERS:
                        return None
        except (UnicodeDecodeError, csv.Error):
            return None
        finally:
            text.detach()
    reader = PhoneReader(region)
    reader.read_ahead(sorted(texts))
    return reader.cache


def _worth_reading_ahead(texts: set[str], region: str | None) -> bool:
    """Whether enough of these numbers need phonenumbers (READ_AHEAD_MIN_HARD_SHARE)."""
    given = [t for t in texts if t.strip()]
    hard = sum(1 for t in given if e164_certain(t.strip(), region) is None)
    return hard >= READ_AHEAD_MIN_HARD_SHARE * len(given)


def _nul_free(job: ConsentImport) -> bool:
    """Whether the stored file holds no NUL byte (then no row needs the per-row check)."""
    with job.file.open("rb") as stored:
        while block := stored.read(16 * 1024 * 1024):
            if b"\x00" in block:
                return False
    return True


def _position(raw) -> int:
    try:
        return int(raw.tell())
    except (OSError, ValueError, AttributeError):
        return 0


# --- Preview (before anything is stored) -------------------------------------------------------

PREVIEW_SAMPLE_ROWS = 5
PREVIEW_SCAN_ROWS = 5_000
PREVIEW_ERRORS_SHOWN = 20


@dataclass
class ImportPreview:
    """What an upload would do, read from its first rows; nothing is written."""

    columns: list[str]  # the file's header, normalised, in file order
    mapping: list[tuple[str, str]]  # (our column, the file's column or "" when absent)
    ignored: list[str]  # the file's columns we do not read
    sample: list[list[str]]  # the first data rows as written
    scanned: int  # data rows validated
    invalid: int  # of which rejected
    errors: list[tuple[int, str, str]]  # (row, column, reason), the first few
    complete: bool  # the whole file was scanned


def import_preview(
    *,
    upload: Any,
    region: str | None,
    sample_rows: int = PREVIEW_SAMPLE_ROWS,
    scan_rows: int = PREVIEW_SCAN_ROWS,
) -> ImportPreview:
    """Validate the first `scan_rows` rows of `upload` with the import's own rules (header
    check, RowValidator, row numbering) and report the column mapping, the first rows and the
    errors; the upload is left at its start. Raises ImportRejected as consent_import_create
    does for a file that cannot be imported at all. Separate from the apply path on purpose:
    it never writes."""
    if not (getattr(upload, "size", None) or 0):
        raise ImportRejected("The file is empty.")
    upload.seek(0)
    text = io.TextIOWrapper(getattr(upload, "file", upload), encoding="utf-8-sig", newline="")
    try:
        first_line = text.readline()
        columns = header_columns(first_line)
        header_check(columns)
        validator = RowValidator(columns=columns, region=region, now=timezone.now())
        reader = csv.reader(text, delimiter=delimiter_of(first_line))
        sample: list[list[str]] = []
        errors: list[tuple[int, str, str]] = []
        scanned = invalid = 0
        row = 1
        complete = True
        for record in reader:
            row += 1
            if not record or (len(record) == 1 and not record[0].strip()):
                continue
            if scanned >= scan_rows:
                complete = False
                break
            scanned += 1
            if len(sample) < sample_rows:
                sample.append(list(record))
            _, problems = validator.rows(row, list(record))
            if problems:
                invalid += 1
                if len(errors) < PREVIEW_ERRORS_SHOWN:
                    errors.extend((row, column, reason) for column, reason in problems)
    except UnicodeDecodeError:
        raise ImportRejected("The file is not UTF-8 text; save it as CSV UTF-8.") from None
    except csv.Error as exc:
        raise ImportRejected(f"The file could not be read as CSV: {exc}") from None
    finally:
        text.detach()
        upload.seek(0)
    return ImportPreview(
        columns=columns,
        mapping=[(name, name if name in columns else "") for name in COLUMNS],
        ignored=[name for name in columns if name not in COLUMNS],
        sample=sample,
        scanned=scanned,
        invalid=invalid,
        errors=errors[:PREVIEW_ERRORS_SHOWN],
        complete=complete,
    )


# --- Faults -----------------------------------------------------------------------------------


def consent_imports_stale(*, schemas: list[str], now: datetime) -> list[tuple[str, int]]:
    """(schema, job id) of every import in these clients' schemas that is queued or running
    and has shown no progress for STALE_AFTER: its task was never sent (the broker was down at
    upload), or the worker applying it died. One statement per SCHEMAS_PER_QUERY schemas."""
    table = ConsentImport._meta.db_table
    found: list[tuple[str, int]] = []
    before = now - STALE_AFTER
    with connection.cursor() as cursor:
        for start in range(0, len(schemas), SCHEMAS_PER_QUERY):
            part = schemas[start : start + SCHEMAS_PER_QUERY]
            sql = " UNION ALL ".join(
                f"SELECT %s, id FROM {connection.ops.quote_name(schema)}.{table}"  # noqa: S608
                " WHERE state IN ('queued', 'running')"
                " AND coalesce(progress_at, created_at) < %s"
                for schema in part
            )
            cursor.execute(sql, [value for schema in part for value in (schema, before)])
            found += [(schema, job_id) for schema, job_id in cursor.fetchall()]
    return found


def consent_import_requeue(*, schema: str, import_id: int, now: datetime) -> None:
    """Send a stuck job's task again. Its progress clock is set to `now` first, so a job still
    waiting behind others in the queue is sent once per STALE_AFTER, not at every sweep."""
    from django_tenants.utils import schema_context

    with schema_context(schema):
        ConsentImport.objects.filter(
            pk=import_id, state__in=[ImportState.QUEUED, ImportState.RUNNING]
        ).update(progress_at=now)
    consent_import_queue(import_id=import_id, schema=schema)


def consent_import_queue(*, import_id: int, schema: str | None = None) -> None:
    """Send the job's task to the broker (in `schema`, default the connection's)."""
    from django.conf import settings

    from compliance.tasks import consent_import

    consent_import.apply_async(
        args=[import_id],
        headers={"_schema_name": schema or connection.schema_name},
        queue=settings.CONSENT_IMPORT_QUEUE or None,
    )
