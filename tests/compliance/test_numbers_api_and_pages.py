"""Numbers, health history and events: API and pages, with wrong-tenant and wrong-role cases."""

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from compliance.models import Alert, HealthEvent, HealthSnapshot, PhoneNumber, SyncRun
from compliance.services import (
    account_link,
    health_event_record,
    number_reassess,
)
from portal.audit.models import AuditLog
from tests.factories import ApiKeyFactory


@pytest.fixture
def globex_number(globex):
    account = account_link(client=globex, waba_id="1120000001", name="Globex")
    with schema_context(globex.schema_name):
        number = PhoneNumber.objects.create(
            account=account,
            meta_id="2120000001",
            display_phone_number="+49 30 5550001",
            status="connected",
            quality="medium",
            messaging_limit="tier_2k",
        )
        number_reassess(number=number, client=globex)
    return number


@pytest.fixture
def acme_assessed(acme, acme_number):
    with schema_context(acme.schema_name):
        number_reassess(number=acme_number, client=acme)
        acme_number.refresh_from_db()
    return acme_number


def test_numbers_api_lists_only_this_clients_numbers(
    api, acme, acme_assessed, globex_number, acme_viewer
):
    response = api(acme, user=acme_viewer).get("/api/v1/numbers/")

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(r["phone_number_id"], r["quality"], r["band"], r["score"]) for r in rows] == [
        ("2110000001", "high", "healthy", 100)
    ]


def test_numbers_api_with_an_api_key_and_filters(api, acme, acme_assessed):
    key = ApiKeyFactory(client=acme)

    assert (
        len(api(acme, key=key.raw_key).get("/api/v1/numbers/?band=healthy").json()["results"]) == 1
    )
    assert api(acme, key=key.raw_key).get("/api/v1/numbers/?band=blocked").json()["results"] == []


def test_numbers_api_refuses_other_clients(api, acme, globex, acme_assessed, globex_owner):
    key = ApiKeyFactory(client=globex)

    assert api(acme, user=globex_owner).get("/api/v1/numbers/").status_code == 403
    assert api(acme, key=key.raw_key).get("/api/v1/numbers/").status_code == 401


def test_a_number_of_another_client_is_not_found(api, acme, acme_owner, globex_number):
    response = api(acme, user=acme_owner).get(f"/api/v1/numbers/{globex_number.pk}/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_numbers_list_query_count_does_not_grow(
    api, acme, acme_assessed, acme_owner, django_assert_num_queries
):
    http = api(acme, user=acme_owner)
    http.get("/api/v1/numbers/")
    # search_path, host → client, search_path, session, user, membership, the numbers
    with django_assert_num_queries(7):
        http.get("/api/v1/numbers/")
    with schema_context(acme.schema_name):
        for i in range(5):
            PhoneNumber.objects.create(
                account=acme_assessed.account,
                meta_id=f"99{i}",
                display_phone_number=f"+1 555 000 00{i}",
            )
    with django_assert_num_queries(7):
        http.get("/api/v1/numbers/")


def test_health_series_of_a_number(api, acme, acme_assessed, acme_agent):
    response = api(acme, user=acme_agent).get(f"/api/v1/numbers/{acme_assessed.pk}/health/?days=7")

    body = response.json()
    assert (body["number"], body["days"]) == (acme_assessed.pk, 7)
    assert [(p["score"], p["band"], p["quality"]) for p in body["series"]] == [
        (100, "healthy", "high")
    ]


@pytest.mark.parametrize("days", ["0", "400", "week"])
def test_health_series_rejects_bad_days(api, acme, acme_assessed, acme_agent, days):
    response = api(acme, user=acme_agent).get(
        f"/api/v1/numbers/{acme_assessed.pk}/health/?days={days}"
    )

    assert response.status_code == 400
    assert "days" in response.json()["errors"]


