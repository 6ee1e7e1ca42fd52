"""Outbound webhooks: signed as Standard Webhooks says, retried, disabled, replayed, rotated,
and never sent to another client or with an internal note."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from compliance.choices import EventKind, EventSource, Severity
from compliance.services import health_event_record
from integrations import services
from integrations.delivery import deliveries_send, send_lanes
from integrations.models import OutboundEmail, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from integrations.secrets import secret_new


def record_restriction(account, key="restricted-1"):
    return health_event_record(
        kind=EventKind.RESTRICTION,
        severity=Severity.CRITICAL,
        title="Account restricted",
        key=key,
        source=EventSource.WEBHOOK,
        account=account,
    )


def endpoint_for(receiver, actor, **kwargs):
    return services.endpoint_create(url=receiver.url, actor=actor, **kwargs)


def test_every_delivery_is_signed_so_the_standardwebhooks_library_verifies_it(
    acme, acme_waba, acme_owner, receiver
):
    connection.set_tenant(acme)
    created = endpoint_for(receiver, acme_owner, event_types=["account.*"])
    event = record_restriction(acme_waba)

    assert deliveries_send() == 1

    [got] = receiver.received
    payload = Webhook(created.secret).verify(got.body, got.headers)
    assert payload["type"] == "account.restriction"
    assert payload["data"]["event_id"] == event.pk
    assert payload["data"]["severity"] == "critical"
    delivery = WebhookDelivery.objects.get()
    assert got.headers["webhook-id"] == delivery.message_id
    assert (delivery.state, delivery.attempts, delivery.response_status) == ("delivered", 1, 200)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret_new()).verify(got.body, got.headers)


def test_an_endpoint_receives_only_the_types_it_subscribed_to(
    acme, acme_waba, acme_owner, receiver
):
    connection.set_tenant(acme)
    endpoint_for(receiver, acme_owner, event_types=["alert.raised"])
    record_restriction(acme_waba)

    assert list(WebhookDelivery.objects.values_list("event_type", flat=True)) == ["alert.raised"]


def test_a_failed_attempt_is_logged_and_retried_later_with_backoff(
    acme, acme_waba, acme_owner, receiver
):
    connection.set_tenant(acme)
    endpoint = endpoint_for(receiver, acme_owner, event_types=["account.*"]).endpoint
    record_restriction(acme_waba)
    receiver.status = 500

    before = timezone.now()
    assert deliveries_send() == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.response_status) == ("pending", 1, 500)
    assert delivery.response_excerpt == "receiver says no"
    assert before + timedelta(seconds=3) < delivery.next_attempt_at
    assert delivery.next_attempt_at < before + timedelta(seconds=10)
    assert deliveries_send() == 0  # not due yet
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).failing_since is not None

    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    receiver.status = 204
    assert deliveries_send() == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("delivered", 2)
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 2
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).failing_since is None


def test_a_receiver_that_times_out_or_closes_the_connection_is_retried(
    settings, acme, acme_waba, acme_owner, receiver
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.2
    connection.set_tenant(acme)
    endpoint_for(receiver, acme_owner, event_types=["account.*"])
    record_restriction(acme_waba)

    receiver.delay = 1.0
    deliveries_send()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.error) == ("pending", "No answer within 0.2 s.")

    receiver.delay, receiver.close = 0, True
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    deliveries_send()
    delivery.refresh_from_db()
    assert delivery.state == "pending"
    assert delivery.attempts == 2
    assert delivery.response_status is None
    assert delivery.error.startswith("RemoteDisconnected")


def restrictions_for(receiver, client, owner, account, *, count: int) -> None:
    """An endpoint of `client` for account events, and `count` restrictions queued for it."""
    connection.set_tenant(client)
    endpoint_for(receiver, owner, event_types=["account.*"])
    for n in range(count):
        record_restriction(account, key=f"restricted-{n}")


def test_a_batch_is_sent_over_one_kept_alive_connection_per_lane(
    settings, acme, acme_waba, acme_owner, receiver
):
    settings.WEBHOOK_SEND_CONCURRENCY = 3
    restrictions_for(receiver, acme, acme_owner, acme_waba, count=12)

    assert deliveries_send() == 12

    assert len(receiver.received) == 12
    assert len({got.connection for got in receiver.received}) == 3
    assert set(WebhookDelivery.objects.values_list("state", "attempts")) == {("delivered", 1)}


def test_a_connection_the_receiver_closed_while_idle_is_reopened_without_a_failed_attempt(
    settings, acme, acme_waba, acme_owner, receiver
):
    settings.WEBHOOK_SEND_CONCURRENCY = 1
    receiver.answers_per_connection = 2
    restrictions_for(receiver, acme, acme_owner, acme_waba, count=6)

    assert deliveries_send() == 6

    ids = [got.headers["webhook-id"] for got in receiver.received]
    assert sorted(ids) == sorted(WebhookDelivery.objects.values_list("message_id", flat=True))
    assert len({got.connection for got in receiver.received}) == 3
    assert set(WebhookDelivery.objects.values_list("state", "attempts")) == {("delivered", 1)}
    assert WebhookAttempt.objects.count() == 6


def test_an_answer_with_a_nul_character_is_kept_as_an_excerpt(
    acme, acme_waba, acme_owner, receiver
):
    connection.set_tenant(acme)
    endpoint_for(receiver, acme_owner, event_types=["account.*"])
    record_restriction(acme_waba)
    receiver.status, receiver.answer = 500, b"bad\x00answer " + b"x" * 5000

    assert deliveries_send() == 1

    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.response_status) == ("pending", 500)
    assert delivery.response_excerpt == "bad\ufffdanswer " + "x" * 989
    assert WebhookAttempt.objects.get().response_excerpt == delivery.response_excerpt


def test_lanes_share_the_concurrency_among_the_batch_endpoints():
    def batch(endpoints: int, each: int) -> list[WebhookDelivery]:
        return [WebhookDelivery(pk=e * 1000 + n, endpoint_id=e) for e in range(endpoints)
                for n in range(each)]  # fmt: skip

    lanes = send_lanes(batch(3, 100), 16)
    assert len(lanes) == 15  # 5 a receiver
    assert sorted(len(lane) for lane in lanes) == [20] * 15
    assert all(len({d.endpoint_id for d in lane}) == 1 for lane in lanes)
    assert [len(lane) for lane in send_lanes(batch(1, 2), 16)] == [1, 1]
    assert len(send_lanes(batch(20, 3), 16)) == 20  # every receiver gets a lane
    assert sorted(d.pk for lane in send_lanes(batch(3, 7), 4) for d in lane) == sorted(
        d.pk for d in batch(3, 7)
    )


def test_redirects_are_not_followed(acme, acme_waba, acme_owner, receiver, second_receiver):
    connection.set_tenant(acme)
    endpoint_for(receiver, acme_owner, event_types=["account.*"])
    record_restriction(acme_waba)
    receiver.status, receiver.location = 307, second_receiver.url

    deliveries_send()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.response_status) == ("pending", 307)
    assert delivery.error == "Redirects are not followed."
    assert second_receiver.received == []


def test_a_delivery_is_given_up_after_the_retry_period(acme, acme_waba, acme_owner, receiver):
    connection.set_tenant(acme)
    endpoint_for(receiver, acme_owner, event_types=["account.*"])
    record_restriction(acme_waba)
    WebhookDelivery.objects.update(created_at=timezone.now() - timedelta(hours=72))
    receiver.status = 503

    deliveries_send()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.next_attempt_at) == ("failed", None)


def test_an_endpoint_failing_for_three_days_is_disabled_and_its_owners_emailed(
    acme, acme_waba, acme_owner, receiver
):
    connection.set_tenant(acme)
    endpoint = endpoint_for(receiver, acme_owner, event_types=["account.*"]).endpoint
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        failing_since=timezone.now() - timedelta(hours=72, minutes=1)
    )
    record_restriction(acme_waba)
    receiver.status = 500

    deliveries_send()

    endpoint.refresh_from_db()
    assert endpoint.state == "disabled"
    [email] = OutboundEmail.objects.filter(subject__contains="Webhook endpoint disabled")
    assert email.recipients == ["owner@acme.example"]
    # A disabled endpoint gets no new deliveries.
    record_restriction(acme_waba, key="restricted-2")
    assert WebhookDelivery.objects.count() == 1


def test_a_paused_endpoint_keeps_its_deliveries_and_sends_them_when_resumed(
    acme, acme_waba, acme_owner, receiver
):
    connection.set_tenant(acme)
    endpoint = endpoint_for(receiver, acme_owner, event_types=["account.*"]).endpoint
    services.endpoint_transition(endpoint=endpoint, to="paused", actor=acme_owner)
    record_restriction(acme_waba)

    assert deliveries_send() == 0
    services.endpoint_transition(endpoint=endpoint, to="active", actor=acme_owner)
    assert deliveries_send() == 1
    assert len(receiver.received) == 1


def test_a_replayed_delivery_is_sent_again_with_the_same_webhook_id(
    acme, acme_waba, acme_owner, receiver
):
    connection.set_tenant(acme)
    endpoint_for(receiver, acme_owner, event_types=["account.*"])
    record_restriction(acme_waba)
    deliveries_send()
    delivery = WebhookDelivery.objects.get()

    services.delivery_replay(delivery=delivery, actor=acme_owner)
    deliveries_send()

    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.message_id
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("delivered", 2)


def test_both_secrets_sign_during_the_overlap_and_only_the_new_one_after(
    acme, acme_waba, acme_owner, receiver
):
    connection.set_tenant(acme)
    created = endpoint_for(receiver, acme_owner, event_types=["account.*"])
    rotated = services.endpoint_rotate_secret(
        endpoint=created.endpoint, actor=acme_owner, overlap_hours=24
    )
    record_restriction(acme_waba)
    deliveries_send()

    [during] = receiver.received
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(created.secret).verify(during.body, during.headers)
    Webhook(rotated.secret).verify(during.body, during.headers)

    WebhookEndpoint.objects.update(previous_secret_expires_at=timezone.now())
    record_restriction(acme_waba, key="restricted-2")
    deliveries_send()
    after = receiver.received[1]
    Webhook(rotated.secret).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(created.secret).verify(after.body, after.headers)


def test_a_clients_endpoint_never_receives_another_clients_events(
    acme, globex, acme_owner, globex_waba, receiver
):
    with schema_context(acme.schema_name):
        endpoint_for(receiver, acme_owner)
    with schema_context(globex.schema_name):
        record_restriction(globex_waba)
        assert WebhookDelivery.objects.count() == 0
        assert deliveries_send() == 0
    with schema_context(acme.schema_name):
        assert WebhookDelivery.objects.count() == 0
        assert deliveries_send() == 0
    assert receiver.received == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:9/hook", "loopback, private or reserved"),
        ("https://10.1.2.3/hook", "loopback, private or reserved"),
        ("https://[::1]/hook", "loopback, private or reserved"),
        ("http://169.254.169.254/latest/meta-data", "loopback, private or reserved"),
        ("http://localhost/hook", "loopback, private or reserved"),
        ("ftp://example.com/hook", "Only http and https"),
        ("https://user:pw@example.com/hook", "user names and passwords"),
        ("not a url", "Only http and https"),
    ],
)
def test_private_and_non_http_addresses_are_refused_in_production(
    settings, acme, acme_owner, url, message
):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    connection.set_tenant(acme)

    with pytest.raises(services.EndpointInputError, match=message):
        services.endpoint_create(url=url, actor=acme_owner)
    assert WebhookEndpoint.objects.count() == 0


def test_an_address_that_became_private_is_refused_at_send_time(
    settings, acme, acme_waba, acme_owner, receiver
):
    connection.set_tenant(acme)
    endpoint_for(receiver, acme_owner, event_types=["account.*"])
    record_restriction(acme_waba)
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False

    deliveries_send()

    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "pending"
    assert "loopback, private or reserved" in delivery.error
    assert receiver.received == []
