"""Outbound webhooks: 10,000 events fanned out to 3 loopback receivers each (30,000 deliveries).

A producer records the events in transactions of 50 (as a webhook batch does), writing the
outbox rows; three senders (the Celery task's function, `deliveries_send`, each on its own database
connection) claim and send what is due, as workers do. Figures: deliveries per second from the
first event to the last delivery, and p99 from an event to its first attempt.
Targets (issue 16): >= 500 deliveries/s, p99 <= 2 s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time

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


def run() -> list[tuple[str, str, str, str]]:
    from django.conf import settings
    from django.db import connection, transaction
    from django_tenants.utils import schema_context

    from integrations.choices import DeliveryState
    from integrations.delivery import deliveries_send
    from integrations.events import event_emit
    from integrations.models import WebhookDelivery
    from integrations.services import endpoint_create
    from tenants.services import client_create, template_schema_ensure

    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    if not settings.META_CREDENTIALS_KEY:  # endpoint secrets are stored encrypted with it
        from cryptography.fernet import Fernet

        settings.META_CREDENTIALS_KEY = Fernet.generate_key().decode()
    template_schema_ensure()
    client = client_create(
        name="Bench Webhooks", slug="bench-webhooks", owner_email="owner@bench-webhooks.example"
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
            for start in range(0, EVENTS, BATCH):
                with transaction.atomic():
                    for n in range(start, min(start + BATCH, EVENTS)):
                        event_emit(event_type="number.quality_drop", data={"n": n})
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
            f"webhook fan-out: {EVENTS:,} events x {RECEIVERS} receivers, delivered",
            f"{delivered:,} / {total:,}",
            f"{total:,}",
            "yes" if delivered == total else "NO",
        ),
        (
            "webhook fan-out: deliveries per second",
            f"{rate:,.0f}/s",
            ">= 500/s",
            "yes" if rate >= 500 else "NO",
        ),
        (
            "webhook fan-out: event to first attempt, p99 (median)",
            f"{p99:.2f} s ({statistics.median(lags):.2f} s)",
            "<= 2 s",
            "yes" if p99 <= 2 else "NO",
        ),
    ]
