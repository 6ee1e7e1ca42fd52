"""A consent import that dies mid-way resumes after its last committed chunk: its counters are
those of an uninterrupted run (what it wrote before the kill counts as its own), it keeps its
first `started_at`, its error report is whole and the audit row has the true figures. The
sweeper sends again what is stuck (queued with no task, or running with no progress)."""

from datetime import timedelta

import psycopg
import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

import compliance.imports as imports
from compliance.imports import consent_import_create, consent_import_run, consent_imports_stale
from compliance.models import ConsentImport
from portal.audit.models import AuditLog
from tests.compliance.test_consent_import import error_rows, history, states, upload
from tests.conftest import database_url_for_tests

# 12 data rows (chunks of 3): valid, invalid, national and international numbers, a repeat,
# an older row, an `all` opt-out, a row already imported (the last) and a blank line.
CSV = (
    "phone,category,action,occurred_at\n"
    "+447911123456,marketing,opt_in,2025-03-01T10:00:00+00:00\n"
    "07911 123457,utility,opt_in,2025-03-01T10:00:00+00:00\n"
    "12345,marketing,opt_in,\n"
    "+447911123458,marketing,opt_in,2025-03-02T10:00:00+00:00\n"
    "+447911123456,marketing,opt_out,2025-04-01T10:00:00+00:00\n"
    "+447911123459,newsletter,opt_in,\n"
    "\n"
    "+447911123460,all,opt_out,2025-03-05T10:00:00+00:00\n"
    "+447911123456,marketing,opt_in,2025-02-01T10:00:00+00:00\n"
    "07911 123457,utility,opt_out,2025-03-09T10:00:00+00:00\n"
    "+12015550123,utility,opt_in,yesterday\n"
    "+447911123461,authentication,opt_in,2025-03-03T10:00:00+00:00\n"
    "+447911123456,marketing,opt_in,2025-03-01T10:00:00+00:00\n"
)
COUNTERS = ("rows_done", "rows_valid", "rows_invalid", "events_created", "events_unchanged")


class WorkerKilled(BaseException):
    """What a SIGKILL looks like from inside: nothing after it runs, no handler sees it."""


def counters(job: ConsentImport) -> tuple:
    return (*(getattr(job, name) for name in COUNTERS), job.contacts_created)


def finish_audit(client, job):
    return AuditLog.objects.get(
        client=client, action="consent.import_finish", object_id=str(job.pk)
    ).after


@pytest.fixture(autouse=True)
def gb_region(acme, globex):
    from tenants.models import Client

    Client.objects.filter(pk__in=[acme.pk, globex.pk]).update(default_region="GB")


def test_a_killed_import_resumes_with_the_counts_of_an_uninterrupted_one(acme, globex, monkeypatch):
    with schema_context(globex.schema_name):  # the same file, never interrupted
        clean = consent_import_run(
            import_id=consent_import_create(upload=upload(CSV)).pk, chunk_rows=3
        )
        clean_report = error_rows(clean)
    assert counters(clean) == (12, 9, 3, 10, 1, 5)

    real_write, calls = imports._write_chunk, []

    def dies_in_the_third_chunk(**kwargs):
        calls.append(kwargs["progress"]["rows_done"])
        if len(calls) < 3:
            return real_write(**kwargs)
        with transaction.atomic():  # written, then killed before the commit
            real_write(**kwargs)
            raise WorkerKilled

    with schema_context(acme.schema_name):
        job = consent_import_create(upload=upload(CSV))
        monkeypatch.setattr(imports, "_write_chunk", dies_in_the_third_chunk)
        with pytest.raises(WorkerKilled):
            consent_import_run(import_id=job.pk, chunk_rows=3)
        job.refresh_from_db()
        assert calls == [3, 6, 9]
        assert job.state == "running"
        # what the first two chunks committed, and nothing of the third
        assert counters(job) == (6, 4, 2, 4, 0, 3)
        first_start = job.started_at

        monkeypatch.setattr(imports, "_write_chunk", real_write)
        job = consent_import_run(import_id=job.pk, chunk_rows=3)

    assert job.state == "done"
    assert counters(job) == counters(clean)
    assert job.started_at == first_start
    assert error_rows(job) == clean_report
    assert len(clean_report) == 4
    assert [(p, c, s) for p, c, s, _ in states(acme)] == [
        (p, c, s) for p, c, s, _ in states(globex)
    ]
    assert history(acme) == history(globex)
    audit = finish_audit(acme, job)
    assert {k: audit[k] for k in ("rows", "valid", "invalid", "events_created")} == {
        "rows": 12,
        "valid": 9,
        "invalid": 3,
        "events_created": 10,
    }
    assert (audit["contacts_created"], audit["events_unchanged"]) == (5, 1)
    assert audit["started_at"] == first_start.isoformat()
    assert audit["resumed_after_row"] == 6
    assert finish_audit(globex, clean)["resumed_after_row"] == 0