def test_events_api_filters_and_isolates(api, acme, globex, acme_number, globex_number, acme_owner):
    from compliance.choices import EventKind, EventSource, Severity

    with schema_context(acme.schema_name):
        for kind, severity in [
            (EventKind.QUALITY_DROP, Severity.WARNING),
            (EventKind.LIMIT_RISE, Severity.INFO),
        ]:
            health_event_record(
                kind=kind,
                severity=severity,
                title=kind.label,
                key=f"k-{kind}",
                source=EventSource.SYNC,
                number=acme_number,
            )
    with schema_context(globex.schema_name):
        health_event_record(
            kind=EventKind.BANNED,
            severity=Severity.CRITICAL,
            title="globex ban",
            key="g",
            source=EventSource.SYNC,
            number=globex_number,
        )

    all_events = api(acme, user=acme_owner).get("/api/v1/events/").json()["results"]
    warnings = api(acme, user=acme_owner).get("/api/v1/events/?severity=warning").json()["results"]

    assert sorted(e["kind"] for e in all_events) == ["limit_rise", "quality_drop"]
    assert [e["kind"] for e in warnings] == ["quality_drop"]


def test_openapi_schema_documents_the_endpoints(api, acme, acme_owner):
    response = api(acme, user=acme_owner).get("/api/schema/")

    assert response.status_code == 200
    text = response.content.decode()
    for path in ["/api/v1/numbers/", "/api/v1/numbers/{id}/health/", "/api/v1/events/"]:
        assert path in text


# --- pages ---------------------------------------------------------------------------------


def test_dashboard_shows_numbers_with_badges_and_sparkline(
    web, acme, acme_assessed, acme_agent, acme_viewer
):
    with schema_context(acme.schema_name):
        HealthSnapshot.objects.create(
            number=acme_assessed,
            status="connected",
            quality="medium",
            messaging_limit="tier_10k",
            can_send="available",
            score=80,
            band="watch",
        )
    page = web(acme, acme_agent).get("/").content.decode()

    assert "+1 555-010-0001" in page
    assert 'class="badge quality-high"' in page
    assert "<polyline points=" in page
    assert "Sync now" in page
    assert "Sync now" not in web(acme, acme_viewer).get("/").content.decode()


def test_dashboard_does_not_show_other_clients_numbers(web, acme, globex_number, acme_owner):
    page = web(acme, acme_owner).get("/").content.decode()

    assert "+49 30 5550001" not in page


def test_number_page_shows_chart_and_events(web, acme, acme_assessed, acme_agent):
    response = web(acme, acme_agent).get(f"/numbers/{acme_assessed.pk}/")

    assert response.status_code == 200
    assert b'class="chart"' in response.content
    assert b"Nothing holds this number back." in response.content


def test_number_page_of_another_client_is_404_or_403(
    web, acme, globex, globex_number, acme_owner, globex_owner
):
    assert web(acme, acme_owner).get(f"/numbers/{globex_number.pk}/").status_code == 404
    assert web(globex, acme_owner).get(f"/numbers/{globex_number.pk}/").status_code == 403


def test_sync_now_queues_one_run_for_operators_only(web, acme, acme_waba, acme_agent, acme_viewer):
    assert web(acme, acme_viewer).post("/sync/").status_code == 403
    with schema_context(acme.schema_name):
        assert not SyncRun.objects.exists()

    response = web(acme, acme_agent).post("/sync/", HTTP_HX_REQUEST="true")
    again = web(acme, acme_agent).post("/sync/", HTTP_HX_REQUEST="true")

    assert response.status_code == again.status_code == 200
    assert b"Syncing with Meta" in response.content
    with schema_context(acme.schema_name):
        assert SyncRun.objects.count() == 1


def test_acknowledging_an_alert(web, acme, acme_number, acme_agent, acme_viewer):
    from compliance.choices import EventKind, EventSource, Severity

    with schema_context(acme.schema_name):
        event = health_event_record(
            kind=EventKind.QUALITY_DROP,
            severity=Severity.WARNING,
            title="Quality dropped",
            key="q",
            source=EventSource.SYNC,
            number=acme_number,
        )
        alert = Alert.objects.get(event=event)

    assert web(acme, acme_viewer).post(f"/alerts/{alert.pk}/acknowledge/").status_code == 403
    assert web(acme, acme_agent).post(f"/alerts/{alert.pk}/acknowledge/").status_code == 302
    with schema_context(acme.schema_name):
        assert Alert.objects.get().acknowledged_by == acme_agent
    assert AuditLog.objects.filter(action="alert.acknowledged", client=acme).count() == 1


