"""Consent import and export API: upload, status, error report, export; wrong role and wrong
tenant change nothing and see nothing."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from compliance.consent import Evidence, consent_record_opt_in, consent_record_opt_out
from compliance.identity import contact_resolve
from compliance.imports import consent_import_run
from compliance.models import ConsentEvent, ConsentImport, Contact
from tests.compliance.test_consent_import import CSV_WITH_BAD_ROWS, EXPECTED_ERRORS
from tests.factories import ApiKeyFactory, ConsentImportFactory


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def csv_file(text: str = CSV_WITH_BAD_ROWS, name: str = "consents.csv"):
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def imports(client) -> int:
    with schema_context(client.schema_name):
        return ConsentImport.objects.count()


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_upload_follow_and_fetch_the_error_report(
    api, acme, acme_admin, django_capture_on_commit_callbacks
):
    http = api(acme, user=acme_admin)
    with django_capture_on_commit_callbacks() as queued:
        response = http.post("/api/v1/imports/", {"file": csv_file()}, format="multipart")

    assert response.status_code == 202
    job = response.json()
    assert (job["state"], job["percent"], job["original_name"], job["errors_url"]) == (
        "queued",
        0,
        "consents.csv",
        None,
    )
    assert len(queued) == 1  # the job goes to the worker once the upload is committed
    with schema_context(acme.schema_name):
        consent_import_run(import_id=job["id"])

    status = http.get(job["url"]).json()
    assert {k: status[k] for k in ("state", "percent", "rows_valid", "rows_invalid")} == {
        "state": "done",
        "percent": 100,
        "rows_valid": 4,
        "rows_invalid": 4,
    }
    assert status["errors_url"] == f"/api/v1/imports/{job['id']}/errors/"
    report = http.get(status["errors_url"])
    assert report.status_code == 200
    assert report["Content-Type"] == "text/csv; charset=utf-8"
    assert list(csv.reader(io.StringIO(body(report).decode()))) == EXPECTED_ERRORS


def test_a_write_key_may_upload_a_read_key_may_only_follow(api, acme):
    write = ApiKeyFactory(client=acme, scopes=["read", "write"])
    read = ApiKeyFactory(client=acme, scopes=["read"])

    refused = api(acme, key=read.raw_key).post(
        "/api/v1/imports/", {"file": csv_file()}, format="multipart"
    )
    accepted = api(acme, key=write.raw_key).post(
        "/api/v1/imports/", {"file": csv_file()}, format="multipart"
    )

    assert (refused.status_code, accepted.status_code) == (403, 202)
    listed = api(acme, key=read.raw_key).get("/api/v1/imports/").json()["results"]
    assert [j["id"] for j in listed] == [accepted.json()["id"]]


def test_a_viewer_cannot_upload(api, acme, acme_viewer):
    response = api(acme, user=acme_viewer).post(
        "/api/v1/imports/", {"file": csv_file()}, format="multipart"
    )

    assert response.status_code == 403
    assert imports(acme) == 0


def test_a_file_without_the_required_columns_is_a_problem(api, acme, acme_agent):
    response = api(acme, user=acme_agent).post(
        "/api/v1/imports/", {"file": csv_file("number,when\n1,2\n")}, format="multipart"
    )

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"] == {
        "file": [
            "The first row must name the columns; a phone, bsuid or username column and "
            "category, action are missing. Required: category, action and at least one of "
            "phone, bsuid, username; optional: occurred_at, source, name, wording, "
            "wording_version, page_url, ip_address, user_agent, channel."
        ]
    }
    assert imports(acme) == 0


def test_the_error_report_waits_for_the_end_of_the_import(api, acme, acme_viewer):
    with schema_context(acme.schema_name):
        job = ConsentImportFactory()

    response = api(acme, user=acme_viewer).get(f"/api/v1/imports/{job.pk}/errors/")

    assert response.status_code == 404
    assert response.json()["detail"] == "The error report is ready when the import has finished."


def test_import_list_reads_in_a_fixed_number_of_queries(
    api, acme, acme_viewer, django_assert_num_queries
):
    http = api(acme, user=acme_viewer)
    http.get("/api/v1/imports/")  # warms the host's domain cache
    for count in (2, 7):
        with schema_context(acme.schema_name):
            while ConsentImport.objects.count() < count:
                ConsentImportFactory()
        # schemas, session, user, membership, the page: the same for 2 imports and for 7
        with django_assert_num_queries(7):
            response = http.get("/api/v1/imports/")
        assert len(response.json()["results"]) == count


def test_imports_of_another_client_are_not_reachable(api, acme, globex, globex_owner):
    with schema_context(acme.schema_name):
        job = ConsentImportFactory()
    on_acme = api(acme, user=globex_owner)
    on_globex = api(globex, user=globex_owner)

    for path in (
        "/api/v1/imports/",
        f"/api/v1/imports/{job.pk}/",
        f"/api/v1/imports/{job.pk}/errors/",
        "/api/v1/consents/export/",
    ):
        assert on_acme.get(path).status_code == 403, path
    assert (
        on_acme.post("/api/v1/imports/", {"file": csv_file()}, format="multipart").status_code
        == 403
    )
    assert on_globex.get(f"/api/v1/imports/{job.pk}/").status_code == 404
    assert on_globex.get(f"/api/v1/imports/{job.pk}/errors/").status_code == 404
    assert on_globex.get("/api/v1/imports/").json()["results"] == []
    assert imports(acme) == 1
    assert imports(globex) == 0
    globex_key = ApiKeyFactory(client=globex)
    response = api(acme, key=globex_key.raw_key).post(
        "/api/v1/imports/", {"file": csv_file()}, format="multipart"
    )
    assert response.status_code == 401  # a key is only known on its own client's host
    assert imports(acme) == 1


# --- export -------------------------------------------------------------------------------


@pytest.fixture
def risky_consent(acme):
    """Consent whose recorded text a spreadsheet would run as formulas."""
    with schema_context(acme.schema_name):
        consent_record_opt_in(
            phone="+447911123456",
            category="marketing",
            source="web_form",
            name="@SUM(A1)",
            occurred_at=datetime(2025, 3, 1, 10, tzinfo=UTC),
            evidence=Evidence(
                wording='=HYPERLINK("http://evil.example","Click")',
                wording_version="-1",
                page_url="https://acme.example/join",
                ip_address="203.0.113.9",
                user_agent="\tMozilla",
                channel="\rweb",
            ),
            actor="Form bot",
        )
        consent_record_opt_out(
            phone="+447911123457",
            category="utility",
            source="staff",
            occurred_at=datetime(2025, 4, 1, tzinfo=UTC),
            evidence=Evidence(wording="Plain words"),
        )
        return list(ConsentEvent.objects.order_by("id").values_list("recorded_at", flat=True))


def test_export_of_state_guards_every_formula_cell(api, acme, acme_viewer, risky_consent):
    response = api(acme, user=acme_viewer).get("/api/v1/consents/export/")

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="acme-consent-state.csv"'
    rows = list(csv.reader(io.StringIO(body(response).decode())))
    first, second = risky_consent
    assert rows == [
        [
            "phone",
            "name",
            "category",
            "status",
            "since",
            "kind",
            "source",
            "wording",
            "wording_version",
            "page_url",
            "ip_address",
            "user_agent",
            "channel",
            "actor",
            "recorded_at",
            "bsuid",
            "username",
        ],
        [
            "'+447911123456",
            "'@SUM(A1)",
            "marketing",
            "opted_in",
            "2025-03-01T10:00:00+00:00",
            "opt_in",
            "web_form",
            '\'=HYPERLINK("http://evil.example","Click")',
            "'-1",
            "https://acme.example/join",
            "203.0.113.9",
            "'\tMozilla",
            "'\rweb",
            "Form bot",
            first.isoformat(),
            "",
            "",
        ],
        [
            "'+447911123457",
            "",
            "utility",
            "opted_out",
            "2025-04-01T00:00:00+00:00",
            "opt_out",
            "staff",
            "Plain words",
            "",
            "",
            "",
            "",
            "",
            "",
            second.isoformat(),
            "",
            "",
        ],
    ]


def test_export_of_history_has_every_event(api, acme, acme_viewer, risky_consent):
    response = api(acme, user=acme_viewer).get("/api/v1/consents/export/?kind=history")

    rows = list(csv.reader(io.StringIO(body(response).decode())))
    assert [(r[0], r[2], r[3], r[5]) for r in rows[1:]] == [
        ("'+447911123456", "marketing", "opt_in", "2025-03-01T10:00:00+00:00"),
        ("'+447911123457", "utility", "opt_out", "2025-04-01T00:00:00+00:00"),
    ]


def test_an_export_imports_back_unchanged(api, acme, acme_admin, risky_consent):
    exported = body(api(acme, user=acme_admin).get("/api/v1/consents/export/?kind=history"))
    text = exported.decode().replace("kind,source,occurred_at", "action,source,occurred_at")

    http = api(acme, user=acme_admin)
    job = http.post("/api/v1/imports/", {"file": csv_file(text)}, format="multipart").json()
    with schema_context(acme.schema_name):
        done = consent_import_run(import_id=job["id"])

    # the guarded phone numbers read back; the formula-looking evidence is new text, so the
    # rows are new history rows, never changes to the old ones
    assert (done.rows_valid, done.rows_invalid) == (2, 0)


def test_an_export_of_bsuid_and_username_contacts_imports_back_onto_them(api, acme, acme_admin):
    with schema_context(acme.schema_name):
        consent_record_opt_out(
            bsuid="GB.13491208655302741918", category="marketing", source="staff"
        )
        contact_resolve(username="alice.a", create=True)
        consent_record_opt_out(username="alice.a", category="utility", source="staff")
        before = sorted(Contact.objects.values_list("pk", "phone", "bsuid", "username"))
    exported = body(api(acme, user=acme_admin).get("/api/v1/consents/export/?kind=history"))
    rows = list(csv.reader(io.StringIO(exported.decode())))
    assert [(r[0], r[-2], r[-1]) for r in rows] == [
        ("phone", "bsuid", "username"),
        ("", "GB.13491208655302741918", ""),
        ("", "", "alice.a"),
    ]
    text = exported.decode().replace("kind,source,occurred_at", "action,source,occurred_at")

    job = api(acme, user=acme_admin).post(
        "/api/v1/imports/", {"file": csv_file(text)}, format="multipart"
    )
    with schema_context(acme.schema_name):
        done = consent_import_run(import_id=job.json()["id"])
        after = sorted(Contact.objects.values_list("pk", "phone", "bsuid", "username"))

    assert (done.rows_valid, done.rows_invalid, done.contacts_created) == (2, 0, 0)
    assert after == before


def test_export_kind_must_be_known(api, acme, acme_viewer):
    response = api(acme, user=acme_viewer).get("/api/v1/consents/export/?kind=everything")

    assert response.status_code == 400
    assert response.json()["errors"] == {"kind": ["Choose state or history."]}


def test_export_shows_only_this_clients_consent(api, globex, globex_owner, risky_consent):
    response = api(globex, user=globex_owner).get("/api/v1/consents/export/")

    assert body(response).decode().count("\n") == 1  # the header only
