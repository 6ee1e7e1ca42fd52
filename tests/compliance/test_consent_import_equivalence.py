"""The consent import gives what the import before its rework gave, on a varied file (valid,
invalid, national and international numbers, duplicates, older rows, `all` opt-outs, short and
long records, NUL characters, blank lines): the same counters, error report, history, states
and contacts, whatever the chunk size. The reference outputs were recorded from that import
(tests/compliance/consent_import_varied.py says how); they are data, not code, so the
comparison holds whichever implementation runs."""

import json
import os
from pathlib import Path

import pytest
from django_tenants.utils import schema_context

from compliance.imports import consent_import_create, consent_import_run
from tests.compliance.consent_import_varied import outputs, varied_csv
from tests.compliance.test_consent_import import upload

REFERENCE = Path(__file__).parent / "fixtures" / "consent_import_varied.json"


@pytest.fixture(autouse=True)
def gb_region(acme):
    from tenants.models import Client

    Client.objects.filter(pk=acme.pk).update(default_region="GB")


@pytest.mark.parametrize(
    ("chunk_rows", "read_ahead"),
    [(7, False), (100_000, False), (7, True)],
    ids=["small-chunks", "one-chunk", "numbers-read-ahead-in-processes"],
)
def test_the_import_gives_what_the_reference_import_gave(acme, chunk_rows, read_ahead, monkeypatch):
    import compliance.imports as imports

    if read_ahead:  # as for a big file: its numbers parsed first, in worker processes
        monkeypatch.setattr(imports, "READ_AHEAD_MIN_BYTES", 0)
        here, real_read = os.getpid(), imports.PhoneReader._read

        def only_in_worker_processes(self, text):
            assert os.getpid() != here, f"{text!r} parsed in the importing process"
            return real_read(self, text)

        monkeypatch.setattr(imports.PhoneReader, "_read", only_in_worker_processes)
    reference = json.loads(REFERENCE.read_text())
    with schema_context(acme.schema_name):
        job = consent_import_create(upload=upload(varied_csv()))
        job = consent_import_run(import_id=job.pk, chunk_rows=chunk_rows)
        got = json.loads(json.dumps(outputs(job)))
    assert job.state == "done"
    assert got["counters"] == reference["counters"]
    assert got["report"] == reference["report"]
    assert got["contacts"] == reference["contacts"]
    assert got["states"] == reference["states"]
    assert got["history"] == reference["history"]


def test_the_reference_covers_what_it_claims_to():
    reference = json.loads(REFERENCE.read_text())
    counters = reference["counters"]
    assert counters["rows_valid"] > 300
    assert counters["rows_invalid"] > 300
    assert counters["events_unchanged"] > 0  # duplicates
    columns = {column for _, column, _ in reference["report"][1:]}
    assert columns == {
        "phone",
        "category",
        "action",
        "occurred_at",
        "source",
        "name",
        "wording_version",
        "page_url",
        "ip_address",
        "channel",
    }
    assert len({row[1] for row in reference["history"]}) == 3  # `all` reached every category


# The dedupe key as the database computed it before the key moved to the parsing thread
# (commit 294ff87 to 18aa106): the SQL is today's reference for `imports.dedupe_key`.
SQL_DEDUPE_KEY = (
    "SELECT encode(sha256(convert_to(concat_ws(E'\\x1f', 'consent-import',"
    " phone, bsuid, username, category, kind, source, when_key, wording, wording_version,"
    " page_url, coalesce(ip_address, ''), user_agent, channel), 'UTF8')), 'hex')"
    " FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
    " %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[])"
    " WITH ORDINALITY AS r(phone, bsuid, username, category, kind, source, when_key, wording,"
    " wording_version, page_url, ip_address, user_agent, channel, n) ORDER BY n"
)


def test_the_dedupe_key_is_the_one_the_database_computed(db):
    """Every staged row of the varied file, and rows with a BSUID, a username or no phone:
    the key made in Python is the one the database's SQL made from the same parts."""
    import csv
    import io

    from django.db import connection
    from django.utils import timezone

    from compliance.imports import RowValidator, header_columns

    text = varied_csv()
    first, _, rest = text.partition("\n")
    validator = RowValidator(columns=header_columns(first), region="GB", now=timezone.now())
    staged = [
        r
        for n, record in enumerate(csv.reader(io.StringIO(rest)), start=2)
        if record
        for r in validator.rows(n, record)[0]
    ]
    identities = RowValidator(
        columns=["phone", "bsuid", "username", "category", "action", "occurred_at"],
        region="GB",
        now=timezone.now(),
    )
    for n, record in enumerate(
        [
            ["", "US.13491208655302741918", "", "marketing", "opt_in", ""],
            ["+447911123456", "US.13491208655302741918", "alice.shop", "all", "opt_out", ""],
            ["", "", "alice.shop", "utility", "opt_in", "2025-03-01T10:00:00.5+00:00"],
        ],
        start=2,
    ):
        rows, problems = identities.rows(n, record)
        assert not problems
        staged += rows
    assert len(staged) > 900
    assert any(r[1] is None for r in staged)
    assert any(r[-3] for r in staged)
    assert any(r[10] is None for r in staged)  # no address
    assert any(r[10] for r in staged)

    def when(value):
        return repr(value.timestamp()) if value else ""

    # the staged row: row, phone, name, category, kind, source, occurred_at, wording,
    # wording_version, page_url, ip_address, user_agent, channel, dedupe_key, bsuid, username
    columns = [
        [r[1] for r in staged],
        [r[-3] for r in staged],
        [r[-2] for r in staged],
        *([r[at] for r in staged] for at in (3, 4, 5)),
        [when(r[6]) for r in staged],
        *([r[at] for r in staged] for at in (7, 8, 9, 10, 11, 12)),
    ]
    with connection.cursor() as cursor:
        cursor.execute(SQL_DEDUPE_KEY, columns)
        from_sql = [key for (key,) in cursor.fetchall()]
    assert [r[13] for r in staged] == from_sql
    assert len(set(from_sql)) < len(from_sql)  # the file's repeats have one key
