"""CSV import of opt-ins and opt-outs: upload, then a Celery job that streams the file.

The file's first row names the columns (any order, any case): `phone`, `category` and `action`
are required; `occurred_at`, `source`, `name`, `wording`, `wording_version`, `page_url`,
`ip_address`, `user_agent` and `channel` are optional. Rows are numbered as a spreadsheet shows
them (the header is row 1).

Each row is validated in Python (the phone number with phonenumbers and the client's default
region; the rest by rule). Valid rows go to the database in chunks: COPY into a temporary table,
then one set-based INSERT … ON CONFLICT each into contacts, the consent history and the consent
state. A history row's dedupe key is derived from the row's content, so importing the same file
again (or the same rows in another file) adds nothing and changes nothing. Rejected rows are
listed in the error report (row, column, reason), every valid row is kept.
"""

from __future__ import annotations

import csv
import hashlib
import io
import ipaddress
import logging
import queue
import tempfile
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import Any

from django.core.files import File
from django.db import connection, transaction
from django.utils import timezone

from compliance.choices import ConsentCategory, ConsentKind, ConsentSource, ImportState
from compliance.consent import META_SOURCES, contact_normalize
from compliance.exports import EVIDENCE_COLUMNS, csv_safe
from compliance.models import ConsentEvent, ConsentImport, ConsentState, Contact
from portal.audit.services import audit_record
from tenants.selectors import current_client

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("phone", "category", "action")
OPTIONAL_COLUMNS = ("occurred_at", "source", "name", *EVIDENCE_COLUMNS)
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
COLUMNS_HELP = (
    f"UTF-8 CSV. Columns: {', '.join(REQUIRED_COLUMNS)} (required); {', '.join(OPTIONAL_COLUMNS)}."
)
WRITER_LANES = 2  # database connections writing at once (a job's rows split by number)
CHUNK_ROWS = 25_000  # progress is written (and a chunk committed) every CHUNK_ROWS rows
MAX_UPLOAD_BYTES = 500 * 1024 * 1024
PHONE_CACHE_LIMIT = 500_000
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
    *("dedupe_key", "new_contact"),
)
# COPY in binary: nothing for the server to parse (the address is cast once, on insert)
STAGING_TYPES = ("int4", *["text"] * 5, "timestamptz", *["text"] * 7, "bool")


class ImportRejected(ValueError):
    """The upload cannot be imported at all (not CSV, no header, a required column missing)."""


DELIMITERS = (",", ";", "\t")


def delimiter_of(first_line: str) -> str:
    """Comma, or the semicolon or tab a spreadsheet in some locales saves CSV with."""
    return max(DELIMITERS, key=first_line.count)


def header_columns(first_line: str) -> list[str]:
    """The header row's names, normalised: " Phone Number" becomes "phone_number"."""
    names = next(csv.reader([first_line], delimiter=delimiter_of(first_line)), [])
    return [n.strip().lower().replace(" ", "_") for n in names]


def header_check(columns: list[str]) -> None:
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise ImportRejected(
            f"The first row must name the columns; {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing. Required: "
            f"{', '.join(REQUIRED_COLUMNS)}; optional: {', '.join(OPTIONAL_COLUMNS)}."
        )


def consent_import_create(*, upload: Any, actor: Any = None) -> ConsentImport:
    """Store the uploaded CSV for this client and queue the job that applies it.

    Raises ImportRejected when the file is empty, too big, not UTF-8 text or has no header with
    the required columns; nothing is stored then.
    """
    from compliance.tasks import consent_import

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
        transaction.on_commit(
            lambda: consent_import.apply_async(args=[job.pk], headers={"_schema_name": schema}),
            robust=True,
        )
    return job


# --- Validation -------------------------------------------------------------------------------


