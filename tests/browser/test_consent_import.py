"""The consent import in the browser: upload a CSV with bad rows, see its preview, apply it,
watch the progress bar (htmx polling) reach done through a real worker, see the counts and
fetch the error report."""

import csv
import io
import uuid
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from tests.conftest import committed

pytestmark = [pytest.mark.browser, pytest.mark.django_db, pytest.mark.slow]

GOOD_ROWS = 120
BAD_ROWS = 3


def _csv() -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["phone", "category", "action", "occurred_at", "wording"])
    for n in range(GOOD_ROWS):
        writer.writerow(
            [f"+4479111{n:05d}", "marketing", "opt_in", "2025-03-01T10:00:00Z", "Yes, offers"]
        )
    writer.writerow(["not a number", "marketing", "opt_in", "", ""])  # row 122
    writer.writerow(["+447911100001", "newsletter", "opt_in", "", ""])  # row 123
    writer.writerow(["+447911100002", "utility", "maybe", "", ""])  # row 124
    return out.getvalue()


@pytest.fixture
def import_client():
    """A client of its own with an owner who can sign in, committed for the live server and
    the worker; removed afterwards with the files its import stored."""
    from tenants.models import Client, User
    from tenants.services import client_create

    slug = f"imp-{uuid.uuid4().hex[:8]}"
    email = f"owner@{slug}.example"
    client = committed(
        lambda: client_create(
            name="Import Browser", slug=slug, owner_email=email, owner_password="test-pass"
        )
    )
    yield client, email

    def remove():
        from django.db import connection

        from compliance.models import ConsentImport

        connection.set_tenant(Client.objects.get(pk=client.pk))
        for job in ConsentImport.objects.all():
            for name in (job.file.name, job.errors_file.name):
                if name:
                    default_storage.delete(name)
        connection.set_schema_to_public()
        Client.objects.get(pk=client.pk).delete(force_drop=True)
        User.objects.filter(email=email).delete()

    committed(remove)


def test_import_with_its_progress_bar_and_error_report(
    live_portal, celery_worker_queue, page, import_client, tmp_path
):
    client, email = import_client
    base = live_portal.format(host=f"{client.slug}.localhost")
    upload = tmp_path / "consents.csv"
    upload.write_text(_csv())

    page.goto(base + "/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill("test-pass")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/")

    page.get_by_role("link", name="Contacts").click()
    page.get_by_role("link", name="Imports").click()
    page.get_by_label("CSV file").set_input_files(str(upload))
    page.get_by_role("button", name="Preview").click()

    # the preview: nothing imported yet, the mapping, the first rows and the errors found
    assert page.locator('[data-preview="scanned"]').inner_text() == str(GOOD_ROWS + BAD_ROWS)
    assert page.locator('[data-preview="invalid"]').inner_text() == str(BAD_ROWS)
    assert page.locator('tr[data-column="wording"] td').nth(1).inner_text() == "wording"
    page.get_by_role("button", name="Apply import").click()

    page.wait_for_url(base + "/consent/imports/*/")
    progress = page.locator("#import-status progress")
    assert progress.is_visible()
    # the worker finishes; htmx polling swaps the status in place (no reload)
    page.locator('[data-state="done"]').wait_for(timeout=60_000)
    assert progress.get_attribute("value") == "100"
    assert page.locator('[data-count="rows"]').inner_text() == str(GOOD_ROWS + BAD_ROWS)
    assert page.locator('[data-count="valid"]').inner_text() == str(GOOD_ROWS)
    assert page.locator('[data-count="invalid"]').inner_text() == str(BAD_ROWS)
    assert page.locator('[data-count="created"]').inner_text() == str(GOOD_ROWS)
    assert page.locator("#import-status[hx-trigger]").count() == 0  # polling stopped

    link = page.get_by_role("link", name="Download the error report (3 rows)")
    with page.expect_download() as download:
        link.click()
    report = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert report == [
        ["row", "column", "reason"],
        [
            "122",
            "phone",
            "'not a number' is not a phone number (The string supplied did not "
            "seem to be a phone number.).",
        ],
        [
            "123",
            "category",
            "'newsletter' is not a category; use marketing, utility, authentication (or all, "
            "for an opt-out).",
        ],
        ["124", "action", "'maybe' is not an action; use opt_in or opt_out."],
    ]

    page.get_by_role("link", name="← Imports").click()
    assert page.get_by_role("link", name="consents.csv").is_visible()
