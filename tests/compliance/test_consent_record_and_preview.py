"""Client self-service on consent: one opt-in or opt-out recorded by hand with its evidence,
and the import preview (mapping, first rows, error count) before anything is applied."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance.consent import Evidence, consent_record_opt_in
from compliance.imports import import_preview
from compliance.models import ConsentEvent, ConsentImport, ConsentState
from portal.audit.models import AuditLog
from tests.compliance.test_consent_import import CSV_WITH_BAD_ROWS

pytestmark = pytest.mark.django_db

PHONE = "+447911123456"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def alice(acme):
    with schema_context(acme.schema_name):
        consent_record_opt_in(
            phone=PHONE,
            category="utility",
            source="web_form",
            evidence=Evidence(wording="Order updates, please."),
        )


def _events(client):
    with schema_context(client.schema_name):
        return list(
            ConsentEvent.objects.order_by("id").values_list(
                "contact__phone", "kind", "category", "source", "wording", "ip_address"
            )
        )


def test_an_agent_records_an_opt_in_with_its_evidence_on_the_contact_page(
    web, acme, acme_agent, alice
):
    response = web(acme, acme_agent).post(
        f"/contacts/{PHONE}/",
        {
            "phone": PHONE,
            "kind": "opt_in",
            "category": "marketing",
            "source": "staff",
            "wording": "Yes, send me offers by WhatsApp.",
            "wording_version": "shop-2026",
            "ip_address": "203.0.113.7",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == f"/contacts/{PHONE}/"
    assert _events(acme)[-1] == (
        PHONE,
        "opt_in",
        "marketing",
        "staff",
        "Yes, send me offers by WhatsApp.",
        "203.0.113.7",
    )
    with schema_context(acme.schema_name):
        state = ConsentState.objects.get(contact__phone=PHONE, category="marketing")
        assert state.status == "opted_in"
    audit = AuditLog.objects.filter(action="consent.opt_in", actor=acme_agent).get()
    assert audit.client == acme


def test_an_opt_out_of_everything_from_the_record_page_creates_the_contact(web, acme, acme_owner):
    response = web(acme, acme_owner).post(
        "/contacts/record/",
        {"phone": "+44 7911 123457", "kind": "opt_out", "category": "all", "source": "sms_keyword"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/contacts/+447911123457/"
    assert [(e[1], e[2]) for e in _events(acme)] == [
        ("opt_out", "marketing"),
        ("opt_out", "utility"),
        ("opt_out", "authentication"),
    ]


def test_bad_input_gets_clear_errors_and_records_nothing(web, acme, acme_agent, alice):
    before = _events(acme)
    future = (timezone.now() + timezone.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")

    response = web(acme, acme_agent).post(
        f"/contacts/{PHONE}/",
        {
            "phone": PHONE,
            "kind": "opt_in",
            "category": "all",
            "source": "meta_131050",
            "occurred_at": future,
            "ip_address": "999.1.1.1",
        },
    )
    unknown = web(acme, acme_agent).post(
        "/contacts/record/",
        {"phone": "12345", "kind": "opt_out", "category": "marketing", "source": "staff"},
    )

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors == {
        "source": ["Select a valid choice. meta_131050 is not one of the available choices."],
        "occurred_at": ["That time is in the future."],
        "ip_address": ["Enter a valid IPv4 or IPv6 address."],
        "category": ["Consent is given per category: choose one for an opt-in."],
        "wording": ["Give the wording the person agreed to."],
    }
    assert unknown.status_code == 400
    assert unknown.context["form"].errors == {"phone": ["'12345' is not a valid phone number."]}
    assert _events(acme) == before


def test_a_viewer_sees_no_form_and_cannot_post(web, acme, acme_viewer, alice):
    http = web(acme, acme_viewer)
    before = _events(acme)

    page = http.get(f"/contacts/{PHONE}/")
    refused = http.post(
        f"/contacts/{PHONE}/",
        {"phone": PHONE, "kind": "opt_out", "category": "marketing", "source": "staff"},
    )

    assert page.context["form"] is None
    assert 'id="consent-record-form"' not in page.content.decode()
    assert refused.status_code == 403
    assert http.get("/contacts/record/").status_code == 403
    assert _events(acme) == before


def test_another_clients_member_cannot_record_here(web, acme, globex, globex_owner, alice):
    before = _events(acme)
    refused = web(acme, globex_owner).post(
        "/contacts/record/",
        {"phone": PHONE, "kind": "opt_out", "category": "marketing", "source": "staff"},
    )
    on_globex = web(globex, globex_owner).post(
        f"/contacts/{PHONE}/",
        {"phone": PHONE, "kind": "opt_out", "category": "marketing", "source": "staff"},
    )

    assert refused.status_code == 403
    assert on_globex.status_code == 404  # not a contact of globex
    assert _events(acme) == before
    assert _events(globex) == []


# --- import preview ---------------------------------------------------------------------------


def test_import_preview_maps_columns_shows_first_rows_and_counts_errors(acme):
    upload = SimpleUploadedFile("c.csv", CSV_WITH_BAD_ROWS.encode())

    preview = import_preview(upload=upload, region="US", sample_rows=2)

    assert preview.columns[:3] == ["phone", "category", "action"]
    assert ("ip_address", "ip_address") in preview.mapping
    assert ("channel", "") in preview.mapping
    assert preview.ignored == []
    assert preview.sample[1] == [
        *("201-555-0123", "Utility", "opt-in", "2025-03-01T10:00:00Z"),
        *("", "", "", "Bob"),
    ]
    assert (preview.scanned, preview.invalid, preview.complete) == (8, 4, True)
    assert preview.errors[0] == (4, "phone", "'12345' is not a valid phone number.")
    assert upload.tell() == 0


def test_import_preview_scans_only_the_first_rows_it_is_asked_to(acme):
    upload = SimpleUploadedFile("c.csv", CSV_WITH_BAD_ROWS.encode())

    preview = import_preview(upload=upload, region="US", scan_rows=3)

    assert (preview.scanned, preview.invalid, preview.complete) == (3, 1, False)


def test_the_preview_page_then_apply_imports_and_the_errors_are_readable_on_the_page(
    web, acme, acme_agent, django_capture_on_commit_callbacks
):
    from compliance.imports import consent_import_run

    http = web(acme, acme_agent)
    preview = http.post(
        "/consent/imports/", {"file": SimpleUploadedFile("c.csv", CSV_WITH_BAD_ROWS.encode())}
    )
    body = preview.content.decode()
    assert 'data-preview="invalid">4<' in body
    assert "Apply import" in body
    with django_capture_on_commit_callbacks():
        applied = http.post("/consent/imports/apply/", {"token": preview.context["token"]})
    with schema_context(acme.schema_name):
        job = ConsentImport.objects.get()
        consent_import_run(import_id=job.pk)
    again = http.post("/consent/imports/apply/", {"token": preview.context["token"]}, follow=True)

    assert applied["Location"] == f"/consent/imports/{job.pk}/"
    page = http.get(f"/consent/imports/{job.pk}/")
    assert page.context["error_rows"][0] == ["4", "phone", "'12345' is not a valid phone number."]
    assert "&#x27;12345&#x27; is not a valid phone number." in page.content.decode()
    assert "That preview is no longer available" in again.content.decode()
    with schema_context(acme.schema_name):
        assert ConsentImport.objects.count() == 1


def test_a_preview_token_of_one_client_applies_nothing_on_another(
    web, acme, globex, acme_owner, globex_owner
):
    preview = web(acme, acme_owner).post(
        "/consent/imports/", {"file": SimpleUploadedFile("c.csv", CSV_WITH_BAD_ROWS.encode())}
    )

    refused = web(globex, globex_owner).post(
        "/consent/imports/apply/", {"token": preview.context["token"]}, follow=True
    )
    forged = web(acme, acme_owner).post("/consent/imports/apply/", {"token": "x"}, follow=True)

    assert "That preview is no longer available" in refused.content.decode()
    assert "That preview has expired" in forged.content.decode()
    for client in (acme, globex):
        with schema_context(client.schema_name):
            assert ConsentImport.objects.count() == 0


def test_a_viewer_cannot_apply_a_preview(web, acme, acme_owner, acme_viewer):
    preview = web(acme, acme_owner).post(
        "/consent/imports/", {"file": SimpleUploadedFile("c.csv", CSV_WITH_BAD_ROWS.encode())}
    )

    refused = web(acme, acme_viewer).post(
        "/consent/imports/apply/", {"token": preview.context["token"]}
    )

    assert refused.status_code == 403
    with schema_context(acme.schema_name):
        assert ConsentImport.objects.count() == 0


def test_previews_never_applied_are_purged_by_housekeeping_after_an_hour(acme, globex):
    import time_machine
    from django.core.files.storage import default_storage

    from compliance import import_staging
    from tenants.tasks import client_housekeeping

    with schema_context(acme.schema_name):
        token = import_staging.stage(upload=SimpleUploadedFile("c.csv", b"phone\n"))
    with schema_context(globex.schema_name):
        import_staging.stage(upload=SimpleUploadedFile("g.csv", b"phone\n"))

    with schema_context(acme.schema_name):
        assert import_staging.staged_purge_expired() == 0  # still fresh
        later = timezone.now() + timezone.timedelta(hours=2)
        with time_machine.travel(later):
            result = client_housekeeping.apply().get()
        with pytest.raises(import_staging.StagedGone), import_staging.staged(token=token):
            pass

    assert result["previews_removed"] == 1
    _, globex_files = default_storage.listdir(
        f"consent-previews/{globex.schema_name}/"
        + default_storage.listdir(f"consent-previews/{globex.schema_name}")[0][0]
    )
    assert globex_files == ["g.csv"]  # another client's preview is not touched