class PhoneReader:
    """E.164 for a raw number, parsed once per distinct text (imports repeat numbers)."""

    def __init__(self, region: str | None) -> None:
        self.region = (region or "").upper() or None
        self.cache: dict[str, str] = {}

    def __call__(self, raw: str) -> str:
        """The E.164 form (starts with "+"), or the reason it is not valid (never starts so)."""
        found = self.cache.get(raw)
        if found is None:
            found = self._read(raw)
            if len(self.cache) >= PHONE_CACHE_LIMIT:
                self.cache.clear()
            self.cache[raw] = found
        return found

    def _read(self, text: str) -> str:
        try:
            return contact_normalize(text, default_region=self.region)
        except ValueError as exc:
            return str(exc)


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
        self.ips: dict[str, str] = {}  # "" for text that is not an address
        self.numbers_seen: set[str] = set()  # a contact is created from its number's first row
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
        ) = self.at
        errors: list[tuple[str, str]] = []

        raw_phone = record[at_phone].strip()
        if raw_phone.startswith("'"):  # our own export guards cells starting with "+"
            raw_phone = raw_phone[1:]
        phone = self.phone(raw_phone)
        if phone[0] != "+":
            errors.append(("phone", phone))

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

        if "\x00" in "".join(record):  # PostgreSQL text cannot hold NUL
            errors.extend(
                (column, "Contains a NUL character, which cannot be stored.")
                for column, at in zip(COLUMNS, self.at, strict=True)
                if "\x00" in record[at]
            )
        if errors:
            return [], errors
        when = repr(occurred_at.timestamp()) if occurred_at else ""
        staged = []
        new_contact = phone not in self.numbers_seen
        if new_contact:
            self.numbers_seen.add(phone)
        for cat in categories:
            # the row's content is its identity: the same row imported again is the same event
            parts = ["consent-import", phone, cat, kind, source, when, wording, version]
            parts += [page_url, ip or "", agent, channel]
            key = sha256("\x1f".join(parts).encode()).hexdigest()
            staged.append(
                (
                    row,
                    phone,
                    name,
                    cat,
                    kind,
                    source,
                    occurred_at,
                    wording,
                    version,
                    page_url,
                    ip,
                    agent,
                    channel,
                    key,
                    new_contact,
                )
            )
            new_contact = False
        return staged, errors


# --- Writing ----------------------------------------------------------------------------------


