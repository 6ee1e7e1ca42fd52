"""Real Celery workers on the real broker draining webhooks: two never apply a change twice, and
one killed in the middle of a change leaves nothing pending once its lease runs out."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.meta.models import ChangeState, DeliveryState, WebhookChange, WebhookDelivery
from tests.conftest import celery_worker_start, committed
from tests.webhooks import body_of, envelope

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db,
    pytest.mark.usefixtures("other_workers_paused"),
]

WABA = "1490000001"


@pytest.fixture
def probe_client():
    from compliance.services import account_link
    from tenants.models import Client
    from tenants.services import client_create

    slug = f"wh-{uuid.uuid4().hex[:8]}"

    def create():
        client = client_create(name="Webhook Workers", slug=slug, owner_email=f"o@{slug}.example")
        account_link(client=client, waba_id=WABA)
        return client

    def remove():
        from tenants.models import User

        ids = WebhookChange.objects.filter(entry_id=WABA).values("delivery_id")
        WebhookDelivery.objects.filter(pk__in=ids).delete()
        Client.objects.get(pk=client.pk).delete(force_drop=True)
        User.objects.filter(email=f"o@{slug}.example").delete()

    client = committed(create)
    yield client
    committed(remove)


def _store(n: int, **extra) -> None:
    from portal.meta.services import webhook_delivery_store

    value = {"n": n, **extra}
    webhook_delivery_store(
        body=body_of(envelope(WABA, "probe_effect", value, time=1_763_000_000 + n))
    )


def _worker(queue: str, log: str, **env) -> subprocess.Popen:
    return celery_worker_start(queue, TEST_WEBHOOK_EFFECT_LOG=log, **env)


def _stop(*workers: subprocess.Popen) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    for worker in workers:
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def _wait_until(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def _lines(path: str) -> list[int]:
    return [int(x) for x in open(path).read().split()] if os.path.exists(path) else []


def _drain(queue: str) -> None:
    from portal.meta.tasks import process_pending_webhooks

    process_pending_webhooks.apply_async(queue=queue)


def test_two_workers_on_the_real_broker_never_apply_a_change_twice(probe_client, tmp_path):
    queue = f"test-webhooks-{uuid.uuid4().hex[:8]}"
    log = str(tmp_path / "effects.log")
    committed(lambda: [_store(n) for n in range(300)])
    workers = [_worker(queue, log), _worker(queue, log)]
    try:
        for _ in range(6):  # wake-ups racing each other, as under load
            committed(lambda: _drain(queue))
        done = _wait_until(
            lambda: committed(
                lambda: (
                    not WebhookChange.objects.filter(
                        entry_id=WABA, next_attempt_at__isnull=False
                    ).exists()
                    and WebhookChange.objects.filter(entry_id=WABA).count() == 300
                )
            ),
            120,
        )
    finally:
        _stop(*workers)
        from tests.broker import queue_delete

        queue_delete(queue)

    assert done
    assert sorted(_lines(log)) == list(range(300))  # each applier ran once, none twice
    states = committed(
        lambda: set(WebhookChange.objects.filter(entry_id=WABA).values_list("state", flat=True))
    )
    assert states == {ChangeState.APPLIED}


def test_a_worker_killed_in_the_middle_of_a_change_leaves_nothing_pending(
    probe_client, tmp_path, monkeypatch
):
    queue = f"test-webhooks-{uuid.uuid4().hex[:8]}"
    log = str(tmp_path / "effects.log")
    monkeypatch.setenv("TEST_WEBHOOK_EFFECT_LOG", log)  # for the retry in this process
    committed(lambda: _store(1, slow=True))
    worker = _worker(queue, log, TEST_WEBHOOK_PROBE_SLEEP="60", META_WEBHOOK_LEASE_SECONDS="5")
    try:
        committed(lambda: _drain(queue))
        assert _wait_until(lambda: _lines(log) == [1], 60)  # inside the applier ...
        os.kill(worker.pid, signal.SIGKILL)  # ... when the worker dies
        worker.wait(10)
    finally:
        _stop(worker)
        from tests.broker import queue_delete

        queue_delete(queue)
    change = committed(lambda: WebhookChange.objects.get(entry_id=WABA))
    assert (change.state, change.next_attempt_at is not None) == (ChangeState.PENDING, True)
    assert change.claimed_until > timezone.now() - timedelta(seconds=1)  # its lease holds

    assert _wait_until(lambda: bool(committed(lambda: _sweep().changes)), 15)
    from portal.meta.services import webhook_process_pending

    committed(webhook_process_pending)

    change = committed(lambda: WebhookChange.objects.get(entry_id=WABA))
    assert (change.state, change.attempts) == (ChangeState.APPLIED, 2)
    delivery = committed(lambda: WebhookDelivery.objects.get(pk=change.delivery_id))
    assert delivery.state == DeliveryState.PROCESSED
    assert _lines(log) == [1, 1]  # the killed attempt rolled back; the retry applied it


def _sweep():
    from portal.meta.webhooks.pipeline import webhook_sweep_find

    return webhook_sweep_find()
