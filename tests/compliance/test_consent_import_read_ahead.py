"""A big file's numbers are parsed in worker processes before the import only when enough of
them need phonenumbers; plain numbers (which `e164.e164_certain` reads) are read in the
importing process while the database writes, and give the same rows either way."""

import os

import pytest
from django_tenants.utils import schema_context

import compliance.imports as imports
from compliance.imports import consent_import_create, consent_import_run
from compliance.models import ConsentEvent
from tests.compliance.test_consent_import import upload

# sixty plain numbers (national and international), then a bad one after the sample
PLAIN = "".join(
    f"{phone},marketing,opt_in,2025-03-01T10:00:{i % 60:02d}+00:00\n"
    for i, phone in enumerate(
        [
            *(f"+4479111234{n:02d}" for n in range(0, 60, 3)),
            *(f"07911 1234{n:02d}" for n in range(1, 60, 3)),
            *(f"+44 7911 1234{n:02d}" for n in range(2, 60, 3)),
            "12345",
        ]
    )
)
MESSY = "".join(
    f"{phone},utility,opt_out,2025-03-01T10:00:{i % 60:02d}+00:00\n"
    for i, phone in enumerate(["(201) 555-0124", "+1 201-555-0123", "0049 151 12345679"] * 6)
)


@pytest.fixture(autouse=True)
def small_sample(acme, monkeypatch):
    from tenants.models import Client

    Client.objects.filter(pk=acme.pk).update(default_region="GB")
    monkeypatch.setattr(imports, "READ_AHEAD_MIN_BYTES", 0)  # as for a big file
    monkeypatch.setattr(imports, "READ_AHEAD_SAMPLE_ROWS", 10)


def forks_counted(monkeypatch) -> list[int]:
    forks: list[int] = []
    real_fork = os.fork

    def counting_fork():
        forks.append(1)
        return real_fork()

    monkeypatch.setattr(imports.os, "fork", counting_fork)
    return forks


def imported(acme, text: str) -> tuple:
    with schema_context(acme.schema_name):
        job = consent_import_run(
            import_id=consent_import_create(
                upload=upload("phone,category,action,occurred_at\n" + text)
            ).pk
        )
        rows = sorted(
            (e.contact.phone, e.kind, e.occurred_at.isoformat())
            for e in ConsentEvent.objects.select_related("contact")
        )
    return job, rows


def test_plain_numbers_are_read_in_the_importing_process(acme, monkeypatch):
    forks = forks_counted(monkeypatch)
    job, rows = imported(acme, PLAIN)
    assert forks == []
    assert (job.state, job.rows_valid, job.rows_invalid) == ("done", 60, 1)
    assert {phone for phone, _, _ in rows} == {f"+4479111234{n:02d}" for n in range(60)}


def test_numbers_that_need_phonenumbers_are_read_ahead_in_worker_processes(acme, monkeypatch):
    forks = forks_counted(monkeypatch)
    job, rows = imported(acme, MESSY)
    assert len(forks) == imports.PHONE_PROCESSES
    assert (job.state, job.rows_valid, job.rows_invalid) == ("done", 18, 0)
    assert {phone for phone, _, _ in rows} == {"+442015550124", "+12015550123", "+4915112345679"}