def test_a_job_killed_after_its_last_chunk_finishes_without_writing_again(acme, monkeypatch):
    real_finish = imports.audit_record

    def killed_before_the_finish(**kwargs):
        raise WorkerKilled

    with schema_context(acme.schema_name):
        job = consent_import_create(upload=upload(CSV))
        monkeypatch.setattr(imports, "audit_record", killed_before_the_finish)
        with pytest.raises(WorkerKilled):
            consent_import_run(import_id=job.pk, chunk_rows=3)
        job.refresh_from_db()
        assert (job.state, counters(job)) == ("running", (12, 9, 3, 10, 1, 5))
        monkeypatch.setattr(imports, "audit_record", real_finish)
        job = consent_import_run(import_id=job.pk, chunk_rows=3)
    assert (job.state, counters(job)) == ("done", (12, 9, 3, 10, 1, 5))
    assert len(error_rows(job)) == 4


def test_a_job_another_run_is_applying_is_left_alone(acme):
    with schema_context(acme.schema_name):
        job = consent_import_create(upload=upload(CSV))
        key = f"consent-import:{acme.schema_name}"
        with psycopg.connect(database_url_for_tests(), autocommit=True) as other:
            other.execute("SELECT pg_advisory_lock(hashtext(%s), %s)", [key, job.pk])
            again = consent_import_run(import_id=job.pk, chunk_rows=3)
            # Released here, not by closing: a closed connection's locks go when its backend
            # has exited, which the client does not wait for.
            other.execute("SELECT pg_advisory_unlock(hashtext(%s), %s)", [key, job.pk])
        assert (again.state, again.rows_done) == ("queued", 0)
        assert consent_import_run(import_id=job.pk, chunk_rows=3).state == "done"


def test_the_sweeper_finds_stuck_jobs_in_each_client_and_nothing_else(acme, globex):
    now = timezone.now()
    with schema_context(acme.schema_name):
        never_sent = consent_import_create(upload=upload(CSV))
        ConsentImport.objects.filter(pk=never_sent.pk).update(created_at=now - timedelta(hours=1))
        just_uploaded = consent_import_create(upload=upload(CSV))
        done = consent_import_create(upload=upload(CSV))
        ConsentImport.objects.filter(pk=done.pk).update(
            state="done", created_at=now - timedelta(hours=1)
        )
    with schema_context(globex.schema_name):
        died = consent_import_create(upload=upload(CSV))
        ConsentImport.objects.filter(pk=died.pk).update(
            state="running",
            created_at=now - timedelta(hours=1),
            progress_at=now - imports.STALE_AFTER - timedelta(seconds=1),
        )
        working = consent_import_create(upload=upload(CSV))
        ConsentImport.objects.filter(pk=working.pk).update(
            state="running", created_at=now - timedelta(hours=1), progress_at=now
        )
    assert sorted(
        consent_imports_stale(schemas=[acme.schema_name, globex.schema_name], now=now)
    ) == sorted([(acme.schema_name, never_sent.pk), (globex.schema_name, died.pk)])
    # a client's stuck job is found in that client's schema only
    assert consent_imports_stale(schemas=[globex.schema_name], now=now) == [
        (globex.schema_name, died.pk)
    ]
    assert just_uploaded.pk not in {pk for _, pk in consent_imports_stale(schemas=[], now=now)}
    assert connection.schema_name == "public"


def test_the_sweep_sends_a_stuck_job_in_its_own_schema_once_per_stale_period(
    acme, globex, monkeypatch
):
    from compliance.tasks import consent_import, consent_import_sweep

    sent = []
    monkeypatch.setattr(
        consent_import, "apply_async", lambda **kwargs: sent.append(kwargs), raising=False
    )
    monkeypatch.setattr(
        "tenants.selectors.active_client_schemas",
        lambda: [acme.schema_name, globex.schema_name],
    )
    with schema_context(globex.schema_name):
        stuck = consent_import_create(upload=upload(CSV))
        ConsentImport.objects.filter(pk=stuck.pk).update(
            created_at=timezone.now() - timedelta(hours=1)
        )
    sent.clear()  # the upload's own send

    assert consent_import_sweep() == 1
    assert consent_import_sweep() == 0  # sent a moment ago: not again before STALE_AFTER
    assert [(s["args"], s["headers"]) for s in sent] == [
        ([stuck.pk], {"_schema_name": globex.schema_name})
    ]
    with schema_context(globex.schema_name):
        assert ConsentImport.objects.get(pk=stuck.pk).progress_at is not None
    with schema_context(acme.schema_name):
        assert not ConsentImport.objects.filter(pk=stuck.pk, original_name="consents.csv").exists()
