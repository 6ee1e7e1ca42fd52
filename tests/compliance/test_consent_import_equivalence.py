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
