"""Outbound webhooks: 10,000 events fanned out to 3 loopback receivers each (30,000 deliveries).

A producer records the events in transactions of 50 (as a webhook batch does), writing the
outbox rows, and the deliveries are sent two ways, each measured on its own:

- **Celery worker** (as production sends them): each commit queues its `webhook_send` task on a
  Redis of the run's own, and a worker (prefork, 2 processes, `portal.settings.base`) sends them;
  the receivers are `tests.benchmarks.sinks webhook` processes writing down each webhook-id, so
  what arrived once, twice or never is counted.
- **One interpreter**: three senders (`deliveries_send` in threads of this process, each on its
  own database connection) claim and send what is due. Producer and senders share one GIL, so
  this is a lower bound of one process's sending, not what a worker pool does.

Figures: deliveries per second from the first event to the last delivery, and p99 from an event
to its first attempt. Targets (issue 16): >= 500 deliveries/s, p99 <= 2 s.
"""

from __future__ import annotations

import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
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
    wait_until,
    webhook_sinks,
    worker_env,
)

EVENTS = int(os.environ.get("BENCH_WEBHOOK_EVENTS", "10000"))
RECEIVERS = 3
BATCH = 50
SENDERS = 3


RECEIVER = """
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real receivers answer

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def _receiver() -> tuple[subprocess.Popen, int]:
    """A receiver in a process of its own (it must not share the senders' interpreter)."""
    proc = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline())


def _produce() -> None:
    """The events, in transactions of BATCH as a webhook batch records them (this schema)."""
    from django.db import transaction

    from integrations.events import event_emit

    for start in range(0, EVENTS, BATCH):
        with transaction.atomic():
            for n in range(start, min(start + BATCH, EVENTS)):
                event_emit(event_type="number.quality_drop", data={"n": n})


