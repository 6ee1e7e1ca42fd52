"""The template API: drafts, edits, list filters, detail, submit, comments, and the staff queue
actions; wrong roles and wrong tenants change nothing."""

from __future__ import annotations

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from portal.audit.models import AuditLog
from templates_review.choices import ReviewState
from templates_review.models import MessageTemplate
from tenants.models import WorkItem, WorkKind
from tests.factories import ApiKeyFactory, MessageTemplateFactory

URL = "/api/v1/templates/"
BODY = {
    "type": "BODY",
    "text": "Hello {{1}}, your order has shipped. Thank you for shopping with us.",
    "example": {"body_text": [["Ana"]]},
}
DRAFT = {
    "name": "order_shipped",
    "language": "en_US",
    "category": "UTILITY",
    "components": [BODY],
}


def in_acme(acme, fn):
    with schema_context(acme.schema_name):
        return fn()


def make(acme, **kwargs):
    return in_acme(acme, lambda: MessageTemplateFactory(**kwargs))


def state_of(acme, template):
    return in_acme(acme, lambda: MessageTemplate.objects.get(pk=template.pk).review_state)


def test_agent_creates_edits_and_submits_a_draft(api, acme, acme_waba, acme_agent):
    http = api(acme, user=acme_agent)

    created = http.post(URL, DRAFT, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["name"], body["review_state"], body["status"], body["revision_count"]) == (
        "order_shipped",
        "draft",
        "draft",
        1,
    )
    assert body["waba_id"] == acme_waba.meta_id

    edited = http.put(
        f"{URL}{body['id']}/",
        {**DRAFT, "components": [{**BODY, "text": "Hi {{1}}, your order left today. Thanks!"}]},
        format="json",
    )
    assert edited.status_code == 200
    assert [r["number"] for r in edited.json()["revisions"]] == [2, 1]
    assert edited.json()["components"][0]["text"] == "Hi {{1}}, your order left today. Thanks!"

    submitted = http.post(f"{URL}{body['id']}/submit/")
    assert submitted.status_code == 200
    assert submitted.json()["status_label"] == "Submitted for review"
    assert WorkItem.objects.filter(
        kind=WorkKind.TEMPLATE_REVIEW, client=acme, object_id=str(body["id"])
    ).exists()

    again = http.post(f"{URL}{body['id']}/submit/")
    assert again.status_code == 409
    assert again.json()["detail"] == "A template that is submitted for review cannot be submitted."


def test_api_key_with_write_scope_may_draft_read_only_key_may_not(api, acme, acme_waba):
    writer = ApiKeyFactory(client=acme, scopes=["read", "write"])
    reader = ApiKeyFactory(client=acme, scopes=["read"])

    assert api(acme, key=writer.raw_key).post(URL, DRAFT, format="json").status_code == 201
    refused = api(acme, key=reader.raw_key).post(URL, {**DRAFT, "name": "other"}, format="json")
    assert refused.status_code == 403
    assert api(acme, key=reader.raw_key).get(URL).status_code == 200


def test_viewer_may_read_but_not_draft_edit_submit_or_comment(api, acme, acme_waba, acme_viewer):
    template = make(acme)
    http = api(acme, user=acme_viewer)
    audit_rows = AuditLog.objects.count()

    assert http.get(f"{URL}{template.pk}/").status_code == 200
    assert http.post(URL, {**DRAFT, "name": "v_draft"}, format="json").status_code == 403
    assert http.put(f"{URL}{template.pk}/", DRAFT, format="json").status_code == 403
    assert http.post(f"{URL}{template.pk}/submit/").status_code == 403
    assert (
        http.post(f"{URL}{template.pk}/comments/", {"body": "x"}, format="json").status_code == 403
    )
    assert state_of(acme, template) == ReviewState.DRAFT
    assert AuditLog.objects.count() == audit_rows


