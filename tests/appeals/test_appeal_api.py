"""The appeals API: list, create (from scratch and from an alert), detail, messages,
transitions; wrong-tenant and wrong-role cases change nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from appeals.models import AppealMessage, AppealTicket
from compliance.choices import EventKind, EventSource, Severity
from compliance.services import health_event_record
from tests.appeals.conftest import move, open_appeal
from tests.assets import ACME_WABA
from tests.factories import ApiKeyFactory

# The block of these tests: a week ago (dates relative to now, never a fixed day).
BLOCKED = (timezone.now() - timedelta(days=7)).replace(hour=10, minute=0, second=0, microsecond=0)

NEW = {
    "title": "Blocked for spam",
    "subject_kind": "waba",
    "waba_id": ACME_WABA,
    "block_type": "messaging_block",
    "blocked_at": f"{BLOCKED:%Y-%m-%dT%H:%M:%S}Z",
    "api_uses": "Order updates.",
    "consent_process": "Checkout checkbox.",
    "improvement_plan": "Fewer messages.",
}


def _count(client):
    with schema_context(client.schema_name):
        return AppealTicket.objects.count()


def test_create_list_and_detail(api, acme, acme_waba, acme_agent):
    http = api(acme, user=acme_agent)
    created = http.post("/api/v1/appeals/", NEW, format="json")

    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["status"], body["waba_id"], body["missing_answers"]) == ("draft", ACME_WABA, [])
    assert body["appeal_deadline"].startswith(f"{BLOCKED + timedelta(days=90):%Y-%m-%d}")
    listed = http.get("/api/v1/appeals/").json()["results"]
    assert [a["id"] for a in listed] == [body["id"]]
    detail = http.get(f"/api/v1/appeals/{body['id']}/").json()
    assert detail["clocks"] == {"first_response": None, "resolution": None}


def test_create_from_an_enforcement_event(api, acme, acme_waba, acme_owner):
    until = (timezone.now() + timedelta(days=7)).replace(minute=0, second=0, microsecond=0)
    with schema_context(acme.schema_name):
        event = health_event_record(
            kind=EventKind.RESTRICTION,
            severity=Severity.CRITICAL,
            title=f"Account restricted: business initiated messaging until {until:%Y-%m-%d}",
            key="api-restriction",
            source=EventSource.WEBHOOK,
            account=acme_waba,
            data={
                "restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING",  # as Meta sends it
                "expires_at": until.isoformat(),
            },
        )
    body = api(acme, user=acme_owner).post("/api/v1/appeals/", {"event": event.pk}, format="json")

    assert body.status_code == 201, body.json()
    data = body.json()
    assert (data["subject_kind"], data["block_type"], data["block_ends_at"]) == (
        "waba",
        "template_block",
        f"{until:%Y-%m-%dT%H:%M:%S}Z",
    )
    assert data["missing_answers"] == ["api_uses", "consent_process", "improvement_plan"]


def test_bad_input_is_a_problem_document(api, acme, acme_waba, acme_owner):
    response = api(acme, user=acme_owner).post(
        "/api/v1/appeals/", {**NEW, "waba_id": "999"}, format="json"
    )

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "waba_id" in response.json()["errors"]


def test_transitions_and_messages_through_the_api(api, acme, acme_waba, acme_owner, staff_appeals):
    ticket = open_appeal(acme, acme_waba, acme_owner)
    http = api(acme, user=acme_owner)

    submitted = http.post(
        f"/api/v1/appeals/{ticket.pk}/transitions/", {"action": "submit"}, format="json"
    )
    assert submitted.status_code == 200
    assert submitted.json()["status"] == "submitted"
    assert submitted.json()["clocks"]["first_response"]["state"] in ("ok", "due_soon")
    again = http.post(
        f"/api/v1/appeals/{ticket.pk}/transitions/", {"action": "submit"}, format="json"
    )
    assert again.status_code == 409
    assert again["Content-Type"] == "application/problem+json"
    posted = http.post(
        f"/api/v1/appeals/{ticket.pk}/messages/", {"body": "Any news?"}, format="json"
    )
    assert posted.status_code == 201
    assert posted.json()["side"] == "client"
    denied = http.post(
        f"/api/v1/appeals/{ticket.pk}/transitions/", {"action": "start_review"}, format="json"
    )
    assert denied.status_code == 403
    with schema_context(acme.schema_name):
        assert AppealTicket.objects.get(pk=ticket.pk).status == "submitted"


def test_an_api_key_acts_like_an_operator(api, acme, acme_waba, acme_owner):
    ticket = open_appeal(acme, acme_waba, acme_owner)
    key = ApiKeyFactory(client=acme)
    response = api(acme, key=key.raw_key).post(
        f"/api/v1/appeals/{ticket.pk}/transitions/", {"action": "submit"}, format="json"
    )
    assert response.json()["status"] == "submitted"
    read_only = ApiKeyFactory(client=acme, scopes=["read"])
    assert (
        api(acme, key=read_only.raw_key)
        .post(f"/api/v1/appeals/{ticket.pk}/messages/", {"body": "x"}, format="json")
        .status_code
        == 403
    )


def test_a_viewer_reads_but_cannot_write(api, acme, acme_waba, acme_owner, acme_viewer):
    ticket = open_appeal(acme, acme_waba, acme_owner)
    http = api(acme, user=acme_viewer)

    assert http.get(f"/api/v1/appeals/{ticket.pk}/").status_code == 200
    assert http.post("/api/v1/appeals/", NEW, format="json").status_code == 403
    assert (
        http.post(
            f"/api/v1/appeals/{ticket.pk}/messages/", {"body": "x"}, format="json"
        ).status_code
        == 403
    )
    assert (
        http.post(
            f"/api/v1/appeals/{ticket.pk}/transitions/", {"action": "submit"}, format="json"
        ).status_code
        == 403
    )
    assert _count(acme) == 1
    with schema_context(acme.schema_name):
        assert AppealMessage.objects.count() == 0
        assert AppealTicket.objects.get().status == "draft"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/appeals/"),
        ("post", "/api/v1/appeals/"),
        ("get", "/api/v1/appeals/{id}/"),
        ("get", "/api/v1/appeals/{id}/messages/"),
        ("post", "/api/v1/appeals/{id}/messages/"),
        ("post", "/api/v1/appeals/{id}/transitions/"),
        ("patch", "/api/v1/appeals/{id}/"),
    ],
)
def test_other_clients_are_refused(api, acme, globex, globex_owner, globex_appeal, method, path):
    key = ApiKeyFactory(client=globex)
    url = path.format(id=globex_appeal.pk)
    data = {"action": "withdraw", "body": "x", **NEW}
    # A Globex user or key on Acme's host: refused.
    assert (
        getattr(api(acme, user=globex_owner), method)(url, data, format="json").status_code == 403
    )
    assert getattr(api(acme, key=key.raw_key), method)(url, data, format="json").status_code == 401
    with schema_context(globex.schema_name):
        assert AppealTicket.objects.get(pk=globex_appeal.pk).status == "submitted"
        assert AppealMessage.objects.count() == 0


def test_another_clients_appeal_is_not_found_from_this_client(
    api, acme, acme_owner, globex_appeal, acme_waba
):
    # Same id space in another schema: Acme's owner sees only Acme's rows.
    http = api(acme, user=acme_owner)
    with schema_context(acme.schema_name):
        assert not AppealTicket.objects.filter(pk=globex_appeal.pk).exists()
    assert http.get(f"/api/v1/appeals/{globex_appeal.pk}/").status_code == 404
    assert (
        http.post(
            f"/api/v1/appeals/{globex_appeal.pk}/transitions/",
            {"action": "withdraw"},
            format="json",
        ).status_code
        == 404
    )


def test_list_query_count_does_not_grow(
    api, acme, acme_waba, acme_owner, staff_appeals, django_assert_num_queries
):
    http = api(acme, user=acme_owner)
    move(open_appeal(acme, acme_waba, acme_owner), acme, [("submit", acme_owner, {})])
    http.get("/api/v1/appeals/")
    # search_path, host → client, search_path, session, user, membership, the appeals
    with django_assert_num_queries(7):
        http.get("/api/v1/appeals/")
    for _ in range(4):
        move(open_appeal(acme, acme_waba, acme_owner), acme, [("submit", acme_owner, {})])
    with django_assert_num_queries(7):
        assert len(http.get("/api/v1/appeals/").json()["results"]) == 5


def test_the_guided_answers_are_completed_through_the_api_then_submitted(
    api, acme, acme_waba, acme_agent, acme_viewer, staff_appeals
):
    ticket = open_appeal(acme, acme_waba, acme_agent, consent_process="", improvement_plan="")
    http = api(acme, user=acme_agent)
    url = f"/api/v1/appeals/{ticket.pk}/"

    bad = http.patch(url, {"priority": "whenever"}, format="json")
    assert (bad.status_code, bad["Content-Type"]) == (400, "application/problem+json")
    assert "priority" in bad.json()["errors"]
    viewer = api(acme, user=acme_viewer).patch(url, {"consent_process": "x"}, format="json")
    assert viewer.status_code == 403
    with schema_context(acme.schema_name):
        assert AppealTicket.objects.get(pk=ticket.pk).consent_process == ""

    patched = http.patch(
        url,
        {"consent_process": "Checkout checkbox.", "improvement_plan": "Weekly cleaning."},
        format="json",
    )
    assert patched.status_code == 200, patched.json()
    assert patched.json()["missing_answers"] == []
    assert patched.json()["consent_process"] == "Checkout checkbox."
    submitted = http.post(f"{url}transitions/", {"action": "submit"}, format="json")
    assert submitted.json()["status"] == "submitted"
    late = http.patch(url, {"improvement_plan": "Changed afterwards."}, format="json")
    assert late.status_code == 409
    with schema_context(acme.schema_name):
        assert AppealTicket.objects.get(pk=ticket.pk).improvement_plan == "Weekly cleaning."


def test_another_clients_appeal_cannot_be_edited(api, acme, globex, acme_owner, globex_appeal):
    response = api(acme, user=acme_owner).patch(
        f"/api/v1/appeals/{globex_appeal.pk}/", {"title": "mine now"}, format="json"
    )
    assert response.status_code == 404
    with schema_context(globex.schema_name):
        assert AppealTicket.objects.get(pk=globex_appeal.pk).title == "Globex secret appeal"


def test_errors_name_the_api_fields(api, acme, acme_waba, acme_owner):
    http = api(acme, user=acme_owner)
    no_number = http.post(
        "/api/v1/appeals/", {**NEW, "subject_kind": "phone_number"}, format="json"
    )
    assert no_number.status_code == 400
    assert list(no_number.json()["errors"]) == ["phone_number_id"]
    no_template = http.post("/api/v1/appeals/", {**NEW, "subject_kind": "template"}, format="json")
    assert list(no_template.json()["errors"]) == ["template_id"]
    backwards = http.post(
        "/api/v1/appeals/",
        {**NEW, "block_ends_at": f"{BLOCKED - timedelta(days=1):%Y-%m-%dT%H:%M:%S}Z"},
        format="json",
    )
    assert backwards.status_code == 400
    assert backwards.json()["errors"] == {
        "block_ends_at": ["The block cannot end before it started."]
    }
    assert _count(acme) == 0
