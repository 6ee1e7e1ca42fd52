"""A varied consent CSV for the import's equivalence test, and the outputs of an import of it
in a comparable form. The recorded outputs (fixtures/consent_import_varied.json) were made by
the import before its rework for speed (commit e6a5f70's `compliance/imports.py`, whose row
validation is that of 3d823a7): the reference every later implementation is held to."""

from __future__ import annotations

import random

HEADER = [
    "Phone",
    "category",
    "ACTION",
    "occurred_at",
    "source",
    "name",
    "wording",
    "wording_version",
    "page_url",
    "ip_address",
    "user_agent",
    "channel",
]
# (good values, bad values) per column, in HEADER's order
COLUMNS = [
    (
        [
            "+447911123456",
            "+44 7911 123457",
            "07911 123458",
            "07911123459",
            "'+447911123460",
            "+1 201-555-0123",
            "+12015550125",
            "+4915112345678",
            "0049 151 12345679",
            "+33612345678",
            " +447911123461 ",
        ],
        ["(201) 555-0124", "12345", "+999123", "", "phone", "+44791112345"],
    ),
    (["marketing", "Utility", "AUTHENTICATION", "all", " marketing "], ["newsletter", ""]),
    (["opt_in", "opt-out", "OPT IN", "optout", "opt_out", "Opt-In"], ["subscribe", ""]),
    (
        [
            "2025-03-01T10:00:00+00:00",
            "2025-03-01T10:00:00Z",
            "2025-03-01 11:30",
            "2025-03-02T10:00:00+02:00",
            "2025-02-01",
            "2025-03-01T10:00:00.250+00:00",
            "2024-12-31T23:59:59-05:00",
            "2025-01-15T08:00:00+00:00",
            "",
            "",
        ],
        [
            "yesterday",
            "2025-02-30T10:00:00",
            "2999-01-01T00:00:00Z",  # in the future, whatever today is
            "0001-01-01T00:00:00+14:00",
        ],
    ),
    (["", "web_form", "Checkout", "staff", "api", "sms_keyword"], ["fax", "webhook"]),
    (["", "Alice", "Bob Smith", "Zoë"], ["x" * 201]),
    (["", "Yes please", '=HYPERLINK("x")', "Oui, envoyez-moi des offres"], []),
    (["", "v1"], ["v" * 51]),
    (["", "https://shop.example/join", "http://a.example"], ["ftp://nope", "shop.example"]),
    (["", "203.0.113.9", "2001:DB8::1", "::ffff:1.2.3.4", " 198.51.100.7 "], ["999.1.1.1"]),
    (["", "Mozilla/5.0"], []),
    (["", "whatsapp"], ["c" * 51]),
]


def varied_rows(count: int = 1500, seed: int = 17) -> list[list[str]]:
    """`count` records: most valid, a quarter with one or two bad cells, some short or long,
    a few blank, a few with a NUL character, and exact repeats of earlier rows (the same event
    imported twice in one file)."""
    rng = random.Random(seed)
    rows: list[list[str]] = []
    for i in range(count):
        if i % 97 == 0 and rows:
            rows.append(list(rows[rng.randrange(len(rows))]))  # a duplicate
            continue
        if i % 211 == 0:
            rows.append([])  # a blank line
            continue
        row = [rng.choice(good) for good, _ in COLUMNS]
        for _ in range(rng.choice((0, 0, 0, 1, 1, 2))):
            column = rng.randrange(len(COLUMNS))
            if COLUMNS[column][1]:
                row[column] = rng.choice(COLUMNS[column][1])
        if i % 53 == 0:
            row = row[:5]  # a short record: the missing cells read as empty
        if i % 89 == 0:
            row = [*row, "extra"]
        if i % 301 == 0:
            row[2] = "opt\x00in"  # NUL: a row error
        rows.append(row)
    return rows


def varied_csv(count: int = 1500, seed: int = 17) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for row in varied_rows(count, seed):
        if row:
            writer.writerow(row)
        else:
            out.write("\n")
    return out.getvalue()


def outputs(job) -> dict:
    """What an import produced, comparable across runs: counters, the error report, the
    history (its time when the row had none read as "upload") and the states, by phone."""
    import csv
    import io

    from compliance.models import ConsentEvent, ConsentState, Contact

    with job.errors_file.open("rb") as f:
        report = list(csv.reader(io.StringIO(f.read().decode())))
    upload = job.created_at

    def when(value) -> str:
        return "upload" if value == upload else value.isoformat()

    history = sorted(
        [
            e.contact.phone,
            e.category,
            e.kind,
            e.source,
            when(e.occurred_at),
            e.wording,
            e.wording_version,
            e.page_url,
            str(e.ip_address or ""),
            e.user_agent,
            e.channel,
            e.actor_label,
            e.data["row"],
            e.dedupe_key,
        ]
        for e in ConsentEvent.objects.select_related("contact")
    )
    states = sorted(
        [s.contact.phone, s.category, s.status, when(s.updated_at)]
        for s in ConsentState.objects.select_related("contact")
    )
    contacts = sorted([c.phone, c.name] for c in Contact.objects.all())
    counters = {
        name: getattr(job, name)
        for name in (
            "rows_done",
            "rows_valid",
            "rows_invalid",
            "events_created",
            "events_unchanged",
            "contacts_created",
        )
    }
    return {
        "counters": counters,
        "report": report,
        "history": history,
        "states": states,
        "contacts": contacts,
    }
