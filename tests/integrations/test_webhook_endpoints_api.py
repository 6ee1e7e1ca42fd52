"""The webhook endpoints API: owners, admins and write-scoped keys manage; a secret is shown once;
bad addresses get a 400; another client's endpoints are not found; viewers change nothing."""

from django.db import connection
from django_tenants.utils import schema_context
from standardwebhooks.webhooks import Webhook

from integrations import services
from integrations.delivery import deliveries_send
from integrations.models import WebhookDelivery, WebhookEndpoint
from portal.audit.models import AuditLog
from tenants.services import api_key_create


def key_of(client, scopes):
    return api_key_create(client=client, name="integration", scopes=scopes)[1]


def test_a_write_key_adds_an_endpoint_and_sees_its_secret_once(acme, api, receiver):
    http = api(acme, key=key_of(acme, ["read", "write"]))

    created = http.post(
        "/api/v1/webhook-endpoints/",
        {"url": receiver.url, "description": "CRM", "event_types": ["alert.*"]},
        format="json",
    )

    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["event_types"] == ["alert.*"]
    assert body["state"] == "active"
    listed = http.get("/api/v1/webhook-endpoints/").json()["results"]
    assert [e["id"] for e in listed] == [body["id"]]
    assert "secret" not in listed[0]
    assert listed[0]["secret_hint"] == body["secret"][:10]
    detail = http.get(f"/api/v1/webhook-endpoints/{body['id']}/").json()
    assert "secret" not in detail


def test_a_read_key_reads_but_cannot_add_an_endpoint(acme, api, receiver):
    http = api(acme, key=key_of(acme, ["read"]))

    answer = http.post("/api/v1/webhook-endpoints/", {"url": receiver.url}, format="json")

    assert answer.status_code == 403
    assert answer["content-type"] == "application/problem+json"
    assert http.get("/api/v1/webhook-endpoints/").status_code == 200
    with schema_context(acme.schema_name):
        assert WebhookEndpoint.objects.count() == 0


def test_owners_and_admins_manage_endpoints_and_agents_and_viewers_do_not(
    acme, api, acme_admin, acme_agent, acme_viewer, receiver
):
    for person in (acme_agent, acme_viewer):
        answer = api(acme, user=person).post(
            "/api/v1/webhook-endpoints/", {"url": receiver.url}, format="json"
        )
        assert answer.status_code == 403
        assert api(acme, user=person).get("/api/v1/webhook-endpoints/").status_code == 403
    answer = api(acme, user=acme_admin).post(
        "/api/v1/webhook-endpoints/", {"url": receiver.url}, format="json"
    )
    assert answer.status_code == 201
    with schema_context(acme.schema_name):
        assert WebhookEndpoint.objects.count() == 1


def test_a_private_or_malformed_url_gets_a_400_and_stores_nothing(settings, acme, api):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    http = api(acme, key=key_of(acme, ["read", "write"]))

    private = http.post("/api/v1/webhook-endpoints/", {"url": "http://10.0.0.5/"}, format="json")
    malformed = http.post("/api/v1/webhook-endpoints/", {"url": "nope"}, format="json")
    unknown = http.post(
        "/api/v1/webhook-endpoints/",
        {"url": "https://93.184.215.14/", "event_types": ["nothing.here"]},
        format="json",
    )

    assert private.status_code == malformed.status_code == unknown.status_code == 400
    assert "loopback, private or reserved" in private.json()["errors"]["url"][0]
    assert list(malformed.json()["errors"]) == ["url"]
    assert list(unknown.json()["errors"]) == ["event_types"]
    with schema_context(acme.schema_name):
        assert WebhookEndpoint.objects.count() == 0


def test_another_clients_endpoint_and_deliveries_are_not_found(
    acme, globex, api, globex_owner, receiver
):
    with schema_context(globex.schema_name):
        theirs = services.endpoint_create(url=receiver.url, actor=globex_owner).endpoint
        services.endpoint_send_test(endpoint=theirs, actor=globex_owner)
        delivery = WebhookDelivery.objects.get()
    http = api(acme, key=key_of(acme, ["read", "write"]))

    assert http.get(f"/api/v1/webhook-endpoints/{theirs.pk}/").status_code == 404
    assert http.delete(f"/api/v1/webhook-endpoints/{theirs.pk}/").status_code == 404
    assert http.get(f"/api/v1/webhook-endpoints/{theirs.pk}/deliveries/").status_code == 404
    replay = http.post(f"/api/v1/webhook-endpoints/{theirs.pk}/deliveries/{delivery.pk}/replay/")
    assert replay.status_code == 404
    assert http.get("/api/v1/webhook-endpoints/").json()["results"] == []
    # A globex key on acme's host is refused outright.
    assert (
        api(acme, key=key_of(globex, ["read"])).get("/api/v1/webhook-endpoints/").status_code == 401
    )
    with schema_context(globex.schema_name):
        assert WebhookEndpoint.objects.filter(pk=theirs.pk).exists()


def test_rotation_pause_log_and_replay_through_the_api(acme, api, acme_owner, receiver):
    http = api(acme, key=key_of(acme, ["read", "write"]))
    endpoint = http.post("/api/v1/webhook-endpoints/", {"url": receiver.url}, format="json").json()
    base = f"/api/v1/webhook-endpoints/{endpoint['id']}"

    rotated = http.post(f"{base}/rotate-secret/", {"overlap_hours": 1}, format="json").json()
    assert rotated["secret"] != endpoint["secret"]
    assert rotated["previous_secret_expires_at"] is not None
    assert http.post(f"{base}/test/").status_code == 202
    connection.set_tenant(acme)
    deliveries_send()
    [got] = receiver.received
    Webhook(endpoint["secret"]).verify(got.body, got.headers)
    Webhook(rotated["secret"]).verify(got.body, got.headers)

    [row] = http.get(f"{base}/deliveries/").json()["results"]
    assert (row["event_type"], row["state"], row["response_status"]) == (
        "webhook.test",
        "delivered",
        200,
    )
    detail = http.get(f"{base}/deliveries/{row['id']}/").json()
    assert detail["payload"]["type"] == "webhook.test"
    assert [a["response_status"] for a in detail["attempt_log"]] == [200]
    assert http.post(f"{base}/deliveries/{row['id']}/replay/").json()["state"] == "pending"

    assert http.post(f"{base}/pause/").json()["state"] == "paused"
    assert http.post(f"{base}/resume/").json()["state"] == "active"
    assert http.delete(f"{base}/").status_code == 204
    assert WebhookEndpoint.objects.count() == 0
    actions = set(AuditLog.objects.filter(client=acme).values_list("action", flat=True))
    assert {
        "webhook_endpoint.created",
        "webhook_endpoint.secret_rotated",
        "webhook_delivery.replayed",
        "webhook_endpoint.paused",
        "webhook_endpoint.resumed",
        "webhook_endpoint.deleted",
    } <= actions


def test_updating_an_endpoint_deleted_meanwhile_is_a_404_not_a_500(acme, acme_owner, receiver):
    import pytest
    from django.http import Http404

    with schema_context(acme.schema_name):
        endpoint = services.endpoint_create(url=receiver.url, actor=acme_owner).endpoint
        WebhookEndpoint.objects.filter(pk=endpoint.pk).delete()  # another request's delete

        with pytest.raises(Http404):
            services.endpoint_update(endpoint=endpoint, actor=acme_owner, description="x")
