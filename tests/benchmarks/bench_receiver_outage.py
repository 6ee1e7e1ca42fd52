"""An outbound webhook receiver down for 60 s (issue 16): 10,000 events fanned out to 3 loopback
receivers each; one receiver stopped mid-run and started again on the same port 60 s later.
Every delivery must reach its receiver once: none lost, none doubled, all within 5 minutes of its
return.

Real processes, production settings: a Redis of its own, a Celery worker (prefork, 2 processes)
sending the outbox after each commit, beat (the outbox sweeper every 30 s, which sends the
retries), and three receivers (`tests.benchmarks.sinks webhook`) writing down each request's
webhook-id. This process records the events in transactions of 50, as a webhook batch does.

Figures: deliveries received once / twice / never per receiver; time from the receiver's return
until its last delivery arrived (target ≤ 5 min). Anchor (same run): the time the two receivers
that stayed up took to get all of theirs, from the first event.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from tests.benchmarks.procs import (
    PYTHON,
    Children,
    celery_publish_to,
    credentials_key_new,
    redis_start,
    sink_start,
    wait_until,
    webhook_sinks,
    worker_env,
)
from tests.benchmarks.sinks import received

EVENTS = int(os.environ.get("BENCH_WEBHOOK_EVENTS", "10000"))
RECEIVERS = 3
BATCH = 50
DOWN_AFTER_EVENTS = EVENTS // 5
DOWN_SECONDS = 60.0
TARGET_SECONDS = 300
PRODUCE_SECONDS = 90.0  # the events are spread over this long, so the outage is mid-run


def run() -> list[tuple]:
    from django.conf import settings
    from django.db import connection, transaction
    from django_tenants.utils import schema_context

    from integrations.events import event_emit
    from integrations.models import WebhookDelivery
    from integrations.services import endpoint_create
    from tenants.services import client_create, template_schema_ensure

    run_id = secrets.token_hex(4)
    queue = f"bench-receiver-{run_id}"
    with ExitStack() as cleanup:
        tmp = Path(tempfile.mkdtemp(prefix="bench-receiver-"))
        cleanup.callback(shutil.rmtree, tmp, ignore_errors=True)
        children = Children(tmp)
        cleanup.callback(children.stop_all)
        broker, _ = redis_start(children)
        ports, files = webhook_sinks(children, RECEIVERS)
        env = worker_env(queue=queue, broker=broker)
        celery_publish_to(broker, queue)
        settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
        env["META_CREDENTIALS_KEY"] = credentials_key_new()

        template_schema_ensure()
        client = client_create(
            name="Bench Receivers", slug=f"bench-receivers-{run_id}",
            owner_email=f"owner@{run_id}.receivers.example",
        )  # fmt: skip
        with schema_context(client.schema_name):
            endpoints = [
                endpoint_create(url=f"http://127.0.0.1:{port}/hook", actor=None).endpoint
                for port in ports
            ]
        children.start("worker", [PYTHON, "-m", "celery", "-A", "portal", "worker", "-Q", queue,
                                  "-c", "2", "--without-gossip", "--without-mingle",
                                  "--without-heartbeat", "-l", "warning"], env)  # fmt: skip
        children.start("beat", [PYTHON, "-m", "celery", "-A", "portal", "beat", "-l", "warning",
                                "-s", str(tmp / "beat-schedule")], env)  # fmt: skip
        time.sleep(5)
        children.check_alive()

        down = children.children["receiver-1"]
        started = time.monotonic()
        down_at = back_at = None
        gap = PRODUCE_SECONDS / (EVENTS / BATCH)
        connection.set_schema(client.schema_name)
        try:
            for batch, start in enumerate(range(0, EVENTS, BATCH)):
                if down_at is None and start >= DOWN_AFTER_EVENTS:
                    os.killpg(down.pid, signal.SIGKILL)
                    down.wait(10)
                    down_at = time.monotonic()
                if down_at and back_at is None and time.monotonic() - down_at >= DOWN_SECONDS:
                    back_at = _restart(children, ports[1], files[1])
                with transaction.atomic():
                    for n in range(start, min(start + BATCH, EVENTS)):
                        event_emit(event_type="number.quality_drop", data={"n": n})
                time.sleep(max(0.0, started + (batch + 1) * gap - time.monotonic()))
            if back_at is None:
                time.sleep(max(0.0, down_at + DOWN_SECONDS - time.monotonic()))
                back_at = _restart(children, ports[1], files[1])
            expected = {
                e.pk: set(
                    WebhookDelivery.objects.filter(endpoint=e).values_list("message_id", flat=True)
                )
                for e in endpoints
            }
            up_done: dict[int, float] = {}

            def arrived() -> bool:
                done = True
                for n, endpoint in enumerate(endpoints):
                    if n in up_done:
                        continue
                    if expected[endpoint.pk] <= set(received(files[n])):
                        up_done[n] = time.monotonic()
                    else:
                        done = False
                return done

            wait_until("every delivery to arrive", arrived, back_at - time.monotonic() + 900, 1)
        finally:
            connection.set_schema_to_public()
        time.sleep(2)  # anything sent twice has arrived too
        counts = [Counter(received(path)) for path in files]

    rows = []
    for n, endpoint in enumerate(endpoints):
        ids = expected[endpoint.pk]
        once = sum(1 for m in ids if counts[n][m] == 1)
        twice = sum(1 for m in ids if counts[n][m] > 1)
        never = sum(1 for m in ids if counts[n][m] == 0)
        label = "down 60 s" if n == 1 else "up"
        rows.append(
            (f"receiver {n} ({label}): {len(ids):,} deliveries received once; twice; never",
             f"{once:,}; {twice}; {never}", f"{EVENTS:,}; 0; 0",
             "yes" if once == EVENTS == len(ids) else "NO")
        )  # fmt: skip
    catch_up = up_done[1] - back_at
    others = max(up_done[0], up_done[2]) - started
    rows.append(
        ("receiver down 60 s: its return to its last delivery", f"{catch_up:.0f} s",
         f"≤ {TARGET_SECONDS} s", "yes" if catch_up <= TARGET_SECONDS else "NO",
         f"receivers that stayed up: first event to their last delivery {others:.0f} s")
    )  # fmt: skip
    return rows


def _restart(children: Children, port: int, path: Path) -> float:
    sink_start(children, "webhook", port, path, name="receiver-1-again")
    return time.monotonic()
