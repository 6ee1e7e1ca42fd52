"""Fixtures for the Meta client and simulator tests: a small scenario, the simulator on a free
loopback port, a client whose sleeps are recorded (never slept), and a webhook receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from portal.meta.client import GraphClient
from portal.meta.simulator import SimulatorServer

TOKEN = "test-token-SECRET-123"
WABA = "1000000001"
START = 1_767_225_600  # 2026-01-01T00:00:00Z


def body(text: str) -> list[dict]:
    return [{"type": "BODY", "text": text}]


def small_scenario() -> dict:
    numbers = [
        {
            "id": f"200000000{i}",
            "display_phone_number": f"+1 555-000-000{i}",
            "verified_name": "Test Co",
            "status": "CONNECTED",
            "quality_rating": "GREEN",
            "messaging_limit": "TIER_10K",
        }
        for i in range(1, 6)
    ]
    templates = [
        {
            "id": f"300000000{i}",
            "name": f"template_{i}",
            "language": "en_US",
            "category": "UTILITY",
            "status": "APPROVED",
            "quality": "GREEN",
            "quality_date": START - 100,
            "components": body(f"Hello {{{{1}}}}, this is update number {i} for you today."),
        }
        for i in range(1, 8)
    ]
    return {
        "tokens": [TOKEN],
        "start_time": START,
        "review_delay_seconds": 60,
        "review_rules": [{"match": "*promo*", "outcome": "REJECTED", "reason": "PROMOTIONAL"}],
        "wabas": [
            {
                "id": WABA,
                "name": "Test Co",
                "business_id": "9000000001",
                "currency": "USD",
                "timezone_id": "1",
                "message_template_namespace": "test_ns",
                "account_review_status": "APPROVED",
                "business_verification_status": "VERIFIED",
                "phone_numbers": numbers,
                "message_templates": templates,
            }
        ],
    }


class RecordingRng:
    """`uniform(a, b)` returns `b`: the full-jitter upper bound, so waits are predictable."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.fixture
def scenario() -> dict:
    return small_scenario()


@pytest.fixture
def sim(scenario) -> Iterator[SimulatorServer]:
    with SimulatorServer(scenario) as server:
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(sim, sleeps):
    clients: list[GraphClient] = []

    def make(**kwargs) -> GraphClient:
        options = {
            "token": TOKEN,
            "base_url": sim.url,
            "version": "v24.0",
            "timeout": 5.0,
            "max_retries": 3,
            "max_backoff": 30.0,
            "sleep": sleeps.append,
            "rng": RecordingRng(),
        }
        options.update(kwargs)
        client = GraphClient(**options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client) -> GraphClient:
    return make_client()


class Receiver:
    """A webhook endpoint on loopback recording raw bodies and headers."""

    def __init__(self) -> None:
        self.requests: list[tuple[bytes, dict[str, str]]] = []
        self.statuses: list[int] = []  # answered in order, then 200
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append((raw, dict(self.headers)))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/meta"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,))

    def bodies(self) -> list[dict]:
        return [json.loads(raw) for raw, _ in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    recv = Receiver()
    recv.thread.start()
    yield recv
    recv.server.shutdown()
    recv.server.server_close()
    recv.thread.join(timeout=5)
