from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.audit.models import AuditLog
from tests.factories import ApiKeyFactory

URL = "/api/v1/templates/lint/"

DANGLING = {
    "name": "order_update",
    "language": "en_US",
    "category": "UTILITY",
    "components": [
        {
            "type": "BODY",
            "text": "Your order has shipped and will arrive on {{1}}",
            "example": {"body_text": [["Monday"]]},
        },
        {"type": "FOOTER", "text": "Reply now!!"},
    ],
}


def test_member_gets_findings_and_nothing_is_saved(api, acme, acme_agent):
    audit_rows = AuditLog.objects.count()

    response = api(acme, user=acme_agent).post(URL, DANGLING, format="json")

    assert response.status_code == 200
    assert response.json() == {
        "findings": [
            {
                "severity": "error",
                "code": "param.dangling_end",
                "message": "End the message with text or punctuation after the last parameter "
                "(e.g. add “. Thank you.”).",
                "component": "BODY",
            },
            {
                "severity": "warning",
                "code": "policy.punctuation_run",
                "message": "Use single punctuation marks instead of “!!”.",
                "component": "FOOTER",
            },
        ],
        "errors": 1,
        "warnings": 1,
    }
    assert AuditLog.objects.count() == audit_rows


def test_clean_template_has_no_findings_and_named_format_is_accepted(api, acme, acme_viewer):
    template = {
        "name": "table_booked",
        "language": "en",
        "category": "utility",
        "parameter_format": "NAMED",
        "components": [
            {
                "type": "BODY",
                "text": "Hello {{first_name}}, your table is booked for tonight.",
                "example": {
                    "body_text_named_params": [{"param_name": "first_name", "example": "A"}]
                },
            }
        ],
    }

    response = api(acme, user=acme_viewer).post(URL, template, format="json")

    assert response.status_code == 200
    assert response.json() == {"findings": [], "errors": 0, "warnings": 0}


def test_api_key_of_the_client_works(api, acme):
    key = ApiKeyFactory(client=acme)

    response = api(acme, key=key.raw_key).post(URL, DANGLING, format="json")

    assert response.status_code == 200
    assert response.json()["errors"] == 1


def test_staff_can_lint_on_a_clients_host(api, acme, staff_reviewer):
    response = api(acme, user=staff_reviewer).post(URL, DANGLING, format="json")

    assert response.status_code == 200
    assert response.json()["errors"] == 1


def test_read_only_key_may_lint_because_nothing_is_saved(api, acme):
    key = ApiKeyFactory(client=acme, scopes=["read"])

    response = api(acme, key=key.raw_key).post(URL, DANGLING, format="json")

    assert response.status_code == 200
    assert response.json()["errors"] == 1


def test_read_only_key_still_cannot_write_elsewhere(api, acme):
    key = ApiKeyFactory(client=acme, scopes=["read"])

    assert api(acme, key=key.raw_key).post("/api/v1/members/", {}).status_code == 403


def test_key_of_another_client_is_rejected(api, acme, globex):
    key = ApiKeyFactory(client=acme)

    response = api(globex, key=key.raw_key).post(URL, DANGLING, format="json")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("person", ["globex_owner", "outsider"])
def test_user_without_membership_is_refused(api, acme, request, person):
    user = request.getfixturevalue(person)
    audit_rows = AuditLog.objects.count()

    response = api(acme, user=user).post(URL, DANGLING, format="json")

    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert AuditLog.objects.count() == audit_rows


def test_anonymous_is_refused(api, acme):
    response = api(acme).post(URL, DANGLING, format="json")

    assert response.status_code in (401, 403)
    assert response["Content-Type"] == "application/problem+json"


def test_not_available_on_the_public_host(api, acme_owner):
    response = api(None, user=acme_owner).post(URL, DANGLING, format="json")

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "a", "language": "en", "category": "UTILITY"}, "components"),
        ({**DANGLING, "components": "BODY"}, "components"),
        ({**DANGLING, "components": [{"text": "Hi"}]}, "components"),
        ({**DANGLING, "components": ["BODY"]}, "components"),
        ({**DANGLING, "components": [{"type": "BODY"}] * 21}, "components"),
        ({**DANGLING, "name": ["order"]}, "name"),
        ({"components": []}, "name"),
    ],
    ids=["no_components", "not_a_list", "no_type", "not_objects", "too_many", "name_list", "few"],
)
def test_malformed_body_is_a_400_problem(api, acme, acme_owner, body, field):
    response = api(acme, user=acme_owner).post(URL, body, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400
    assert problem["detail"] == "The request has invalid fields."
    assert field in problem["errors"]


def test_invalid_json_is_a_400_problem(api, acme, acme_owner):
    response = api(acme, user=acme_owner).post(URL, "{not json", content_type="application/json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_linting_costs_no_queries_of_its_own(api, acme, acme_owner):
    http = api(acme, user=acme_owner)
    small = {**DANGLING, "components": [{"type": "BODY", "text": "Hi"}]}
    big = {
        **DANGLING,
        "components": [
            *DANGLING["components"],
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "x"}] * 11},
        ],
    }
    http.post(URL, small, format="json")  # warm the session and access caches

    with CaptureQueriesContext(connection) as small_queries:
        assert http.post(URL, small, format="json").status_code == 200
    with CaptureQueriesContext(connection) as big_queries:
        assert http.post(URL, big, format="json").status_code == 200

    assert len(big_queries) == len(small_queries)
    assert not [q for q in big_queries if "templates_review" in q["sql"]]


def test_form_encoded_body_is_refused(api, acme, acme_owner):
    response = api(acme, user=acme_owner).post(URL, {"name": "a"})

    assert response.status_code == 415
    assert response["Content-Type"] == "application/problem+json"
