"""What was only a page is in the API too: each endpoint calls the existing service, checks the
role or scope, and never shows another client's rows."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from compliance.choices import EventKind, EventSource, Severity
from compliance.consent import Evidence, consent_record_opt_in
from compliance.models import AccountRestriction, Alert, MessagingPolicy, SyncRun
from compliance.services import health_event_record
from tenants.services import api_key_create
from tests.appeals.conftest import move, open_appeal


def key_of(client, scopes=("read", "write")):
    return api_key_create(client=client, name="parity", scopes=list(scopes))[1]


def restrict(client, account, key="parity-1"):
    with schema_context(client.schema_name):
        AccountRestriction.objects.create(
            account=account, restriction_type="business_initiated_messaging", remediation="Wait"
        )
        return health_event_record(
            kind=EventKind.RESTRICTION,
            severity=Severity.CRITICAL,
            title="Account restricted",
            key=key,
            source=EventSource.WEBHOOK,
            account=account,
        )


def test_accounts_show_review_ban_state_and_active_restrictions(
    api, acme, globex, acme_waba, globex_waba, django_assert_max_num_queries
):
    restrict(acme, acme_waba)
    restrict(globex, globex_waba, key="g")
    http = api(acme, key=key_of(acme, ["read"]))

    with django_assert_max_num_queries(8):
        rows = http.get("/api/v1/accounts/").json()["results"]

    assert [r["waba_id"] for r in rows] == [acme_waba.meta_id]
    [row] = rows
    assert set(row) >= {
        "review_status",
        "business_verification",
        "ban_state",
        "ban_date",
        "ban_state_at",
    }
    assert [r["restriction_type"] for r in row["restrictions"]] == ["business_initiated_messaging"]
    assert http.get(f"/api/v1/accounts/{acme_waba.pk}/").json()["waba_id"] == acme_waba.meta_id
    other = api(globex, key=key_of(globex, ["read"])).get("/api/v1/accounts/").json()["results"]
    assert [r["waba_id"] for r in other] == [globex_waba.meta_id]


def test_alerts_filter_and_acknowledge_and_viewers_cannot(
    api, acme, acme_waba, acme_viewer, acme_agent
):
    event = restrict(acme, acme_waba)
    with schema_context(acme.schema_name):
        alert = Alert.objects.get(event=event)

    viewer = api(acme, user=acme_viewer)
    assert [
        a["id"] for a in viewer.get("/api/v1/alerts/?acknowledged=false").json()["results"]
    ] == [alert.pk]
    refused = viewer.post(f"/api/v1/alerts/{alert.pk}/acknowledge/")
    assert refused.status_code == 403
    assert refused["content-type"] == "application/problem+json"
    with schema_context(acme.schema_name):
        assert Alert.objects.get(pk=alert.pk).acknowledged_at is None

    done = api(acme, user=acme_agent).post(f"/api/v1/alerts/{alert.pk}/acknowledge/").json()
    assert (done["acknowledged"], done["acknowledged_by"]) == (True, acme_agent.email)
    assert viewer.get("/api/v1/alerts/?acknowledged=false").json()["results"] == []
    assert (
        viewer.get("/api/v1/alerts/?severity=critical&acknowledged=true").json()["results"][0]["id"]
        == alert.pk
    )
    assert viewer.get("/api/v1/alerts/?until=not-a-date").status_code == 400


def test_another_clients_alert_is_not_found(api, acme, globex, globex_waba):
    event = restrict(globex, globex_waba)
    with schema_context(globex.schema_name):
        alert = Alert.objects.get(event=event)

    http = api(acme, key=key_of(acme))
    assert http.post(f"/api/v1/alerts/{alert.pk}/acknowledge/").status_code == 404
    assert http.get("/api/v1/alerts/").json()["results"] == []
    with schema_context(globex.schema_name):
        assert Alert.objects.get(pk=alert.pk).acknowledged_at is None


def test_sync_starts_once_and_reports_progress(api, acme, acme_waba):
    http = api(acme, key=key_of(acme))

    first = http.post("/api/v1/sync/")
    again = http.post("/api/v1/sync/")

    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    run = http.get(f"/api/v1/sync/{first.json()['id']}/").json()
    assert (run["state"], run["percent"]) == ("queued", 0)
    assert api(acme, key=key_of(acme, ["read"])).post("/api/v1/sync/").status_code == 403
    with schema_context(acme.schema_name):
        assert SyncRun.objects.count() == 1


def test_the_policy_is_read_by_members_and_changed_by_managers_with_the_pages_rules(
    api, acme, acme_admin, acme_agent
):
    assert api(acme, user=acme_agent).get("/api/v1/policy/").json()["window_days"] == 7
    refused = api(acme, user=acme_agent).patch("/api/v1/policy/", {"window_days": 3}, format="json")
    assert refused.status_code == 403

    admin = api(acme, user=acme_admin)
    changed = admin.patch("/api/v1/policy/", {"window_days": 3, "marketing_cap": 2}, format="json")
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["window_days"], changed.json()["marketing_cap"]) == (3, 2)
    bad = admin.patch(
        "/api/v1/policy/", {"time_zone": "Mars/Olympus", "window_days": 4}, format="json"
    )
    assert bad.status_code == 400
    assert list(bad.json()["errors"]) == ["time_zone"]
    half = admin.patch("/api/v1/policy/", {"quiet_hours_start": "22:00"}, format="json")
    assert half.status_code == 400
    with schema_context(acme.schema_name):
        assert MessagingPolicy.current().window_days == 3


def test_a_contacts_timeline_by_id_and_not_another_clients(api, acme, globex):
    with schema_context(acme.schema_name):
        [event] = consent_record_opt_in(
            phone="+14155550100",
            category="marketing",
            source="web_form",
            evidence=Evidence(wording="Yes, send me offers"),
            actor=None,
        )
    http = api(acme, key=key_of(acme, ["read"]))

    contact = http.get("/api/v1/contacts/+14155550100/").json()
    timeline = http.get(f"/api/v1/contacts/{contact['id']}/timeline/").json()["results"]

    assert [(e["id"], e["kind"]) for e in timeline] == [(event.pk, "opt_in")]
    assert (
        api(globex, key=key_of(globex, ["read"]))
        .get(f"/api/v1/contacts/{contact['id']}/timeline/")
        .status_code
        == 404
    )


def test_activity_is_the_clients_own_audit_trail_without_internal_notes(
    api, acme, acme_waba, acme_owner, staff_appeals, globex, globex_owner
):
    ticket = open_appeal(acme, acme_waba, acme_owner)
    ticket = move(ticket, acme, [("submit", acme_owner, {}), ("start_review", staff_appeals, {})])
    from appeals import services as appeals

    with schema_context(acme.schema_name):
        appeals.appeal_message_post(
            ticket=ticket, actor=staff_appeals, client=acme, body="secret", internal=True
        )

    actions = [
        a["action"] for a in api(acme, user=acme_owner).get("/api/v1/activity/").json()["results"]
    ]

    assert actions[:3] == ["appeal.start_review", "appeal.submit", "appeal.created"]
    assert "appeal.note_added" not in actions
    theirs = api(globex, user=globex_owner).get("/api/v1/activity/").json()["results"]
    assert [a for a in theirs if a["action"].startswith("appeal.")] == []


def test_appeal_attachments_evidence_and_recovery_through_the_api(
    settings, tmp_path, api, acme, acme_waba, acme_owner, acme_viewer, staff_appeals, globex
):
    settings.MEDIA_ROOT = tmp_path
    ticket = open_appeal(acme, acme_waba, acme_owner)
    http = api(acme, key=key_of(acme))
    base = f"/api/v1/appeals/{ticket.pk}"

    upload = SimpleUploadedFile("optin.txt", b"Opt-in page text", content_type="text/plain")
    added = http.post(f"{base}/attachments/", {"file": upload}, format="multipart")
    assert added.status_code == 201, added.json()
    listed = http.get(f"{base}/attachments/").json()
    assert [a["original_name"] for a in listed] == ["optin.txt"]
    download = http.get(f"{base}/attachments/{added.json()['id']}/download/")
    assert b"".join(download.streaming_content) == b"Opt-in page text"
    refused = api(acme, user=acme_viewer).post(
        f"{base}/attachments/",
        {"file": SimpleUploadedFile("x.txt", b"x", content_type="text/plain")},
        format="multipart",
    )
    assert refused.status_code == 403

    built = http.post(f"{base}/evidence/")
    assert built.status_code == 201, built.json()
    assert built.json()["status"] == "ready"
    assert [b["id"] for b in http.get(f"{base}/evidence/").json()] == [built.json()["id"]]
    bundle = http.get(built.json()["download"])
    assert b"".join(bundle.streaming_content)[:2] == b"PK"

    assert http.get(f"{base}/recovery/").json() == []
    ticket = move(
        ticket,
        acme,
        [
            ("submit", acme_owner, {}),
            ("start_review", staff_appeals, {}),
            ("mark_ready", staff_appeals, {}),
            ("submit_to_meta", staff_appeals, {"meta_case_reference": "BSH-9"}),
            ("record_outcome", staff_appeals, {"outcome": "reversed"}),
            ("start_recovery", acme_owner, {}),
        ],
    )
    items = http.get(f"{base}/recovery/").json()
    assert items
    assert items[0]["done"] is False
    ticked = http.patch(f"{base}/recovery/{items[0]['id']}/", {"done": True}, format="json")
    assert ticked.json()["done"] is True

    other = api(globex, key=key_of(globex))
    assert other.get(f"{base}/attachments/").status_code == 404
    assert other.post(f"{base}/evidence/").status_code == 404
    assert (
        other.patch(
            f"{base}/recovery/{items[0]['id']}/", {"done": False}, format="json"
        ).status_code
        == 404
    )


def test_filters_and_inputs_not_of_the_documented_type_are_400s(api, acme, acme_waba, acme_owner):
    http = api(acme, key=key_of(acme, ["read"]))

    for query in (
        "until=",
        "acknowledged=7",
        "until=0234-05-15T08:04:06-24:00",
        "page_size=0",
        "page_size=x",
    ):
        answer = http.get(f"/api/v1/alerts/?{query}")
        assert answer.status_code == 400, query
        assert answer["content-type"] == "application/problem+json"
    ticket = open_appeal(acme, acme_waba, acme_owner)
    patched = api(acme, user=acme_owner).patch(
        f"/api/v1/appeals/{ticket.pk}/", {"improvement_plan": 0}, format="json"
    )
    assert patched.status_code == 400
    assert list(patched.json()["errors"]) == ["improvement_plan"]
    assert http.get("/api/v1/members/").status_code == 403
    assert http.get("/api/v1/no-such-thing/")["content-type"] == "application/problem+json"
