"""Consent pages: contact search, a contact's timeline, imports with progress, the export button,
the messaging policy; roles and tenants."""

from datetime import UTC, datetime, time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from compliance.consent import Evidence, consent_record_opt_in, consent_record_opt_out
from compliance.imports import consent_import_run
from compliance.models import ConsentEvent, ConsentImport, MessagingPolicy
from portal.audit.models import AuditLog
from tests.compliance.test_consent_import import CSV_WITH_BAD_ROWS
from tests.factories import (
    ConsentEventFactory,
    ConsentImportFactory,
    ConsentStateFactory,
    ContactFactory,
    MessagingPolicyFactory,
)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def alice(acme):
    with schema_context(acme.schema_name):
        consent_record_opt_in(
            phone="+447911123456",
            category="marketing",
            source="web_form",
            name="Alice Liddell",
            occurred_at=datetime(2025, 3, 1, 10, tzinfo=UTC),
            evidence=Evidence(wording="Yes, send me offers.", wording_version="v3"),
        )
        consent_record_opt_out(
            phone="+447911123456",
            category="marketing",
            source="sms_keyword",
            occurred_at=datetime(2025, 4, 1, 9, tzinfo=UTC),
            evidence=Evidence(channel="sms"),
        )
        ContactFactory(phone="+447911123999", name="Bob Dylan")


# --- contacts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("", ["+447911123456", "+447911123999"]),
        ("alice", ["+447911123456"]),
        ("+44 7911 123456", ["+447911123456"]),
        ("123999", ["+447911123999"]),
        ("nobody", []),
    ],
)
def test_contact_search(web, acme, acme_viewer, alice, q, found):
    response = web(acme, acme_viewer).get("/contacts/", {"q": q})

    assert response.status_code == 200
    assert [c.phone for c in response.context["page"]] == found