def _in_one_interpreter() -> list[tuple[str, str, str, str]]:
    from django.db import connection
    from django_tenants.utils import schema_context

    from integrations.choices import DeliveryState
    from integrations.delivery import deliveries_send
    from integrations.models import WebhookDelivery
    from integrations.services import endpoint_create
    from tenants.services import client_create, template_schema_ensure

    template_schema_ensure()
    client = client_create(
        name="Bench Webhooks",
        slug=f"bench-webhooks-{secrets.token_hex(4)}",
        owner_email="owner@bench-webhooks.example",
    )
    servers = [_receiver() for _ in range(RECEIVERS)]
    with schema_context(client.schema_name):
        for _, port in servers:
            endpoint_create(url=f"http://127.0.0.1:{port}/hook", actor=None)
    total = EVENTS * RECEIVERS
    produced = threading.Event()

    def produce():
        connection.set_schema(client.schema_name)
        try:
            _produce()
        finally:
            produced.set()
            connection.close()

    def send():
        connection.set_schema(client.schema_name)
        try:
            while True:
                sent = deliveries_send(limit=400)
                if not sent:
                    if (
                        produced.is_set()
                        and not WebhookDelivery.objects.filter(state=DeliveryState.PENDING).exists()
                    ):
                        return
                    time.sleep(0.02)
        finally:
            connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=produce)] + [
        threading.Thread(target=send) for _ in range(SENDERS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    with schema_context(client.schema_name):
        rows = list(WebhookDelivery.objects.values_list("created_at", "first_attempt_at", "state"))
    for proc, _ in servers:
        proc.terminate()
        proc.wait(timeout=10)
    delivered = sum(1 for _, _, state in rows if state == DeliveryState.DELIVERED)
    lags = sorted((first - created).total_seconds() for created, first, _ in rows if first)
    p99 = lags[int(len(lags) * 0.99) - 1] if lags else float("inf")
    rate = delivered / elapsed
    return [
        (
            f"webhook fan-out, one interpreter: {EVENTS:,} events x {RECEIVERS} receivers, "
            "delivered",
            f"{delivered:,} / {total:,}",
            f"{total:,}",
            "yes" if delivered == total else "NO",
        ),
        (
            "webhook fan-out, one interpreter: deliveries per second",
            f"{rate:,.0f}/s",
            ">= 500/s",
            "yes" if rate >= 500 else "NO",
        ),
        (
            "webhook fan-out, one interpreter: event to first attempt, p99 (median)",
            f"{p99:.2f} s ({statistics.median(lags):.2f} s)",
            "<= 2 s",
            "yes" if p99 <= 2 else "NO",
        ),
    ]


def _through_workers() -> list[tuple[str, str, str, str]]:
    """The production path: after-commit tasks, a Celery worker of 2 processes, sink receivers."""
    from django.conf import settings
    from django.db import connection
    from django.db.models import Max, Min
    from django_tenants.utils import schema_context

    from integrations.choices import DeliveryState
    from integrations.models import WebhookDelivery
    from integrations.services import endpoint_create
    from tenants.services import client_create, template_schema_ensure
    from tests.benchmarks.sinks import received

    run_id = secrets.token_hex(4)
    queue = f"bench-fanout-{run_id}"
    total = EVENTS * RECEIVERS
    with ExitStack() as cleanup:
        tmp = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
        cleanup.callback(shutil.rmtree, tmp, ignore_errors=True)
        children = Children(tmp)
        cleanup.callback(children.stop_all)
        broker, _ = redis_start(children)
        ports, files = webhook_sinks(children, RECEIVERS)
        env = worker_env(
            queue=queue, broker=broker, META_CREDENTIALS_KEY=settings.META_CREDENTIALS_KEY
        )
        celery_publish_to(broker, queue)
        cleanup.callback(celery_publish_to, os.environ.get("CELERY_BROKER_URL", ""), "portal")
        template_schema_ensure()
        client = client_create(
            name="Bench Fan-out", slug=f"bench-fanout-{run_id}",
            owner_email=f"owner@{run_id}.fanout.example",
        )  # fmt: skip
        with schema_context(client.schema_name):
            for port in ports:
                endpoint_create(url=f"http://127.0.0.1:{port}/hook", actor=None)
        children.start("worker", [PYTHON, "-m", "celery", "-A", "portal", "worker", "-Q", queue,
                                  "-c", "2", "--without-gossip", "--without-mingle",
                                  "--without-heartbeat", "-l", "info"], env)  # fmt: skip
        wait_until("the worker", lambda: " ready." in children.log("worker"), 60, every=0.2)
        connection.set_schema(client.schema_name)
        try:
            _produce()
            pending = WebhookDelivery.objects.filter(state=DeliveryState.PENDING)
            wait_until("every delivery to be sent", lambda: not pending.exists(), 900, every=0.2)
            window = WebhookDelivery.objects.aggregate(
                first=Min("created_at"), recorded=Max("created_at"), last=Max("delivered_at")
            )
            rows = list(
                WebhookDelivery.objects.values_list("created_at", "first_attempt_at", "state")
            )
            expected = set(WebhookDelivery.objects.values_list("message_id", flat=True))
        finally:
            connection.set_schema_to_public()
        time.sleep(1)  # anything sent twice has arrived too
        counts = Counter(m for path in files for m in received(path))
    once = sum(1 for m in expected if counts[m] == 1)
    twice = sum(1 for m in expected if counts[m] > 1)
    never = sum(1 for m in expected if counts[m] == 0)
    elapsed = (window["last"] - window["first"]).total_seconds()
    recording = (window["recorded"] - window["first"]).total_seconds()
    rate = sum(1 for *_, state in rows if state == DeliveryState.DELIVERED) / elapsed
    lags = sorted((first - created).total_seconds() for created, first, _ in rows if first)
    p99 = lags[int(len(lags) * 0.99) - 1] if lags else float("inf")
    return [
        (
            f"webhook fan-out, Celery worker: {EVENTS:,} events x {RECEIVERS} receivers, "
            "received once; twice; never",
            f"{once:,}; {twice}; {never}",
            f"{total:,}; 0; 0",
            "yes" if once == total == len(expected) else "NO",
        ),
        (
            "webhook fan-out, Celery worker (2 processes): deliveries per second",
            f"{rate:,.0f}/s",
            ">= 500/s",
            "yes" if rate >= 500 else "NO",
            f"the producer recorded them at {total / recording:,.0f}/s",
        ),
        (
            "webhook fan-out, Celery worker: event to first attempt, p99 (median)",
            f"{p99:.2f} s ({statistics.median(lags):.2f} s)",
            "<= 2 s",
            "yes" if p99 <= 2 else "NO",
        ),
    ]


def run() -> list[tuple[str, str, str, str]]:
    from django.conf import settings

    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    credentials_key_new()  # endpoint secrets are stored encrypted with it
    return _through_workers() + _in_one_interpreter()