def test_list_filters_by_status_in_a_fixed_number_of_queries(
    api, acme, acme_waba, acme_agent, django_assert_num_queries
):
    make(acme, name="a_draft")
    make(acme, name="b_submitted", review_state=ReviewState.SUBMITTED)
    make(acme, name="c_live", review_state=ReviewState.SENT_TO_META, meta_status="approved")
    make(acme, name="d_paused", review_state=ReviewState.SENT_TO_META, meta_status="paused")
    make(acme, name="e_pending", review_state=ReviewState.SENT_TO_META, meta_status="pending")
    http = api(acme, user=acme_agent)

    def names(query):
        return [t["name"] for t in http.get(URL + query).json()["results"]]

    assert names("?status=draft") == ["a_draft"]
    assert names("?status=submitted") == ["b_submitted"]
    assert names("?status=meta_approved") == ["c_live"]
    assert names("?status=meta_paused") == ["d_paused"]
    assert names("?status=meta_pending") == ["e_pending"]
    assert len(names("")) == 5
    assert http.get(URL + "?status=nonsense").status_code == 400
    # session, user, tenant, membership, the list page: the same for 1 row as for 11
    with django_assert_num_queries(7):
        assert len(names("?status=draft")) == 1
    for n in range(10):
        make(acme, name=f"more_{n}")
    with django_assert_num_queries(7):
        assert len(names("?status=draft")) == 11


def test_comments_from_client_and_staff(api, acme, acme_waba, acme_agent, staff_reviewer):
    template = make(acme)
    api(acme, user=acme_agent).post(
        f"{URL}{template.pk}/comments/", {"body": "Is the footer ok?"}, format="json"
    )
    api(acme, user=staff_reviewer).post(
        f"{URL}{template.pk}/comments/", {"body": "Yes."}, format="json"
    )

    comments = api(acme, user=acme_agent).get(f"{URL}{template.pk}/comments/").json()
    assert [(c["body"], c["by_staff"], c["author"]) for c in comments] == [
        ("Is the footer ok?", False, "agent@acme.example"),
        ("Yes.", True, "reviewer@bsp.example"),
    ]