def test_contact_search_as_you_type_returns_the_results_only(web, acme, acme_viewer, alice):
    response = web(acme, acme_viewer).get(
        "/contacts/", {"q": "bob"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="contact-results"
    )

    html = response.content.decode()
    assert "<html" not in html
    assert "+447911123999" in html
    assert "+447911123456" not in html


def test_contact_list_reads_in_a_fixed_number_of_queries(
    web, acme, acme_viewer, django_assert_num_queries
):
    http = web(acme, acme_viewer)
    http.get("/contacts/")  # warms the host's domain cache
    for count in (2, 12):
        with schema_context(acme.schema_name):
            while ConsentStateFactory._meta.model.objects.count() < count:
                ConsentStateFactory()
        # schemas, session, user, memberships (access and switcher), count, page, states: 2 or
        # 12 the same
        with django_assert_num_queries(9):
            response = http.get("/contacts/")
        assert len(response.context["page"]) == count


def test_the_contact_list_shows_each_contacts_states_as_its_own_page_does(
    web, acme, acme_viewer, alice
):
    """The list reads a page's states in one query of values; each row still says what the
    contact's own page says, category by category (unknown where none)."""
    from compliance.consent_selectors import states_by_category, states_by_contact
    from compliance.models import Contact

    with schema_context(acme.schema_name):
        ConsentStateFactory(contact=Contact.objects.get(phone="+447911123999"), category="utility")
        contacts = list(Contact.objects.order_by("phone"))
        expected = {contact.pk: states_by_category(contact) for contact in contacts}
    response = web(acme, acme_viewer).get("/contacts/")
    rows = {c.pk: c.category_states for c in response.context["page"]}
    assert rows == expected
    assert rows[contacts[0].pk][0][1:] == ("opted_out", "Opted out")  # Alice's marketing
    assert rows[contacts[1].pk][1][1] == "opted_in"  # Bob's utility
    assert {status for _, status, _ in rows[contacts[1].pk]} == {"opted_in", "unknown"}
    with schema_context(acme.schema_name):
        assert states_by_contact(contacts=[]) == {}


def test_contact_page_shows_states_and_the_history_newest_first(web, acme, acme_viewer, alice):
    response = web(acme, acme_viewer).get("/contacts/+447911123456/")

    assert response.status_code == 200
    assert [(e.kind, e.source) for e in response.context["events"]] == [
        ("opt_out", "sms_keyword"),
        ("opt_in", "web_form"),
    ]
    assert response.context["states"] == [
        ("Marketing", "opted_out", "Opted out"),
        ("Utility", "unknown", "Unknown"),
        ("Authentication", "unknown", "Unknown"),
    ]
    html = response.content.decode()
    assert "“Yes, send me offers.”" in html
    assert html.index("SMS keyword") < html.index("Web form")


def test_contact_page_reads_a_national_number_with_the_client_region(web, acme, acme_viewer):
    with schema_context(acme.schema_name):
        ContactFactory(phone="+12015550123")

    assert web(acme, acme_viewer).get("/contacts/201-555-0123/").status_code == 200
    assert web(acme, acme_viewer).get("/contacts/+12015550124/").status_code == 404
    assert web(acme, acme_viewer).get("/contacts/nonsense/").status_code == 404


def test_contacts_of_another_client_are_not_reachable(web, acme, globex, globex_owner, alice):
    assert web(acme, globex_owner).get("/contacts/").status_code == 403
    assert web(acme, globex_owner).get("/contacts/+447911123456/").status_code == 403
    assert web(globex, globex_owner).get("/contacts/+447911123456/").status_code == 404
    listed = web(globex, globex_owner).get("/contacts/").context["page"]
    assert list(listed) == []


# --- export -----------------------------------------------------------------------------------


def test_export_button_downloads_formula_safe_csv(web, acme, acme_viewer, alice):
    page = web(acme, acme_viewer).get("/contacts/").content.decode()
    assert 'href="/consent/export.csv?kind=state"' in page

    response = web(acme, acme_viewer).get("/consent/export.csv", {"kind": "state"})

    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[1].startswith("'+447911123456,Alice Liddell,marketing,opted_out,")
    assert web(acme, acme_viewer).get("/consent/export.csv", {"kind": "x"}).status_code == 404
    assert web(acme, None).get("/consent/export.csv").status_code == 302  # sign in first


def test_export_of_another_client_is_refused(web, acme, globex_owner, alice):
    assert web(acme, globex_owner).get("/consent/export.csv").status_code == 403


# --- imports ----------------------------------------------------------------------------------


def test_upload_page_previews_then_queues_an_import_and_shows_its_progress(
    web, acme, acme_agent, django_capture_on_commit_callbacks
):
    http = web(acme, acme_agent)
    preview = http.post(
        "/consent/imports/",
        {"file": SimpleUploadedFile("consents.csv", CSV_WITH_BAD_ROWS.encode())},
    )
    assert preview.status_code == 200
    assert preview.context["preview"].invalid == 4
    with schema_context(acme.schema_name):
        assert ConsentImport.objects.count() == 0  # nothing before "Apply"
    with django_capture_on_commit_callbacks() as queued:
        response = http.post("/consent/imports/apply/", {"token": preview.context["token"]})

    with schema_context(acme.schema_name):
        job = ConsentImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/consent/imports/{job.pk}/"
    assert len(queued) == 1
    waiting = http.get(f"/consent/imports/{job.pk}/").content.decode()
    assert 'hx-trigger="every 1s"' in waiting
    assert "Waiting for a worker" in waiting

    with schema_context(acme.schema_name):
        consent_import_run(import_id=job.pk)
    status = http.get(f"/consent/imports/{job.pk}/", HTTP_HX_REQUEST="true").content.decode()

    assert "<html" not in status
    assert "hx-trigger" not in status  # finished: the polling stops
    assert 'data-count="valid">4<' in status
    assert 'data-count="invalid">4<' in status
    assert f'href="/consent/imports/{job.pk}/errors.csv"' in status
    report = http.get(f"/consent/imports/{job.pk}/errors.csv")
    assert b"".join(report.streaming_content).decode().splitlines()[1] == (
        "4,phone,'12345' is not a valid phone number."
    )


def test_upload_page_shows_a_plain_error_for_a_file_it_cannot_import(web, acme, acme_agent):
    response = web(acme, acme_agent).post(
        "/consent/imports/", {"file": SimpleUploadedFile("x.csv", b"name,email\na,b\n")}
    )

    assert response.status_code == 400
    assert (
        "The first row must name the columns; a phone, bsuid or username column and category,"
        " action are missing." in response.content.decode()
    )
    with schema_context(acme.schema_name):
        assert ConsentImport.objects.count() == 0


def test_a_viewer_sees_imports_but_cannot_upload(web, acme, acme_viewer):
    http = web(acme, acme_viewer)

    page = http.get("/consent/imports/")
    refused = http.post(
        "/consent/imports/",
        {"file": SimpleUploadedFile("consents.csv", CSV_WITH_BAD_ROWS.encode())},
    )

    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' not in page.content.decode()
    assert refused.status_code == 403
    with schema_context(acme.schema_name):
        assert ConsentImport.objects.count() == 0


def test_imports_of_another_client_are_not_reachable(web, acme, globex, globex_owner):
    with schema_context(acme.schema_name):
        job = ConsentImportFactory()

    for path in (
        "/consent/imports/",
        f"/consent/imports/{job.pk}/",
        f"/consent/imports/{job.pk}/errors.csv",
    ):
        assert web(acme, globex_owner).get(path).status_code == 403, path
    assert web(globex, globex_owner).get(f"/consent/imports/{job.pk}/").status_code == 404
    assert web(globex, globex_owner).get(f"/consent/imports/{job.pk}/errors.csv").status_code == (
        404
    )
    refused = web(acme, globex_owner).post(
        "/consent/imports/", {"file": SimpleUploadedFile("c.csv", CSV_WITH_BAD_ROWS.encode())}
    )
    assert refused.status_code == 403
    with schema_context(acme.schema_name):
        assert ConsentImport.objects.count() == 1


# --- policy -----------------------------------------------------------------------------------

POLICY = {
    "marketing_cap": "3",
    "utility_cap": "0",
    "window_days": "7",
    "quiet_hours_start": "21:00",
    "quiet_hours_end": "08:00",
    "time_zone": "Europe/London",
    "opt_out_keywords": "STOP, Unsubscribe, stop, ARRÊT",
}


def test_an_admin_sets_the_policy(web, acme, acme_admin):
    response = web(acme, acme_admin).post("/consent/policy/", POLICY)

    assert response.status_code == 302
    with schema_context(acme.schema_name):
        policy = MessagingPolicy.current()
        audit = AuditLog.objects.get(action="consent.policy_update")
    assert (policy.marketing_cap, policy.window_days, policy.time_zone) == (3, 7, "Europe/London")
    assert (policy.quiet_hours_start, policy.quiet_hours_end) == (time(21), time(8))
    assert policy.opt_out_keywords == ["STOP", "Unsubscribe", "ARRÊT"]
    assert audit.after["marketing_cap"] == 3
    assert audit.before["marketing_cap"] == 2


@pytest.mark.parametrize(
    ("change", "field", "error"),
    [
        ({"window_days": "0"}, "window_days", "Choose a window of 1 to 90 days."),
        (
            {"time_zone": "Mars/Olympus"},
            "time_zone",
            "'Mars/Olympus' is not a time zone; use a name like Europe/London.",
        ),
        ({"quiet_hours_end": ""}, "__all__", "Give both quiet-hour times, or neither."),
        ({"marketing_cap": "-1"}, "marketing_cap", "Ensure this value is greater than or equal"),
    ],
)
def test_policy_form_shows_errors_and_saves_nothing(web, acme, acme_owner, change, field, error):
    response = web(acme, acme_owner).post("/consent/policy/", {**POLICY, **change})

    assert response.status_code == 400
    assert any(e.startswith(error) for e in response.context["form"].errors[field])
    assert error.split("'")[0] in response.content.decode()
    with schema_context(acme.schema_name):
        assert not MessagingPolicy.objects.exists()


@pytest.mark.parametrize("person", ["acme_agent", "acme_viewer"])
def test_others_see_the_policy_read_only(web, acme, person, request):
    user = request.getfixturevalue(person)
    http = web(acme, user)

    page = http.get("/consent/policy/")
    refused = http.post("/consent/policy/", POLICY)

    assert page.status_code == 200
    html = page.content.decode()
    assert "Save policy" not in html
    assert 'name="marketing_cap" value="2" min="0" disabled' in html.replace(" required", "")
    assert refused.status_code == 403
    with schema_context(acme.schema_name):
        assert not MessagingPolicy.objects.exists()


def test_policy_of_another_client_is_not_reachable(web, acme, globex_owner):
    assert web(acme, globex_owner).get("/consent/policy/").status_code == 403
    assert web(acme, globex_owner).post("/consent/policy/", POLICY).status_code == 403
    with schema_context(acme.schema_name):
        assert not MessagingPolicy.objects.exists()


def test_navigation_links_to_contacts(web, acme, acme_viewer):
    html = web(acme, acme_viewer).get("/").content.decode()

    assert '<a href="/contacts/">Contacts</a>' in html


def test_timeline_shows_the_evidence_of_each_event(web, acme, acme_viewer):
    with schema_context(acme.schema_name):
        contact = ContactFactory(phone="+447911123400")
        ConsentEventFactory(
            contact=contact,
            page_url="https://acme.example/join",
            ip_address="198.51.100.7",
            actor_label="Checkout bot",
            occurred_at=datetime(2025, 1, 2, 3, 4, tzinfo=UTC),
        )
        ConsentEventFactory(
            contact=contact,
            kind="opt_out",
            source="staff",
            wording="",
            occurred_at=datetime(2025, 2, 3, 4, 5, tzinfo=UTC),
        )

    html = web(acme, acme_viewer).get("/contacts/+447911123400/").content.decode()

    assert html.index("2025-02-03 04:05") < html.index("2025-01-02 03:04")
    assert "https://acme.example/join · 198.51.100.7 · by Checkout bot" in " ".join(html.split())


def test_a_saved_policy_is_shown_to_a_viewer(web, acme, acme_viewer):
    with schema_context(acme.schema_name):
        MessagingPolicyFactory(marketing_cap=5, time_zone="Europe/Paris")

    form = web(acme, acme_viewer).get("/consent/policy/").context["form"]

    assert (form["marketing_cap"].value(), form["time_zone"].value()) == (5, "Europe/Paris")


def test_a_search_with_a_nul_character_finds_as_without_it(web, acme, acme_viewer, alice):
    # PostgreSQL text cannot hold NUL: the search must not send it (it was a server error)
    response = web(acme, acme_viewer).get("/contacts/", {"q": "Al\x00ice"})

    assert response.status_code == 200
    assert [c.phone for c in response.context["page"]] == ["+447911123456"]
    assert web(acme, acme_viewer).get("/contacts/+447911\x00123456/").status_code == 404


def test_policy_page_says_what_a_keyword_opts_out_of(web, acme, acme_admin):
    # an inbound keyword opts out of marketing only (test_consent_webhooks), as do 131050 and
    # user_preferences; the page said "every category"
    html = web(acme, acme_admin).get("/consent/policy/").content.decode()

    assert "opts the sender out of marketing messages" in html
    assert "every category" not in html


def test_forms_and_session_api_writes_need_the_csrf_token(acme, acme_owner, alice):
    from django.test import Client as HttpClient
    from rest_framework.test import APIClient

    from tests.conftest import host_of

    http = HttpClient(HTTP_HOST=host_of(acme), enforce_csrf_checks=True)
    http.force_login(acme_owner)
    api = APIClient(HTTP_HOST=host_of(acme), enforce_csrf_checks=True)
    api.force_login(acme_owner)
    upload = SimpleUploadedFile("c.csv", CSV_WITH_BAD_ROWS.encode())

    assert http.post("/consent/policy/", POLICY).status_code == 403
    assert http.post("/consent/imports/", {"file": upload}).status_code == 403
    opt_out = {"phone": "+447911123456", "category": "all", "source": "staff"}
    assert api.post("/api/v1/opt-outs/", opt_out, format="json").status_code == 403
    with schema_context(acme.schema_name):
        assert not MessagingPolicy.objects.exists()
        assert not ConsentImport.objects.exists()
        assert not ConsentEvent.objects.filter(source="staff").exists()
