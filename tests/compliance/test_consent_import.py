"""CSV import of consent: every valid row kept, the error report exact, re-import changes
nothing, the state follows the newest event, and the file stays with its client."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from compliance.consent import consent_record_opt_out
from compliance.imports import ImportRejected, consent_import_create, consent_import_run
from compliance.models import ConsentEvent, ConsentImport, ConsentState, Contact
from portal.audit.models import AuditLog

CSV_WITH_BAD_ROWS = (
    "Phone,Category,Action,Occurred_at,Source,Wording,IP_address,Name\n"
    "+447911123456,marketing,opt_in,2025-03-01T10:00:00+00:00,web_form,Yes please,"
    "203.0.113.9,Alice\n"
    "201-555-0123,Utility,opt-in,2025-03-01T10:00:00Z,,,,Bob\n"
    "12345,marketing,opt_in,,,,,\n"
    "+447911123458,newsletter,opt_in,,,,,\n"
    "+447911123459,utility,subscribe,yesterday,,,,\n"
    "\n"
    "+447911123456,marketing,opt_out,2025-04-01T00:00:00+00:00,,,,\n"
    "+447911123460,all,opt_out,,fax,,999.1.1.1,\n"
    '\'+447911123461,all,opt_out,2025-02-01T00:00:00+00:00,,=HYPERLINK("x"),,\n'
)

EXPECTED_ERRORS = [
    ["row", "column", "reason"],
    ["4", "phone", "'12345' is not a valid phone number."],
    [
        "5",
        "category",
        "'newsletter' is not a category; use marketing, utility, authentication (or all, for an "
        "opt-out).",
    ],
    ["6", "action", "'subscribe' is not an action; use opt_in or opt_out."],
    [
        "6",
        "occurred_at",
        "'yesterday' is not a date and time; use ISO 8601, e.g. 2025-03-01T14:30:00+00:00.",
    ],
    [
        "9",
        "source",
        "'fax' is not a source; use one of api, checkout, import, sms_keyword, staff, web_form.",
    ],
    ["9", "ip_address", "'999.1.1.1' is not an IP address."],
]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def upload(text: str, name: str = "consents.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def run_import(client, text: str, actor=None, chunk_rows: int = 3) -> ConsentImport:
    with schema_context(client.schema_name):
        job = consent_import_create(upload=upload(text), actor=actor)
        return consent_import_run(import_id=job.pk, chunk_rows=chunk_rows)


def error_rows(job: ConsentImport) -> list[list[str]]:
    with job.errors_file.open("rb") as f:
        return list(csv.reader(io.StringIO(f.read().decode())))


def history(client):
    with schema_context(client.schema_name):
        return sorted(
            ConsentEvent.objects.values_list("contact__phone", "category", "kind", "source")
        )


def states(client):
    with schema_context(client.schema_name):
        return sorted(
            ConsentState.objects.values_list("contact__phone", "category", "status", "updated_at")
        )


def test_import_keeps_every_valid_row_and_reports_each_bad_one(acme, acme_admin):
    job = run_import(acme, CSV_WITH_BAD_ROWS, actor=acme_admin)

    assert (job.state, job.failure) == ("done", "")
    assert (job.rows_done, job.rows_valid, job.rows_invalid) == (8, 4, 4)
    assert (job.events_created, job.events_unchanged, job.contacts_created) == (6, 0, 3)
    assert job.percent == 100
    assert error_rows(job) == EXPECTED_ERRORS
    assert history(acme) == [
        ("+12015550123", "utility", "opt_in", "import"),
        ("+447911123456", "marketing", "opt_in", "web_form"),
        ("+447911123456", "marketing", "opt_out", "import"),
        ("+447911123461", "authentication", "opt_out", "import"),
        ("+447911123461", "marketing", "opt_out", "import"),
        ("+447911123461", "utility", "opt_out", "import"),
    ]
    march, april, feb = (
        datetime(2025, 3, 1, 10, tzinfo=UTC),
        datetime(2025, 4, 1, tzinfo=UTC),
        datetime(2025, 2, 1, tzinfo=UTC),
    )
    assert states(acme) == [
        ("+12015550123", "utility", "opted_in", march),
        ("+447911123456", "marketing", "opted_out", april),
        ("+447911123461", "authentication", "opted_out", feb),
        ("+447911123461", "marketing", "opted_out", feb),
        ("+447911123461", "utility", "opted_out", feb),
    ]
    with schema_context(acme.schema_name):
        alice = ConsentEvent.objects.get(contact__phone="+447911123456", kind="opt_in")
        assert (alice.wording, alice.ip_address, alice.occurred_at) == (
            "Yes please",
            "203.0.113.9",
            march,
        )
        assert (alice.actor_label, alice.data) == (str(acme_admin), {"import": job.pk, "row": 2})
        assert Contact.objects.get(phone="+447911123456").name == "Alice"
        # the formula stays as it was given in the history (only exports and reports guard it)
        assert ConsentEvent.objects.filter(wording='=HYPERLINK("x")').count() == 3
        actions = list(
            AuditLog.objects.filter(
                object_type="compliance.consentimport", object_id=str(job.pk)
            ).values_list("action", flat=True)
        )
    assert sorted(actions) == ["consent.import_create", "consent.import_finish"]


def test_reimporting_the_same_file_changes_nothing(acme):
    first = run_import(acme, CSV_WITH_BAD_ROWS)
    before = (history(acme), states(acme))
    with schema_context(acme.schema_name):
        ids = sorted(ConsentEvent.objects.values_list("id", flat=True))

    second = run_import(acme, CSV_WITH_BAD_ROWS, chunk_rows=100)

    assert (history(acme), states(acme)) == before
    with schema_context(acme.schema_name):
        assert sorted(ConsentEvent.objects.values_list("id", flat=True)) == ids
    assert (second.events_created, second.events_unchanged, second.contacts_created) == (0, 6, 0)
    assert (second.rows_valid, second.rows_invalid) == (first.rows_valid, first.rows_invalid)
    assert error_rows(second) == EXPECTED_ERRORS


def test_running_the_job_twice_applies_it_once(acme):
    with schema_context(acme.schema_name):
        job = consent_import_create(upload=upload(CSV_WITH_BAD_ROWS))
        consent_import_run(import_id=job.pk)
        finished = ConsentImport.objects.get(pk=job.pk).finished_at
        again = consent_import_run(import_id=job.pk)

    assert again.finished_at == finished
    assert len(history(acme)) == 6


def test_an_old_imported_opt_in_does_not_undo_a_newer_opt_out(acme):
    with schema_context(acme.schema_name):
        consent_record_opt_out(
            phone="+447911123456",
            category="marketing",
            source="staff",
            occurred_at=datetime(2025, 5, 1, tzinfo=UTC),
        )

    run_import(
        acme,
        "phone,category,action,occurred_at\n+447911123456,marketing,opt_in,2025-03-01T00:00:00Z\n",
    )

    assert states(acme) == [
        ("+447911123456", "marketing", "opted_out", datetime(2025, 5, 1, tzinfo=UTC))
    ]
    assert len(history(acme)) == 2


def test_rows_without_a_time_take_the_upload_time_and_still_import_once(acme):
    text = "phone,category,action\n+447911123456,marketing,opt_in\n"
    job = run_import(acme, text)
    run_import(acme, text)

    with schema_context(acme.schema_name):
        assert list(ConsentEvent.objects.values_list("occurred_at", flat=True)) == [job.created_at]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "The file is empty."),
        (
            "number,category\n+447911123456,marketing\n",
            "The first row must name the columns; a phone, bsuid or username column and action "
            "are missing. Required: category, action and at least one of phone, bsuid, username; "
            "optional: occurred_at, source, name, wording, wording_version, page_url, ip_address, "
            "user_agent, channel.",
        ),
    ],
)
def test_an_upload_without_the_required_columns_is_refused(acme, text, reason):
    with schema_context(acme.schema_name):
        with pytest.raises(ImportRejected) as refused:
            consent_import_create(
                upload=SimpleUploadedFile("x.csv", text.encode(), content_type="text/csv")
            )
        assert ConsentImport.objects.count() == 0
    assert str(refused.value) == reason


def test_a_file_that_stops_being_utf8_fails_with_a_plain_reason_and_keeps_earlier_rows(acme):
    with schema_context(acme.schema_name):
        # past the decoder's first read, so the earlier rows are already written
        good = b"+447911123456,marketing,opt_in\n" * 5000
        data = b"phone,category,action\n" + good + b"\xff\xfe\n"
        job = consent_import_create(upload=SimpleUploadedFile("x.csv", data))
        job = consent_import_run(import_id=job.pk, chunk_rows=100)

    assert job.state == "failed"
    assert job.failure.startswith("The file is not UTF-8 text after row ")
    assert history(acme) == [("+447911123456", "marketing", "opt_in", "import")]


def test_files_are_stored_per_client(acme, globex):
    a = run_import(acme, "phone,category,action\n+447911123456,marketing,opt_in\n")
    g = run_import(globex, "phone,category,action\n+447911123456,marketing,opt_in\n")

    assert a.file.name.startswith(f"consent-imports/{acme.schema_name}/")
    assert g.file.name.startswith(f"consent-imports/{globex.schema_name}/")
    assert a.errors_file.name.startswith(f"consent-imports/{acme.schema_name}/")


def test_an_import_in_one_client_writes_nothing_in_another(acme, globex):
    run_import(acme, CSV_WITH_BAD_ROWS)

    assert history(globex) == []
    with schema_context(globex.schema_name):
        assert ConsentImport.objects.count() == 0


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_a_file_saved_with_semicolons_or_tabs_imports_the_same(acme, delimiter):
    text = CSV_WITH_BAD_ROWS.replace(",", delimiter)
    text = text.replace('=HYPERLINK("x")', "=HYPERLINK(x)")  # no quotes to escape

    job = run_import(acme, text)

    assert (job.rows_valid, job.rows_invalid, job.events_created) == (4, 4, 6)


def test_a_nul_character_or_an_impossible_time_is_a_row_error_not_a_failed_job(acme):
    # PostgreSQL text cannot hold NUL; a time that is not representable cannot be stored either
    text = (
        "phone,category,action,occurred_at,wording,user_agent\n"
        "+447911123456,marketing,opt_in,,Yes\x00please,\n"
        "+447911123457,marketing,opt_in,,,Mozilla\x00\n"
        "+447911123458,marketing,opt_in,0001-01-01T00:00:00+14:00,,\n"
        "+447911123459,marketing,opt_in,,Fine,\n"
    )
    job = run_import(acme, text)

    assert (job.state, job.failure) == ("done", "")
    assert (job.rows_valid, job.rows_invalid, job.events_created) == (1, 3, 1)
    assert error_rows(job) == [
        ["row", "column", "reason"],
        ["2", "wording", "Contains a NUL character, which cannot be stored."],
        ["3", "user_agent", "Contains a NUL character, which cannot be stored."],
        ["4", "occurred_at", "'0001-01-01T00:00:00+14:00' is not a date and time we can store."],
    ]
    assert history(acme) == [("+447911123459", "marketing", "opt_in", "import")]