@pytest.mark.parametrize(
    ("path", "payload", "state"),
    [
        (
            "request-changes",
            {"reason": "invalid_format", "comment": "Add examples."},
            "changes_requested",
        ),
        ("reject", {"reason": "scam"}, "rejected"),
    ],
)
def test_reviewer_decides_on_the_client_host(
    api, acme, acme_waba, acme_agent, staff_reviewer, path, payload, state
):
    template = make(acme, review_state=ReviewState.SUBMITTED)

    denied = api(acme, user=acme_agent).post(f"{URL}{template.pk}/{path}/", payload, format="json")
    assert denied.status_code == 403
    assert state_of(acme, template) == ReviewState.SUBMITTED

    response = api(acme, user=staff_reviewer).post(
        f"{URL}{template.pk}/{path}/", payload, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["review_state"] == state
    assert response.json()["comments"][0]["reason"] == payload["reason"]


def test_account_manager_may_not_review(api, acme, acme_waba, staff_manager):
    template = make(acme, review_state=ReviewState.SUBMITTED)
    response = api(acme, user=staff_manager).post(
        f"{URL}{template.pk}/reject/", {"reason": "scam"}, format="json"
    )
    assert response.status_code == 403
    assert state_of(acme, template) == ReviewState.SUBMITTED


def test_reviewer_approves_at_once_and_the_template_goes_to_meta_after_commit(
    api,
    acme,
    acme_waba,
    staff_reviewer,
    meta_at_sim,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    template = make(acme, name="api_approved", review_state=ReviewState.SUBMITTED)

    with django_capture_on_commit_callbacks() as callbacks:
        response = api(acme, user=staff_reviewer).post(
            f"{URL}{template.pk}/approve/", {}, format="json"
        )

    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["review_state"], body["sending"], body["meta_id"]) == ("approved", True, None)
    for callback in callbacks:
        callback()
    body = api(acme, user=staff_reviewer).get(f"{URL}{template.pk}/").json()
    assert (body["review_state"], body["meta_status"], body["sending"]) == (
        "sent_to_meta",
        "pending",
        False,
    )
    assert meta_at_sim.state.templates[body["meta_id"]]["name"] == "api_approved"


def test_meta_refusal_is_in_the_template_in_plain_words_and_approve_sends_again(
    api,
    acme,
    acme_waba,
    staff_reviewer,
    meta_at_sim,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    template = make(
        acme,
        name="dangles",
        review_state=ReviewState.SUBMITTED,
        components=[
            {"type": "BODY", "text": "{{1}} is your code", "example": {"body_text": [["1"]]}}
        ],
    )
    http = api(acme, user=staff_reviewer)

    with django_capture_on_commit_callbacks(execute=True):
        http.post(f"{URL}{template.pk}/approve/", {}, format="json")

    body = http.get(f"{URL}{template.pk}/").json()
    assert (body["review_state"], body["sending"], body["send_error"]) == (
        "approved",
        False,
        "The template may not start or end with a parameter.",
    )
    with django_capture_on_commit_callbacks() as callbacks:
        again = http.post(f"{URL}{template.pk}/approve/", {}, format="json")
    assert (again.status_code, again.json()["sending"], len(callbacks)) == (202, True, 1)


# --- cross-tenant: globex's people and keys reach nothing of acme's ------------------------

ENDPOINTS = [
    ("get", "{id}/", None),
    ("put", "{id}/", DRAFT),
    ("post", "{id}/submit/", None),
    ("get", "{id}/comments/", None),
    ("post", "{id}/comments/", {"body": "hi"}),
    ("post", "{id}/approve/", {}),
    ("post", "{id}/request-changes/", {"reason": "scam"}),
    ("post", "{id}/reject/", {"reason": "scam"}),
    ("get", "", None),
    ("post", "", DRAFT),
]


@pytest.mark.parametrize(("method", "path", "payload"), ENDPOINTS)
def test_globex_owner_cannot_reach_acme_templates(
    api, acme, acme_waba, globex_owner, method, path, payload
):
    template = make(acme, review_state=ReviewState.SUBMITTED)
    audit_rows = AuditLog.objects.count()

    response = getattr(api(acme, user=globex_owner), method)(
        URL + path.format(id=template.pk), payload, format="json"
    )

    assert response.status_code == 403
    assert state_of(acme, template) == ReviewState.SUBMITTED
    assert AuditLog.objects.count() == audit_rows


@pytest.mark.parametrize(("method", "path", "payload"), ENDPOINTS)
def test_globex_key_cannot_reach_acme_templates(
    api, acme, acme_waba, globex, method, path, payload
):
    template = make(acme, review_state=ReviewState.SUBMITTED)
    key = ApiKeyFactory(client=globex)

    response = getattr(api(acme, key=key.raw_key), method)(
        URL + path.format(id=template.pk), payload, format="json"
    )

    assert response.status_code == 401
    assert state_of(acme, template) == ReviewState.SUBMITTED


def test_acme_template_ids_do_not_exist_on_globex(api, acme, acme_waba, globex, globex_owner):
    template = make(acme)
    connection.set_schema_to_public()
    response = api(globex, user=globex_owner).get(f"{URL}{template.pk}/")
    assert response.status_code == 404


def test_metas_rejection_comes_in_plain_words(api, acme, acme_waba, acme_viewer):
    template = make(
        acme,
        review_state=ReviewState.SENT_TO_META,
        meta_id="78",
        meta_status="rejected",
        rejection_reason="PROMOTIONAL",
    )

    body = api(acme, user=acme_viewer).get(f"{URL}{template.pk}/").json()

    assert (body["rejection_reason"], body["rejection_text"]) == (
        "PROMOTIONAL",
        "Meta found promotional content in a template that is not MARKETING.",
    )


@pytest.mark.parametrize(
    "who",
    [
        "acme_owner",
        "acme_admin",
        "acme_agent",
        "acme_viewer",
        "staff_manager",
        "staff_appeals",
        "write_key",
        "read_key",
    ],
)
@pytest.mark.parametrize(
    ("path", "payload"),
    [("approve", {}), ("request-changes", {"reason": "scam"}), ("reject", {"reason": "scam"})],
)
def test_only_reviewers_may_decide_through_the_api(
    request, api, acme, acme_waba, who, path, payload, django_capture_on_commit_callbacks
):
    template = make(acme, review_state=ReviewState.SUBMITTED)
    if who.endswith("_key"):
        scopes = ["read", "write"] if who == "write_key" else ["read"]
        http = api(acme, key=ApiKeyFactory(client=acme, scopes=scopes).raw_key)
    else:
        http = api(acme, user=request.getfixturevalue(who))
    audit_rows = AuditLog.objects.count()  # the key's creation is audited too

    with django_capture_on_commit_callbacks() as callbacks:
        response = http.post(f"{URL}{template.pk}/{path}/", payload, format="json")

    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/problem+json")
    assert state_of(acme, template) == ReviewState.SUBMITTED
    assert AuditLog.objects.count() == audit_rows
    assert callbacks == []  # nothing sent to Meta