# --- staff -------------------------------------------------------------------------------


def test_fleet_view_lists_every_clients_numbers_riskiest_first(
    web, acme_assessed, globex_number, staff_super, django_assert_num_queries
):
    http = web(None, staff_super)
    http.get("/staff/fleet/")

    with django_assert_num_queries(5):  # search_path, session, user, switcher, the index
        page = http.get("/staff/fleet/").content.decode()

    assert page.index("+49 30 5550001") < page.index("+1 555-010-0001")  # medium quality first


def test_fleet_view_is_staff_only(web, acme_owner):
    assert web(None, acme_owner).get("/staff/fleet/").status_code == 403


def test_linking_a_waba_from_the_staff_console(web, acme, globex, staff_manager):
    from tenants.models import MetaAssetRoute
    from tests.people import make_account_manager

    make_account_manager(staff_manager, acme, globex)

    ok = web(None, staff_manager).post("/staff/clients/acme/link-waba/", {"waba_id": "1110000009"})
    taken = web(None, staff_manager).post(
        "/staff/clients/globex/link-waba/", {"waba_id": "1110000009"}
    )
    bad = web(None, staff_manager).post("/staff/clients/acme/link-waba/", {"waba_id": "abc"})

    assert ok.status_code == 302
    assert MetaAssetRoute.objects.get(meta_id="1110000009").client == acme
    assert "already belongs to another client" in taken.content.decode()
    assert "A WABA id is a number" in bad.content.decode()
    assert (
        web(None, globex.memberships.first().user)
        .post("/staff/clients/acme/link-waba/", {"waba_id": "1"})
        .status_code
        == 403
    )


def test_unroutable_changes_are_listed_and_retried_after_linking(web, acme, staff_super):
    from portal.meta.models import ChangeState, WebhookChange
    from portal.meta.services import webhook_delivery_process, webhook_delivery_store
    from tests.webhooks import body_of, envelope

    delivery = webhook_delivery_store(
        body=body_of(envelope("1110000077", "account_review_update", {"decision": "REJECTED"}))
    )
    webhook_delivery_process(delivery_id=delivery)
    http = web(None, staff_super)
    assert "1110000077" in http.get("/staff/webhooks/?state=unroutable").content.decode()

    account_link(client=acme, waba_id="1110000077")
    change = WebhookChange.objects.get()
    response = http.post(f"/staff/webhooks/{change.pk}/retry/")

    assert response.status_code == 302
    assert WebhookChange.objects.get().state == ChangeState.APPLIED
    with schema_context(acme.schema_name):
        assert HealthEvent.objects.get().kind == "review_decision"
    connection.set_schema_to_public()


def test_webhook_inbox_is_staff_only(web, acme_owner):
    assert web(None, acme_owner).get("/staff/webhooks/").status_code == 403


def test_api_docs_load_from_our_own_static_files(web, acme, acme_owner):
    response = web(acme, acme_owner).get("/api/docs/")

    page = response.content.decode()
    assert response.status_code == 200
    assert "swagger-ui" in page
    assert "cdn" not in page.lower()
    assert "<script>" not in page  # the split view's script is a file, as the CSP requires


def test_openapi_document_has_no_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))

    text = (tmp_path / "s.yml").read_text()
    assert "apiKey" in text
    assert "/api/v1/numbers/{id}/health/" in text


def test_sync_status_is_seen_only_on_its_own_clients_host(
    web, acme, globex, acme_agent, globex_owner
):
    with schema_context(acme.schema_name):
        run = SyncRun.objects.create(state="running", steps_total=3, steps_done=1)

    own = web(acme, acme_agent).get(f"/sync/{run.pk}/")
    assert own.status_code == 200
    assert b"33%" in own.content
    assert web(acme, globex_owner).get(f"/sync/{run.pk}/").status_code == 403
    # The id means nothing on globex's host: globex has no such run.
    assert web(globex, globex_owner).get(f"/sync/{run.pk}/").status_code == 404


