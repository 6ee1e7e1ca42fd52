"""The webhook pages: owners and admins add, inspect, replay and delete; agents may not; another
client's endpoint is not found."""

from django_tenants.utils import schema_context

from integrations import services
from integrations.models import WebhookDelivery, WebhookEndpoint


def test_an_owner_adds_an_endpoint_and_sees_the_secret_once(web, acme, acme_owner, receiver):
    page = web(acme, acme_owner)

    added = page.post(
        "/integrations/webhooks/",
        {"url": receiver.url, "description": "CRM", "event_types": ["alert.*"]},
    )

    assert added.status_code == 200
    with schema_context(acme.schema_name):
        endpoint = WebhookEndpoint.objects.get()
    assert "whsec_" in added.content.decode()
    detail = page.get(f"/integrations/webhooks/{endpoint.pk}/").content.decode()
    assert receiver.url in detail
    assert endpoint.secret_hint in detail
    assert "whsec_" not in detail.replace(endpoint.secret_hint, "")


def test_a_private_address_is_a_form_error_and_stores_nothing(settings, web, acme, acme_admin):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False

    answer = web(acme, acme_admin).post("/integrations/webhooks/", {"url": "http://10.0.0.1/"})

    assert answer.status_code == 400
    assert "loopback, private or reserved" in answer.content.decode()
    with schema_context(acme.schema_name):
        assert WebhookEndpoint.objects.count() == 0


def test_agents_may_not_and_another_clients_endpoint_is_not_found(
    web, acme, globex, acme_agent, acme_owner, globex_owner, receiver
):
    with schema_context(globex.schema_name):
        theirs = services.endpoint_create(url=receiver.url, actor=globex_owner).endpoint

    assert web(acme, acme_agent).get("/integrations/webhooks/").status_code == 403
    assert (
        web(acme, acme_agent).post("/integrations/webhooks/", {"url": receiver.url}).status_code
        == 403
    )
    owner = web(acme, acme_owner)
    assert owner.get(f"/integrations/webhooks/{theirs.pk}/").status_code == 404
    assert owner.post(f"/integrations/webhooks/{theirs.pk}/delete/").status_code == 404
    with schema_context(globex.schema_name):
        assert WebhookEndpoint.objects.filter(pk=theirs.pk).exists()
    with schema_context(acme.schema_name):
        assert WebhookEndpoint.objects.count() == 0


def test_the_log_shows_a_delivery_and_replay_queues_it_again(web, acme, acme_owner, receiver):
    with schema_context(acme.schema_name):
        endpoint = services.endpoint_create(url=receiver.url, actor=acme_owner).endpoint
        delivery = services.endpoint_send_test(endpoint=endpoint, actor=acme_owner)
        from integrations.delivery import deliveries_send

        deliveries_send()
    page = web(acme, acme_owner)

    log = page.get(f"/integrations/webhooks/{endpoint.pk}/").content.decode()
    assert "webhook.test" in log
    one = page.get(f"/integrations/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/")
    assert "webhook-id" in one.content.decode()
    replay = page.post(f"/integrations/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/replay/")
    assert replay.status_code == 302
    with schema_context(acme.schema_name):
        assert WebhookDelivery.objects.get(pk=delivery.pk).state == "pending"
