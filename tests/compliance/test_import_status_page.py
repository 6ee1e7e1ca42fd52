"""Issue 14, defect 11: a failed import (a file that is not UTF-8) must not also say that every
row was read."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django_tenants.utils import schema_context

from tests.factories import ConsentImportFactory


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _job(acme, **fields):
    with schema_context(acme.schema_name):
        job = ConsentImportFactory(**fields)
        job.errors_file.save("errors.csv", ContentFile(b"row,column,reason\n"))
        return job


def test_a_failed_import_says_why_and_not_that_every_row_was_read(web, acme, acme_agent):
    job = _job(
        acme,
        state="failed",
        failure="The file is not UTF-8 text: save it as CSV UTF-8 and upload it again.",
    )

    page = web(acme, acme_agent).get(f"/consent/imports/{job.pk}/").content.decode()

    assert "The file is not UTF-8 text" in page
    assert "Every row was read" not in page


def test_a_clean_import_says_every_row_was_read(web, acme, acme_agent):
    job = _job(acme, state="done", rows_done=3, rows_valid=3)

    page = web(acme, acme_agent).get(f"/consent/imports/{job.pk}/").content.decode()

    assert "Every row was read; the error report is empty." in page


def test_another_clients_import_is_not_shown(web, acme, globex_owner):
    job = _job(acme, state="done")

    assert web(acme, globex_owner).get(f"/consent/imports/{job.pk}/").status_code == 403
