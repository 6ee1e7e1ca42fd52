"""A consent import through the real chain: the upload commits, the job goes to the broker, a
real worker applies it inside the client's schema. No step is called directly."""

import csv
import io
import time
import uuid

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from tests.compliance.test_consent_import import CSV_WITH_BAD_ROWS, EXPECTED_ERRORS
from tests.conftest import committed


@pytest.fixture
def import_client():
    """A client of its own, committed (the worker must see it); removed afterwards."""
    from tenants.models import Client, User
    from tenants.services import client_create

    slug = f"imp-{uuid.uuid4().hex[:8]}"
    client = committed(
        lambda: client_create(name="Import Worker", slug=slug, owner_email=f"owner@{slug}.example")
    )
    yield client

    def remove():
        Client.objects.get(pk=client.pk).delete(force_drop=True)
        User.objects.filter(email=f"owner@{slug}.example").delete()

    committed(remove)


@pytest.mark.slow
@pytest.mark.django_db
def test_an_upload_is_imported_by_a_real_worker(import_client, celery_worker_queue):
    from compliance.imports import consent_import_create
    from compliance.models import ConsentEvent, ConsentImport, ConsentState

    def upload():
        connection.set_tenant(import_client)
        job = consent_import_create(
            upload=SimpleUploadedFile("consents.csv", CSV_WITH_BAD_ROWS.encode())
        )
        return job.pk

    job_id = committed(upload)

    def wait_for_the_job():
        connection.set_tenant(import_client)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job = ConsentImport.objects.get(pk=job_id)
            if job.is_finished:
                break
            time.sleep(0.1)  # polling for the worker's result, bounded by the deadline
        report = []
        if job.errors_file:
            with job.errors_file.open("rb") as f:
                report = list(csv.reader(io.StringIO(f.read().decode())))
        events = ConsentEvent.objects.count()
        states = sorted(ConsentState.objects.values_list("contact__phone", "category", "status"))
        for name in (job.file.name, job.errors_file.name):
            if name:
                default_storage.delete(name)
        return job, report, events, states

    job, report, events, states = committed(wait_for_the_job)
    assert (job.state, job.rows_valid, job.rows_invalid, job.events_created) == ("done", 4, 4, 6)
    assert report == EXPECTED_ERRORS
    assert events == 6
    # the job's writer threads keep each number's rows in file order: the newer opt-out wins
    assert states == [
        ("+12015550123", "utility", "opted_in"),
        ("+447911123456", "marketing", "opted_out"),
        ("+447911123461", "authentication", "opted_out"),
        ("+447911123461", "marketing", "opted_out"),
        ("+447911123461", "utility", "opted_out"),
    ]
