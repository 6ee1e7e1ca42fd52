"""Consent imports under faults, through real processes: a Celery worker SIGKILLed mid-import
(main process and pool: nothing of it survives, its task stays unacknowledged on the broker)
and a job uploaded while the broker was unreachable. In both the beat sweeper sends the job
again and a new worker finishes it with the counters of an uninterrupted run."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

import compliance.imports as imports
from tests.compliance.test_consent_import_worker import import_client  # noqa: F401 (fixture)
from tests.conftest import committed, database_url_for_tests

ROWS = 200_000
PEOPLE = 50_000
BAD_EVERY = 100


def big_csv() -> tuple[bytes, dict]:
    """ROWS rows over PEOPLE numbers (half written nationally, half internationally), every
    BAD_EVERY-th row a bad number; each row's content differs, so every valid row is a new
    history row."""
    lines = ["phone,category,action,occurred_at"]
    for i in range(ROWS):
        person = i % PEOPLE
        phone = f"+447911{person:06d}" if person % 2 else f"07911 {person:06d}"
        if i % BAD_EVERY == 0:
            phone = f"12{i}"
        category = ("marketing", "utility", "authentication")[i % 3]
        action = "opt_out" if i % 5 == 0 else "opt_in"
        when = f"2025-03-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}+00:00"
        lines.append(f"{phone},{category},{action},{when}")
    invalid = len(range(0, ROWS, BAD_EVERY))
    expected = {
        "rows_done": ROWS,
        "rows_valid": ROWS - invalid,
        "rows_invalid": invalid,
        "events_created": ROWS - invalid,
        "events_unchanged": 0,
        "contacts_created": len({i % PEOPLE for i in range(ROWS) if i % BAD_EVERY}),
    }
    return ("\n".join(lines) + "\n").encode(), expected


class Worker:
    """A Celery worker (prefork, one pool process) in a process group of its own."""

    def __init__(self, queue: str):
        env = {
            **os.environ,
            "DATABASE_URL": database_url_for_tests(),
            "DJANGO_SETTINGS_MODULE": "portal.settings.test",
            "TEST_CELERY_QUEUE": queue,
        }
        command = [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", queue]
        command += ["-P", "prefork", "-c", "1", "--without-gossip", "--without-mingle"]
        command += ["--without-heartbeat", "-l", "warning"]
        command.append(f"--hostname=imp-{uuid.uuid4().hex[:6]}@%h")
        self.process = subprocess.Popen(
            command,
            env=env,
            start_new_session=True,
        )

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(20)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def import_queue(settings):
    from portal.celery import app

    queue = f"test-imports-{uuid.uuid4().hex[:8]}"
    settings.CONSENT_IMPORT_QUEUE = queue
    yield queue
    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(queue)


@contextlib.contextmanager
def broker_unreachable(monkeypatch):
    """This process's Celery sends go to a port nothing listens on (fresh connection pools)."""
    from portal.celery import app

    with monkeypatch.context() as patch:
        patch.setattr(app, "_pool", None)
        patch.setattr(app.amqp, "_producer_pool", None)
        patch.setitem(app.conf, "broker_url", "redis://127.0.0.1:1/0")
        patch.setitem(app.conf, "task_publish_retry", False)
        yield


def job_of(client, job_id):
    from compliance.models import ConsentImport

    def read():
        connection.set_tenant(client)
        return ConsentImport.objects.get(pk=job_id)

    return committed(read)


def wait_for(client, job_id, done, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = job_of(client, job_id)
        if done(job):
            return job
        time.sleep(0.05)  # polling the worker's progress, bounded by the deadline
    raise AssertionError(f"import {job_id}: {job.state} at {job.rows_done} rows after {seconds} s")


def sweep(monkeypatch) -> int:
    """The beat task's body, with "no progress for a while" made "no progress now"."""
    from compliance.tasks import consent_import_sweep

    monkeypatch.setattr(imports, "STALE_AFTER", timedelta(0))
    return committed(consent_import_sweep)


def upload(client, data: bytes) -> int:
    from tenants.models import Client

    def run():
        Client.objects.filter(pk=client.pk).update(default_region="GB")
        connection.set_tenant(Client.objects.get(pk=client.pk))
        return imports.consent_import_create(upload=SimpleUploadedFile("big.csv", data)).pk

    return committed(run)


def finish_audit(client, job_id):
    from portal.audit.models import AuditLog

    return committed(
        lambda: (
            AuditLog.objects.get(
                client_id=client.pk, action="consent.import_finish", object_id=str(job_id)
            ).after
        )
    )


def counters(job) -> dict:
    return {
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


def remove_files(job) -> None:
    for name in (job.file.name, job.errors_file.name):
        if name:
            default_storage.delete(name)


@pytest.mark.slow
@pytest.mark.django_db
def test_a_worker_killed_mid_import_leaves_a_job_the_sweeper_resumes_exactly(
    import_client,  # noqa: F811
    import_queue,
    monkeypatch,
):
    data, expected = big_csv()
    first = Worker(import_queue)
    second = None
    try:
        job_id = upload(import_client, data)
        running = wait_for(
            import_client, job_id, lambda j: j.rows_done >= imports.CHUNK_ROWS, seconds=120
        )
        first.kill()  # main process and pool: the task stays unacknowledged on the broker
        killed = job_of(import_client, job_id)
        assert killed.state == "running"
        assert 0 < killed.rows_done < ROWS
        assert killed.rows_done % imports.CHUNK_ROWS == 0  # a committed chunk, no less no more

        second = Worker(import_queue)
        assert sweep(monkeypatch) >= 1
        job = wait_for(import_client, job_id, lambda j: j.is_finished, seconds=180)
    finally:
        first.stop()
        if second:
            second.stop()
    assert job.state == "done"
    assert counters(job) == expected
    assert job.started_at == running.started_at
    audit = finish_audit(import_client, job_id)
    assert audit["events_created"] == expected["events_created"]
    assert audit["contacts_created"] == expected["contacts_created"]
    assert audit["resumed_after_row"] >= killed.rows_done
    with job.errors_file.open("rb") as f:
        assert f.read().decode().count("\n") == 1 + expected["rows_invalid"]
    remove_files(job)


@pytest.mark.slow
@pytest.mark.django_db
def test_a_job_uploaded_while_the_broker_is_down_is_picked_up_by_the_sweeper(
    import_client,  # noqa: F811
    import_queue,
    monkeypatch,
):
    data = b"phone,category,action\n+447911123456,marketing,opt_in\n12345,utility,opt_in\n"
    with broker_unreachable(monkeypatch):
        job_id = upload(import_client, data)  # the upload itself succeeds
    assert job_of(import_client, job_id).state == "queued"

    worker = Worker(import_queue)
    try:
        assert sweep(monkeypatch) >= 1
        job = wait_for(import_client, job_id, lambda j: j.is_finished, seconds=120)
    finally:
        worker.stop()
    assert (job.state, job.rows_valid, job.rows_invalid, job.events_created) == ("done", 1, 1, 1)
    remove_files(job)
