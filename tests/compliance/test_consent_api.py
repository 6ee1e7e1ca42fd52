"""Consent API: send-check, consents, opt-outs, contacts; wrong tenant and wrong role change
nothing."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance.consent import consent_record_opt_in
from compliance.models import ConsentEvent, ConsentState, MessageStatus
from portal.audit.models import AuditLog
from tests.assets import ACME_PHONE
from tests.factories import ApiKeyFactory

ALICE = "+447911123456"
OPT_IN = {
    "phone": ALICE,
    "category": "marketing",
    "source": "web_form",
    "wording": "Yes, Acme Retail may send me offers on WhatsApp.",
    "wording_version": "v3",
    "page_url": "https://acme.example/signup",
    "ip_address": "203.0.113.9",
    "user_agent": "Firefox/140",
}


def history(client):
    with schema_context(client.schema_name):
        return list(ConsentEvent.objects.values_list("contact__phone", "kind", "category"))


@pytest.fixture
def alice_opted_in(acme):
    with schema_context(acme.schema_name):
        consent_record_opt_in(phone=ALICE, category="marketing", source="web_form")


# --- send-check ---------------------------------------------------------------------------


def test_send_check_for_one_recipient(api, acme, acme_number, alice_opted_in, acme_viewer):
    body = {"recipient": ALICE, "category": "marketing", "phone_number_id": ACME_PHONE}

    response = api(acme, user=acme_viewer).post("/api/v1/send-check/", body, format="json")

    assert response.status_code == 200
    assert response.json() == {"allowed": True, "reasons": [], "portfolio": None}


def test_send_check_in_bulk(api, acme, acme_number, alice_opted_in):
    key = ApiKeyFactory(client=acme, scopes=["read"])  # the check changes nothing
    body = {
        "recipients": [ALICE, "+447911123457", "nonsense"],
        "category": "marketing",
        "phone_number_id": ACME_PHONE,
    }

    response = api(acme, key=key.raw_key).post("/api/v1/send-check/", body, format="json")

    assert response.status_code == 200
    data = response.json()
    assert (data["allowed"], data["denied"]) == (1, 2)
    assert [(r["recipient"], [x["code"] for x in r["reasons"]]) for r in data["results"]] == [
        (ALICE, []),
        ("+447911123457", ["no_consent"]),
        ("nonsense", ["invalid_recipient"]),
    ]


def test_send_check_sees_the_ledger(api, acme, acme_number, alice_opted_in, acme_agent):
    with schema_context(acme.schema_name):
        for n in range(2):
            MessageStatus.objects.create(
                phone_number_meta_id=ACME_PHONE,
                wamid=f"wamid.{n}",
                recipient=ALICE[1:],
                status="sent",
                pricing_category="marketing",
                occurred_at=timezone.now() - timedelta(days=1),
            )
    body = {"recipient": ALICE, "category": "marketing", "phone_number_id": ACME_PHONE}

    response = api(acme, user=acme_agent).post("/api/v1/send-check/", body, format="json")

    assert [r["code"] for r in response.json()["reasons"]] == ["frequency_cap"]


def test_send_check_over_10000_is_a_problem(api, acme, acme_number, acme_agent):
    body = {
        "recipients": [ALICE] * 10_001,
        "category": "marketing",
        "phone_number_id": ACME_PHONE,
    }

    response = api(acme, user=acme_agent).post("/api/v1/send-check/", body, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_send_check_needs_a_template_or_category(api, acme, acme_agent):
    body = {"recipient": ALICE, "phone_number_id": ACME_PHONE}

    assert (
        api(acme, user=acme_agent).post("/api/v1/send-check/", body, format="json").status_code
        == 400
    )


def test_send_check_refuses_other_clients(api, acme, globex, globex_owner):
    body = {"recipient": ALICE, "category": "marketing", "phone_number_id": ACME_PHONE}
    key = ApiKeyFactory(client=acme)

    assert (
        api(globex, key=key.raw_key).post("/api/v1/send-check/", body, format="json").status_code
        == 401
    )
    assert (
        api(acme, user=globex_owner).post("/api/v1/send-check/", body, format="json").status_code
        == 403
    )


# --- consents -----------------------------------------------------------------------------


def test_agent_records_an_opt_in_with_evidence(api, acme, acme_agent):
    response = api(acme, user=acme_agent).post("/api/v1/consents/", OPT_IN, format="json")

    assert response.status_code == 201
    [event] = response.json()["recorded"]
    assert (event["phone"], event["kind"], event["source"], event["ip_address"]) == (
        ALICE,
        "opt_in",
        "web_form",
        "203.0.113.9",
    )
    assert event["actor_label"] == acme_agent.email
    assert history(acme) == [(ALICE, "opt_in", "marketing")]
    assert AuditLog.objects.filter(action="consent.opt_in", actor=acme_agent).count() == 1


def test_opt_in_with_a_source_id_is_idempotent(api, acme):
    key = ApiKeyFactory(client=acme)
    body = {**OPT_IN, "source_id": "form-42"}

    first = api(acme, key=key.raw_key).post("/api/v1/consents/", body, format="json")
    again = api(acme, key=key.raw_key).post("/api/v1/consents/", body, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == {"recorded": []}
    assert len(history(acme)) == 1


def test_invalid_phone_is_a_problem_and_records_nothing(api, acme, acme_agent):
    response = api(acme, user=acme_agent).post(
        "/api/v1/consents/", {**OPT_IN, "phone": "+44 1"}, format="json"
    )

    assert response.status_code == 400
    assert "too short" in str(response.json())
    assert history(acme) == []


def test_meta_sources_cannot_be_claimed_through_the_api(api, acme, acme_agent):
    response = api(acme, user=acme_agent).post(
        "/api/v1/consents/", {**OPT_IN, "source": "meta_131050"}, format="json"
    )

    assert response.status_code == 400
    assert history(acme) == []


def test_viewer_and_read_only_key_cannot_record_consent(api, acme, acme_viewer):
    key = ApiKeyFactory(client=acme, scopes=["read"])

    assert (
        api(acme, user=acme_viewer).post("/api/v1/consents/", OPT_IN, format="json").status_code
        == 403
    )
    assert (
        api(acme, user=acme_viewer).post("/api/v1/opt-outs/", OPT_IN, format="json").status_code
        == 403
    )
    assert (
        api(acme, key=key.raw_key).post("/api/v1/consents/", OPT_IN, format="json").status_code
        == 403
    )
    assert history(acme) == []


def test_consents_refuse_other_clients(api, acme, globex, globex_owner):
    key = ApiKeyFactory(client=acme)

    assert (
        api(globex, key=key.raw_key).post("/api/v1/consents/", OPT_IN, format="json").status_code
        == 401
    )
    assert (
        api(acme, user=globex_owner).post("/api/v1/consents/", OPT_IN, format="json").status_code
        == 403
    )
    assert api(acme, user=globex_owner).get("/api/v1/consents/").status_code == 403
    assert history(acme) == []
    assert history(globex) == []


def test_consent_list_filters_and_does_not_query_per_row(api, acme, acme_viewer, alice_opted_in):
    def add(first: int, count: int):
        with schema_context(acme.schema_name):
            for n in range(first, first + count):
                consent_record_opt_in(
                    phone=f"+4479111235{n:02d}", category="utility", source="import"
                )

    http = api(acme, user=acme_viewer)
    add(0, 2)
    http.get("/api/v1/consents/")  # the first request of a session loads more
    with CaptureQueriesContext(connection) as few:
        assert len(http.get("/api/v1/consents/?category=utility").json()["results"]) == 2
    add(2, 20)
    with CaptureQueriesContext(connection) as many:
        assert len(http.get("/api/v1/consents/?category=utility").json()["results"]) == 22

    assert len(many) == len(few) == 7
    phones = [
        r["phone"] for r in http.get(f"/api/v1/consents/?phone=%2B{ALICE[1:]}").json()["results"]
    ]
    assert phones == [ALICE]
    assert http.get("/api/v1/consents/?source=staff").json()["results"] == []


# --- opt-outs and contacts -----------------------------------------------------------------


def test_opt_out_of_all_applies_at_once(api, acme, acme_owner, acme_number, alice_opted_in):
    response = api(acme, user=acme_owner).post(
        "/api/v1/opt-outs/", {"phone": ALICE, "category": "all", "source": "staff"}, format="json"
    )

    assert response.status_code == 201
    assert len(response.json()["recorded"]) == 3
    check = api(acme, user=acme_owner).post(
        "/api/v1/send-check/",
        {"recipient": ALICE, "category": "marketing", "phone_number_id": ACME_PHONE},
        format="json",
    )
    assert [r["code"] for r in check.json()["reasons"]] == ["opted_out"]


def test_opt_out_refuses_other_clients(api, acme, globex, globex_owner, alice_opted_in):
    key = ApiKeyFactory(client=acme)
    body = {"phone": ALICE, "category": "marketing"}

    assert (
        api(globex, key=key.raw_key).post("/api/v1/opt-outs/", body, format="json").status_code
        == 401
    )
    assert (
        api(acme, user=globex_owner).post("/api/v1/opt-outs/", body, format="json").status_code
        == 403
    )
    with schema_context(acme.schema_name):
        assert ConsentState.objects.get().status == "opted_in"


def test_contact_shows_state_per_category_and_history(api, acme, acme_viewer, alice_opted_in):
    acme.default_region = "GB"
    acme.save(update_fields=["default_region"])

    response = api(acme, user=acme_viewer).get("/api/v1/contacts/07911123456/")

    assert response.status_code == 200
    data = response.json()
    assert data["states"] == {
        "marketing": "opted_in",
        "utility": "unknown",
        "authentication": "unknown",
    }
    assert [(e["kind"], e["source"]) for e in data["history"]] == [("opt_in", "web_form")]
    assert api(acme, user=acme_viewer).get(f"/api/v1/contacts/{ALICE}/").json()["phone"] == ALICE


def test_unknown_or_invalid_contact_is_404(api, acme, acme_viewer):
    assert api(acme, user=acme_viewer).get("/api/v1/contacts/+447911123499/").status_code == 404
    assert api(acme, user=acme_viewer).get("/api/v1/contacts/nonsense/").status_code == 404


def test_contact_refuses_other_clients(api, acme, globex, globex_owner, alice_opted_in):
    key = ApiKeyFactory(client=acme)

    assert api(globex, key=key.raw_key).get(f"/api/v1/contacts/{ALICE}/").status_code == 401
    assert api(acme, user=globex_owner).get(f"/api/v1/contacts/{ALICE}/").status_code == 403
    # a globex member sees nothing of acme's contacts on globex's own host
    assert api(globex, user=globex_owner).get(f"/api/v1/contacts/{ALICE}/").status_code == 404


def test_staff_entering_the_client_records_a_staff_opt_out(
    api, acme, staff_manager, alice_opted_in
):
    from tests.people import make_account_manager

    make_account_manager(staff_manager, acme)  # account managers enter their own clients only
    response = api(acme, user=staff_manager).post(
        "/api/v1/opt-outs/",
        {"phone": ALICE, "category": "marketing", "source": "staff", "channel": "phone call"},
        format="json",
    )

    assert response.status_code == 201
    [event] = response.json()["recorded"]
    assert (event["source"], event["channel"], event["actor_label"]) == (
        "staff",
        "phone call",
        staff_manager.email,
    )
    with schema_context(acme.schema_name):
        assert ConsentState.objects.get().status == "opted_out"


def test_api_key_opt_out_is_labelled_with_the_key(api, acme, alice_opted_in):
    key = ApiKeyFactory(client=acme, name="crm-sync")

    response = api(acme, key=key.raw_key).post(
        "/api/v1/opt-outs/", {"phone": ALICE, "category": "marketing"}, format="json"
    )

    assert response.status_code == 201
    [event] = response.json()["recorded"]
    assert event["source"] == "api"
    assert event["actor_label"] == f"api-key:{key.prefix}"


def test_the_policy_refuses_keywords_that_are_not_strings(api, acme, acme_owner):
    response = api(acme, user=acme_owner).patch(
        "/api/v1/policy/", {"opt_out_keywords": ["stop", 3.2]}, format="json"
    )

    assert response.status_code == 400