def _write_chunk(*, rows: list[tuple], job: ConsentImport, default_time: datetime) -> Counts:
    """COPY the rows into a temporary table, then two set-based statements. One transaction."""
    counts = Counts()
    if not rows:
        return counts
    contact_t = Contact._meta.db_table
    event_t = ConsentEvent._meta.db_table
    state_t = ConsentState._meta.db_table
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        # A crash can lose the last few chunks, but never a chunk without the ones before it
        # (the log is sequential), and re-running the job re-applies exactly what is missing.
        cursor.execute("SET LOCAL synchronous_commit TO off")
        cursor.execute("SET LOCAL work_mem TO '64MB'")  # the chunk's sorts stay in memory
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS consent_import_rows ("
            " row integer, phone text, name text, category text, kind text, source text,"
            " occurred_at timestamptz, wording text, wording_version text, page_url text,"
            " ip_address text, user_agent text, channel text, dedupe_key text,"
            " new_contact boolean)"
            " ON COMMIT DELETE ROWS"
        )
        raw = cursor.cursor  # psycopg's own cursor, for COPY
        with raw.copy(
            f"COPY consent_import_rows ({', '.join(STAGING_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(STAGING_TYPES)
            write = copy.write_row
            for item in rows:
                write(item)
        cursor.execute(
            f"WITH new AS ("  # noqa: S608 (table names and fixed SQL; values are parameters)
            f" INSERT INTO {contact_t} (phone, wa_id, name, created_at)"
            f" SELECT phone, '', name, %s FROM consent_import_rows WHERE new_contact"
            f" ON CONFLICT (phone) DO NOTHING RETURNING 1)"
            f" SELECT count(*) FROM new",
            [now],
        )
        counts.contacts = cursor.fetchone()[0]
        # The state follows the newest event (ties: the later row); an older one changes nothing.
        cursor.execute(
            f"WITH ins AS ("  # noqa: S608 (table names and fixed SQL; values are parameters)
            f" INSERT INTO {event_t} (contact_id, category, kind, source, wording,"
            f"  wording_version, page_url, ip_address, user_agent, channel, actor_label, data,"
            f"  occurred_at, recorded_at, dedupe_key)"
            f" SELECT c.id, r.category, r.kind, r.source, r.wording, r.wording_version,"
            f"  r.page_url, r.ip_address::inet, r.user_agent, r.channel, %(actor)s,"
            f"  jsonb_build_object('import', %(job)s::integer, 'row', r.row),"
            f"  coalesce(r.occurred_at, %(default_time)s), %(now)s, r.dedupe_key"
            f" FROM consent_import_rows r JOIN {contact_t} c ON c.phone = r.phone"
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
        counts.unchanged = len(rows) - counts.created
        if connection.in_atomic_block and connection.savepoint_ids:
            # inside a caller's transaction the commit that empties the table is not ours
            cursor.execute("DELETE FROM consent_import_rows")
    return counts


def _progress(job: ConsentImport, counts: Counts, bytes_done: int) -> None:
    job.bytes_done = bytes_done
    job.rows_done = counts.rows
    job.rows_valid = counts.valid
    job.rows_invalid = counts.invalid
    job.events_created = counts.created
    job.events_unchanged = counts.unchanged
    job.contacts_created = counts.contacts
    job.save(
        update_fields=[
            "bytes_done",
            "rows_done",
            "rows_valid",
            "rows_invalid",
            "events_created",
            "events_unchanged",
            "contacts_created",
        ]
    )


class _Writer:
    """Applies the chunks. Outside a transaction (the Celery job) it works in WRITER_LANES
    threads, each with a connection of its own, so the database writes while the next chunk is
    parsed. Rows are split between the lanes by phone number: every row of a number goes
    through the same lane, in file order, so the lanes never touch the same contact, state or
    history row (no lock waits, no deadlocks) and "the newest event decides" holds per lane.
    Inside a transaction (tests, a caller's transaction) it writes inline, in that transaction.
    """

    def __init__(self, *, job: ConsentImport, client) -> None:
        self.job = job
        self.written = Counts()
        self.error: BaseException | None = None
        self.threaded = not connection.in_atomic_block
        self.lanes = WRITER_LANES if self.threaded else 1
        self.lock = threading.Lock()
        self.queues: list[queue.Queue] = []
        self.threads: list[threading.Thread] = []
        if self.threaded:
            for lane in range(self.lanes):
                lane_queue: queue.Queue = queue.Queue(maxsize=2)
                thread = threading.Thread(
                    target=self._loop,
                    args=(client, lane_queue, lane == 0),
                    name=f"consent-import-{job.pk}-{lane}",
                    daemon=True,
                )
                thread.start()
                self.queues.append(lane_queue)
                self.threads.append(thread)

    def put(self, batches: list[list[tuple]], seen: Counts, position: int) -> None:
        """One chunk, already split by lane (`batches[lane]`)."""
        if not self.threaded:
            self._write(batches[0], seen, position, report=True)
            return
        if self.error is not None:
            raise self.error
        for lane_queue, batch in zip(self.queues, batches, strict=True):
            lane_queue.put((batch, seen, position))

    def close(self) -> Counts:
        """Wait for the chunks still queued; the database's counts."""
        for lane_queue in self.queues:
            lane_queue.put(None)
        for thread in self.threads:
            thread.join()
        if self.error is not None:
            raise self.error
        return self.written

    def _write(self, batch: list[tuple], seen: Counts, position: int, report: bool) -> None:
        written = _write_chunk(rows=batch, job=self.job, default_time=self.job.created_at)
        with self.lock:
            self.written.created += written.created
            self.written.unchanged += written.unchanged
            self.written.contacts += written.contacts
            seen = replace(
                seen,
                created=self.written.created,
                unchanged=self.written.unchanged,
                contacts=self.written.contacts,
            )
        if report:  # one lane writes the progress, so it never goes backwards
            _progress(self.job, seen, position)

    def _loop(self, client, lane_queue: queue.Queue, report: bool) -> None:
        connection.set_tenant(client)
        try:
            while (item := lane_queue.get()) is not None:
                if self.error is None:
                    try:
                        self._write(*item, report=report)
                    except BaseException as exc:  # handed to the parsing thread
                        self.error = exc
        finally:
            connection.close()


def consent_import_run(*, import_id: int, chunk_rows: int = CHUNK_ROWS) -> ConsentImport | None:
    """Apply an uploaded import (the Celery job). Safe to run twice: a finished job is left
    alone, an interrupted one starts over and re-applies nothing it already wrote."""
    job = ConsentImport.objects.filter(pk=import_id).first()
    if job is None or job.is_finished:
        return job
    client = current_client()
    job.state = ImportState.RUNNING
    job.started_at = timezone.now()
    _progress(job, Counts(), 0)
    job.save(update_fields=["state", "started_at"])

    counts = Counts()
    failure = ""
    raw = None
    row = 1
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as report:
        errors = csv.writer(report)
        errors.writerow(["row", "column", "reason"])
        try:
            writer = _Writer(job=job, client=client)
            try:
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
                    lanes = writer.lanes
                    batches: list[list[tuple]] = [[] for _ in range(lanes)]
                    batch_rows = 0
                    for record in reader:
                        row += 1
                        if not record or (len(record) == 1 and not record[0].strip()):
                            continue  # a blank line is not a row of data
                        counts.rows += 1
                        batch_rows += 1
                        staged, problems = check.rows(row, record)
                        if problems:
                            counts.invalid += 1
                            errors.writerows(
                                (row, column, csv_safe(reason)) for column, reason in problems
                            )
                        else:
                            counts.valid += 1
                            if staged:
                                # every row of a number goes through the same lane
                                batches[hash(staged[0][1]) % lanes].extend(staged)
                        if batch_rows >= chunk_rows:
                            writer.put(batches, replace(counts), _position(raw))
                            batches, batch_rows = [[] for _ in range(lanes)], 0
                    writer.put(batches, replace(counts), _position(raw))
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
        _progress(job, counts, job.size_bytes if not failure else _position(raw))
        report.seek(0)
        job.errors_file.save("errors.csv", File(report), save=False)
    job.state = ImportState.FAILED if failure else ImportState.DONE
    job.failure = failure
    job.finished_at = timezone.now()
    job.save(update_fields=["state", "failure", "finished_at", "errors_file"])
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


def _position(raw) -> int:
    try:
        return int(raw.tell())
    except (OSError, ValueError, AttributeError):
        return 0
