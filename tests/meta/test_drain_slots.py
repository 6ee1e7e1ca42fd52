"""Drain slots: however long the traffic lasts, at most one queued or running drain run per
slot, and no delivery waits for the sweeper because its wake-up found every slot held."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models.functions import Now
from django.utils import timezone

from portal.meta import services
from portal.meta.models import DeliveryState, DrainSlot, WebhookChange, WebhookDelivery
from portal.meta.webhooks import pipeline, wake
from tests.conftest import committed
from tests.webhooks import body_of, envelope

WABA = "1490000077"


@pytest.fixture
def published(monkeypatch):
    """What would go to the broker: (countdown, ticket) per drain run queued."""
    runs: list[tuple[float | None, wake.Ticket | None]] = []
    monkeypatch.setattr(
        services,
        "_queue_drain",
        lambda countdown=None, ticket=None: runs.append((countdown, ticket)),
    )
    return runs


def _store(n: int) -> int:
    return services.webhook_delivery_store(
        body=body_of(envelope(WABA, "account_update", {"n": n, "r": uuid.uuid4().hex}))
    )


def test_slots_are_taken_one_each_until_none_is_free(db):
    first = wake.slot_take(runs=2, hold=60)
    second = wake.slot_take(runs=2, hold=60)

    assert (first.slot, second.slot) == (1, 2)
    assert wake.slot_take(runs=2, hold=60) is None
    wake.slot_release(first)
    again = wake.slot_take(runs=2, hold=60)
    assert again.slot == 1
    assert again.token != first.token


def test_a_slot_whose_holder_ran_out_of_time_is_taken_again(db):
    lost = wake.slot_take(runs=1, hold=60)
    assert wake.slot_take(runs=1, hold=60) is None
    # The database's clock, as the slots are held by it (the test's may be moved ahead).
    DrainSlot.objects.filter(number=lost.slot).update(held_until=Now() - timedelta(seconds=1))

    taken = wake.slot_take(runs=1, hold=60)

    assert taken.slot == lost.slot
    # The old holder can neither hold nor give back what is no longer its own.
    assert wake.slot_hold(lost, 60) is False
    wake.slot_release(lost)
    assert DrainSlot.objects.get(number=taken.slot).held_by == uuid.UUID(taken.token)


def test_the_retry_timer_keeps_one_run_the_earliest_needed(db):
    later = wake.retry_slot_take(delay=20, hold=60)
    assert later.slot == wake.RETRY_SLOT
    assert wake.retry_slot_take(delay=20, hold=60) is None  # as early is planned
    assert wake.retry_slot_take(delay=25, hold=60) is None  # later: the planned run serves it

    earlier = wake.retry_slot_take(delay=2, hold=60)

    assert earlier is not None
    assert earlier.token != later.token
    assert wake.slot_hold(later, 60) is False  # the superseded message ends when it arrives
    # The intake's slots are apart from the timer's.
    assert wake.slot_take(runs=1, hold=60).slot == 1


def test_a_burst_of_wakeups_publishes_one_run_per_slot(db, published, settings):
    settings.META_WEBHOOK_DRAIN_RUNS = 2

    for _ in range(50):
        services._drain_wake()

    assert [ticket.slot for _, ticket in published] == [1, 2]
    assert all(countdown is None for countdown, _ in published)


def test_a_publish_that_fails_gives_the_slot_back(db, monkeypatch, settings):
    settings.META_WEBHOOK_DRAIN_RUNS = 1

    def broker_down(countdown=None, ticket=None):
        raise ConnectionError("broker down")

    monkeypatch.setattr(services, "_queue_drain", broker_down)
    with pytest.raises(ConnectionError):
        services._drain_wake()

    assert wake.slot_take(runs=1, hold=60) is not None


def test_unreadable_slots_still_wake_a_run(db, published, monkeypatch):
    from django.db import OperationalError

    def unreadable(**kwargs):
        raise OperationalError("the database went away")

    monkeypatch.setattr(wake, "slot_take", unreadable)
    monkeypatch.setattr(connection, "close", lambda: None)  # the test's own connection stays

    services._drain_wake()

    assert published == [(None, None)]


def test_a_run_whose_ticket_was_superseded_ends_at_once(db, published):
    stale = wake.slot_take(runs=1, hold=60)
    DrainSlot.objects.filter(number=stale.slot).update(held_by=uuid.uuid4())
    delivery_id = _store(1)

    assert services.webhook_drain_run(ticket=stale, max_seconds=5) == 0
    assert WebhookDelivery.objects.get(pk=delivery_id).state == DeliveryState.RECEIVED


def test_a_delivery_whose_wakeup_was_refused_is_drained_by_the_run_holding_the_slot(
    db, published, monkeypatch, settings
):
    """The run had finished its pass when the delivery came; the wake-up found the only slot
    held and published nothing; the run, giving the slot back, finds the delivery and drains
    it."""
    settings.META_WEBHOOK_DRAIN_RUNS = 1
    running = wake.slot_take(runs=1, hold=60)
    real = services.webhook_process_pending
    passes: list[int] = []

    def process_pending(*, max_seconds=None):
        if not passes:  # the pass that ended before the delivery came
            passes.append(0)
            delivery_ids.append(_store(2))
            services._drain_wake()
            return 0
        passes.append(real(max_seconds=max_seconds))
        return passes[-1]

    delivery_ids: list[int] = []
    monkeypatch.setattr(services, "webhook_process_pending", process_pending)

    services.webhook_drain_run(ticket=running, max_seconds=30)

    assert published == []  # refused: the slot was held
    assert WebhookDelivery.objects.get(pk=delivery_ids[0]).state != DeliveryState.RECEIVED
    assert passes[1] >= 1
    assert not pipeline.work_waiting()
    assert wake.slot_take(runs=1, hold=60) is not None  # given back at the end


def test_a_run_past_its_time_hands_over_with_its_slot(db, published, monkeypatch, settings):
    settings.META_WEBHOOK_DRAIN_RUNS = 1
    ticket = wake.slot_take(runs=1, hold=60)
    _store(3)
    monkeypatch.setattr(services, "webhook_process_pending", lambda *, max_seconds=None: 1)

    services.webhook_drain_run(ticket=ticket, max_seconds=0)

    assert len(published) == 1
    countdown, handed = published[0]
    assert countdown is None
    assert handed is not None
    assert wake.slot_hold(handed, 60) is True  # the fresh task's to hold
    assert wake.slot_take(runs=1, hold=60) is None


def test_a_run_that_fails_gives_its_slot_back(db, published, monkeypatch, settings):
    from django.db import OperationalError

    settings.META_WEBHOOK_DRAIN_RUNS = 1
    ticket = wake.slot_take(runs=1, hold=60)

    def outage(*, max_seconds=None):
        raise OperationalError("the database went away")

    monkeypatch.setattr(services, "webhook_process_pending", outage)
    with pytest.raises(OperationalError):
        services.webhook_drain_run(ticket=ticket, max_seconds=5)

    assert wake.slot_take(runs=1, hold=60) is not None


def _change(client, *, due_in: float, **fields) -> WebhookChange:
    """A change of a split delivery, due `due_in` seconds from now."""
    delivery = WebhookDelivery.objects.create(
        body=b"{}", body_sha256=uuid.uuid4().hex * 2, state=DeliveryState.SPLIT
    )
    return WebhookChange.objects.create(
        delivery=delivery,
        client=client,
        field="account_update",
        entry_id=WABA,
        value={},
        dedupe_key=uuid.uuid4().hex,
        next_attempt_at=timezone.now() + timedelta(seconds=due_in),
        **fields,
    )


def test_work_another_run_holds_does_not_count_as_waiting(db, acme):
    assert not pipeline.work_waiting()
    leased = _change(acme, due_in=-1, claimed_until=timezone.now() + timedelta(seconds=60))
    waiting = _change(acme, due_in=-1)
    assert not pipeline.work_waiting()  # its client is held by the run that leased the other

    WebhookChange.objects.filter(pk=leased.pk).update(claimed_until=None, next_attempt_at=None)
    assert pipeline.work_waiting()

    WebhookChange.objects.filter(pk=waiting.pk).update(next_attempt_at=None)
    _store(4)
    assert pipeline.work_waiting()  # an unsplit delivery


def test_the_retry_timer_plans_one_run_for_the_next_retry(db, published, acme):
    _change(acme, due_in=5)

    services.webhook_drain_run(ticket=None, max_seconds=5)
    services.webhook_drain_run(ticket=None, max_seconds=5)

    assert len(published) == 1
    countdown, ticket = published[0]
    assert 0.5 <= countdown <= 5
    assert ticket.slot == wake.RETRY_SLOT


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("other_workers_paused")
def test_sustained_deliveries_leave_at_most_one_message_per_slot_on_the_broker(
    monkeypatch, settings
):
    """The real waker thread and the real broker, nothing consuming: 1.5 s of deliveries
    (about 30 wake-ups from this process) leave as many messages as there are slots."""
    from kombu import Connection

    from portal.meta.tasks import process_pending_webhooks
    from tests.broker import queue_delete

    settings.META_WEBHOOK_DRAIN_RUNS = 2
    queue = f"test-slots-{uuid.uuid4().hex[:8]}"
    publish = process_pending_webhooks.apply_async
    monkeypatch.setattr(
        process_pending_webhooks,
        "apply_async",
        lambda *args, **kwargs: publish(*args, **{**kwargs, "queue": queue}),
    )
    # slots an earlier test's waker took (committed, held for a lease) would leave none free
    committed(lambda: DrainSlot.objects.all().delete())
    try:
        deadline = time.monotonic() + 1.5
        n = 0
        while time.monotonic() < deadline:
            _store(100 + n)  # outside a transaction: committed, then the wake-up
            n += 1
            time.sleep(0.005)
        time.sleep(0.3)  # the waker's last round
        with Connection(settings.CELERY_BROKER_URL) as conn:
            waiting = conn.default_channel.queue_declare(queue=queue, passive=True).message_count
    finally:
        queue_delete(queue)
        committed(lambda: WebhookDelivery.objects.all().delete())
        committed(lambda: DrainSlot.objects.all().delete())

    assert n > 50
    assert waiting == 2


def test_the_waker_lets_go_of_its_connection_when_quiet(monkeypatch):
    monkeypatch.setattr(wake, "IDLE_SECONDS", 0.05)
    published, idled = threading.Event(), threading.Event()
    waker = wake.Waker(published.set, on_idle=idled.set)

    waker.request()

    assert published.wait(5)
    assert idled.wait(5)