@pytest.mark.parametrize("path", ["/api/v1/events/", "/api/v1/alerts/", "/api/v1/consents/"])
def test_a_since_with_an_offset_postgresql_cannot_store_is_the_instant_it_names(
    api, acme, acme_number, acme_owner, path
):
    """RFC 3339 allows offsets to ±23:59, PostgreSQL stores ±15:59: compared in UTC, not a 400."""
    from datetime import timedelta
    from urllib.parse import quote

    from django.utils import timezone

    from compliance.choices import EventKind, EventSource, Severity

    with schema_context(acme.schema_name):
        health_event_record(
            kind=EventKind.QUALITY_DROP,
            severity=Severity.WARNING,
            title="Quality dropped",
            key="offset",
            source=EventSource.SYNC,
            number=acme_number,
        )
    client = api(acme, user=acme_owner)
    hour_ago = (timezone.now() - timedelta(hours=1)).astimezone(
        timezone.get_fixed_timezone(23 * 60 + 30)
    )
    in_an_hour = hour_ago + timedelta(hours=2)

    since = client.get(f"{path}?since={quote(hour_ago.isoformat())}")
    until = client.get(f"{path}?until={quote(in_an_hour.isoformat())}")
    later = client.get(f"{path}?since={quote(in_an_hour.isoformat())}")

    assert (since.status_code, until.status_code, later.status_code) == (200, 200, 200)
    assert since.json()["results"] == until.json()["results"]
    assert later.json()["results"] == []
    if path != "/api/v1/consents/":
        assert len(since.json()["results"]) == 1


def test_an_offset_of_a_day_or_more_is_a_400_naming_the_parameter(api, acme, acme_owner):
    answer = api(acme, user=acme_owner).get("/api/v1/events/?since=2026-01-01T00:00:00%2B24:00")

    assert answer.status_code == 400
    assert "since" in answer.content.decode()


@pytest.mark.parametrize(
    "query", ["since=0001-01-01T00:00:00%2B23:00", "until=9999-12-31T23:59:59-23:00"]
)
def test_an_offset_past_the_calendars_edge_in_utc_is_not_an_error(api, acme, acme_owner, query):
    answer = api(acme, user=acme_owner).get(f"/api/v1/events/?{query}")

    assert answer.status_code == 200


@pytest.mark.parametrize("value", ["1.5", "3.475132097382049e+97", "9223372036854775808"])
def test_a_number_filter_that_is_no_id_is_a_400(api, acme, acme_owner, value):
    from urllib.parse import quote

    for path in ("/api/v1/events/", "/api/v1/alerts/"):
        answer = api(acme, user=acme_owner).get(f"{path}?number={quote(value)}")

        assert answer.status_code == 400, path
        assert "number" in answer.content.decode()


def test_the_number_filter_is_documented_as_an_id(api, acme, acme_owner):
    schema = api(acme, user=acme_owner).get("/api/schema/?format=json").json()
    [number] = [p for p in schema["paths"]["/api/v1/events/"]["get"]["parameters"]
                if p["name"] == "number"]  # fmt: skip

    assert number["schema"] == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/numbers/", "waba"),
        ("/api/v1/numbers/", "quality"),
        ("/api/v1/templates/", "name"),
        ("/api/v1/templates/", "language"),
    ],
)
def test_a_text_filter_is_documented_without_nul_and_a_nul_is_a_400(
    api, acme, acme_owner, path, name
):
    schema = api(acme, user=acme_owner).get("/api/schema/?format=json").json()
    [param] = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == name]
    assert param["schema"] == {"type": "string", "pattern": "^[^\\x00]*$"}

    answer = api(acme, user=acme_owner).get(f"{path}?{name}=a%00b")
    assert answer.status_code == 400
    assert answer["Content-Type"].startswith("application/problem+json")
    assert name in answer.json()["errors"]
    # Empty text stays a valid string: no filter.
    assert api(acme, user=acme_owner).get(f"{path}?{name}=").status_code == 200
