"""Events leave the portal one way: the recorder writes the alert, its e-mail and the webhook
rows in its transaction; a broker outage delays e-mails, and the sweeper sends each once."""

import json

import pytest
from django.core import mail
from django.db import connection
from django_tenants.utils import schema_context

from appeals import services as appeals
from compliance.choices import EventKind, EventSource, Severity
from compliance.models import Alert
from compliance.services import health_event_record
from integrations import services
from integrations.delivery import deliveries_send
from integrations.models import OutboundEmail, WebhookDelivery
from integrations.tasks import outbox_sweep
from tests.appeals.conftest import move, open_appeal

SECRET = "Internal: this client looks like a spammer"


def restriction(account, n: int, *, key: str):
    """A warning-level account event: one alert, its e-mail to the client's admins."""
    return health_event_record(
        kind=EventKind.RESTRICTION,
        severity=Severity.WARNING,
        title=f"Restriction {n}",
        key=f"{key}-{n}",
        source=EventSource.WEBHOOK,
        account=account,
    )


@pytest.fixture
def broker_down(monkeypatch):
    """Publishing a task fails, as it does with the broker process killed."""
    from kombu.exceptions import OperationalError

    from integrations import tasks

    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    for task in (tasks.email_send, tasks.webhook_send):
        monkeypatch.setattr(task, "apply_async", refuse)


def test_an_alert_writes_its_email_and_webhooks_in_the_events_transaction(
    acme, acme_waba, acme_owner, receiver
):
    connection.set_tenant(acme)
    services.endpoint_create(url=receiver.url, actor=acme_owner)

    event = health_event_record(
        kind=EventKind.BANNED,
        severity=Severity.CRITICAL,
        title="Account disabled",
        key="ban-1",
        source=EventSource.WEBHOOK,
        account=acme_waba,
    )

    alert = Alert.objects.get(event=event)
    assert alert.emailed_at is not None
    [email] = OutboundEmail.objects.all()
    assert (email.state, email.recipients) == (
        "pending",
        ["admin@acme.example", "owner@acme.example"],
    )
    assert sorted(WebhookDelivery.objects.values_list("event_type", flat=True)) == [
        "account.banned",
        "alert.raised",
    ]


def test_alert_emails_survive_a_broker_outage_and_the_sweeper_sends_each_once(
    acme, acme_waba, broker_down, django_capture_on_commit_callbacks
):
    connection.set_tenant(acme)
    with django_capture_on_commit_callbacks(execute=True):  # the send task cannot be queued
        for n in range(3):
            restriction(acme_waba, n, key="outage")
    assert mail.outbox == []
    assert OutboundEmail.objects.filter(state="pending").count() == 3

    first = outbox_sweep.apply().get()
    second = outbox_sweep.apply().get()

    assert (first["emails"], second["emails"]) == (3, 0)
    assert sorted(m.subject for m in mail.outbox) == [
        "[Acme Retail] Restriction 0",
        "[Acme Retail] Restriction 1",
        "[Acme Retail] Restriction 2",
    ]
    assert OutboundEmail.objects.filter(state="sent").count() == 3


def test_internal_notes_never_leave_but_client_visible_messages_do(
    acme, acme_waba, acme_owner, staff_appeals, receiver
):
    ticket = open_appeal(acme, acme_waba, acme_owner)
    ticket = move(ticket, acme, [("submit", acme_owner, {}), ("start_review", staff_appeals, {})])
    with schema_context(acme.schema_name):
        services.endpoint_create(url=receiver.url, actor=acme_owner, event_types=["appeal.*"])
        appeals.appeal_message_post(
            ticket=ticket, actor=staff_appeals, client=acme, body=SECRET, internal=True
        )
        appeals.appeal_message_post(
            ticket=ticket, actor=staff_appeals, client=acme, body="Please send the opt-in page."
        )
        appeals.appeal_request_info(
            ticket=ticket, actor=staff_appeals, client=acme, question="Which form?"
        )
        deliveries_send()

    bodies = [r.body.decode() for r in receiver.received]
    assert all(SECRET not in b for b in bodies)
    types = sorted(json.loads(b)["type"] for b in bodies)
    assert types == ["appeal.message", "appeal.message", "appeal.transitioned"]
    assert any("Please send the opt-in page." in b for b in bodies)
    assert any("Which form?" in b for b in bodies)


def test_the_sweeper_sends_batch_after_batch_while_they_come_back_full(
    acme, acme_waba, broker_down, django_capture_on_commit_callbacks, monkeypatch
):
    """After an outage thousands fall due at once: one sweep takes them all, not one batch."""
    from integrations import delivery, notify

    monkeypatch.setattr(notify, "EMAIL_BATCH", 2)
    monkeypatch.setattr(delivery, "SEND_BATCH", 2)
    connection.set_tenant(acme)
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(5):
            restriction(acme_waba, n, key="backlog")

    swept = outbox_sweep.apply().get()

    assert swept["emails"] == 5
    assert OutboundEmail.objects.filter(state="pending").count() == 0
    assert len(mail.outbox) == 5


def test_the_sweeper_stops_at_its_budget(acme, acme_waba, broker_down, monkeypatch):
    """A sweep never runs into the next beat period, however much is due."""
    from integrations import notify

    monkeypatch.setattr(notify, "EMAIL_BATCH", 1)
    connection.set_tenant(acme)
    for n in range(3):
        restriction(acme_waba, n, key="budget")

    swept = outbox_sweep.apply(kwargs={"budget_seconds": 0}).get()

    assert swept["emails"] == 1
    assert OutboundEmail.objects.filter(state="pending").count() == 2


def test_with_the_broker_down_a_process_tries_to_publish_once_then_leaves_it_to_the_sweeper(
    acme, acme_waba, django_capture_on_commit_callbacks, monkeypatch
):
    """Each request would otherwise wait for the broker's connect timeout during an outage."""
    from kombu.exceptions import OperationalError

    import portal.celery
    from integrations import tasks

    tries = []

    def refuse(*args, **kwargs):
        tries.append(kwargs.get("retry"))
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.email_send, "apply_async", refuse)
    clock = [1000.0]
    monkeypatch.setattr(portal.celery.time, "monotonic", lambda: clock[0])
    connection.set_tenant(acme)

    def alert(n: int) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            restriction(acme_waba, n, key="breaker")

    alert(1)
    alert(2)
    clock[0] += portal.celery.BROKER_BACKOFF_SECONDS + 1
    alert(3)

    assert tries == [False, False]  # the first, then once more after the back-off; never retried
    assert OutboundEmail.objects.filter(state="pending").count() == 3
    assert outbox_sweep.apply().get()["emails"] == 3
