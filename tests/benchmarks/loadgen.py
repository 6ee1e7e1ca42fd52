"""A small closed-loop HTTP load generator: client processes, one keep-alive connection each.

Standard library only (it runs in spawned processes that never import Django). Every process
builds its requests before the start barrier, so the timed loop only sends, reads and records;
its CPU time is reported so the caller can show the client was not the bottleneck.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import socket
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Phase:
    name: str
    kind: str  # "get" or "webhook"
    per_client: int
    path: str
    host: str
    app_secret: str = ""
    run_id: str = ""
    # Sent with every request of the phase (a session cookie, for pages behind a sign-in).
    headers: dict[str, str] = field(default_factory=dict)
    # Open a new connection after this many requests: gunicorn hands a keep-alive connection to
    # one worker for its whole life, so a few everlasting connections can leave one worker (one
    # core) idle while the other queues; renewing them spreads the load as many senders would.
    requests_per_connection: int = 20


@dataclass
class PhaseResult:
    name: str
    started: list[float] = field(default_factory=list)
    finished: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    client_cpu: float = 0.0

    @property
    def wall(self) -> float:
        return max(self.finished) - min(self.started)

    @property
    def accepted(self) -> int:
        return self.statuses.get(200, 0)


def webhook_body(run_id: str, phase: str, client: int, seq: int) -> bytes:
    """A Meta `messages` status delivery, unique per (run, phase, client, seq)."""
    now = int(time.time())
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "3999999999",
                "time": now,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550100001",
                                "phone_number_id": "4999999900",
                            },
                            "statuses": [
                                {
                                    "id": f"wamid.bench-{run_id}-{phase}-{client}-{seq}",
                                    "status": "delivered",
                                    "timestamp": str(now),
                                    "recipient_id": "15550109999",
                                    "conversation": {
                                        "id": f"conv-{run_id}-{client}",
                                        "origin": {"type": "utility"},
                                    },
                                    "pricing": {
                                        "billable": True,
                                        "pricing_model": "PMP",
                                        "category": "utility",
                                    },
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def _requests(phase: Phase, client: int) -> list[tuple[str, str, bytes | None, dict[str, str]]]:
    from portal.meta.signatures import HEADER, sign  # stdlib only (hmac, hashlib)

    requests = []
    for seq in range(phase.per_client):
        if phase.kind == "get":
            requests.append(("GET", phase.path, None, {"Host": phase.host, **phase.headers}))
        else:
            body = webhook_body(phase.run_id, phase.name, client, seq)
            headers = {
                "Host": phase.host,
                "Content-Type": "application/json",
                HEADER: sign(body, phase.app_secret),
            }
            requests.append(("POST", phase.path, body, headers))
    return requests


def _connect(port: int) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def _client(index: int, port: int, phases: list[Phase], barrier: Any, out: Any) -> None:
    for phase in phases:
        requests = _requests(phase, index)
        conn = _connect(port)
        barrier.wait(120)
        result = PhaseResult(phase.name)
        cpu = time.process_time()
        result.started.append(time.monotonic())
        for seq, (method, path, body, headers) in enumerate(requests):
            if seq and seq % phase.requests_per_connection == 0:
                conn.close()
                conn = _connect(port)
            sent = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.will_close:
                    conn.close()
                    conn = _connect(port)
            except (OSError, http.client.HTTPException):
                status = -1
                conn.close()
                conn = _connect(port)
            result.latencies.append(time.perf_counter() - sent)
            result.statuses[status] = result.statuses.get(status, 0) + 1
        result.finished.append(time.monotonic())
        result.client_cpu = time.process_time() - cpu
        conn.close()
        out.put(result)


class LoadGenerator:
    """`clients` processes run `phases` in order; each phase starts on a common barrier that the
    caller also passes (`run_phase`), so it can sample server CPU exactly around each phase."""

    def __init__(self, *, port: int, clients: int, phases: list[Phase]):
        ctx = multiprocessing.get_context("spawn")  # no inherited database or broker sockets
        self.phases = phases
        self.clients = clients
        self.barrier = ctx.Barrier(clients + 1)
        self.out = ctx.Queue()
        self.procs = [
            ctx.Process(target=_client, args=(i, port, phases, self.barrier, self.out), daemon=True)
            for i in range(clients)
        ]

    def __enter__(self) -> LoadGenerator:
        for proc in self.procs:
            proc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.barrier.abort()
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)

    def run_phase(self, timeout: float = 300) -> PhaseResult:
        """Release the next phase and wait for every client's result."""
        self.barrier.wait(120)
        merged: PhaseResult | None = None
        for _ in range(self.clients):
            part: PhaseResult = self.out.get(timeout=timeout)
            if merged is None:
                merged = PhaseResult(part.name)
            merged.started += part.started
            merged.finished += part.finished
            merged.latencies += part.latencies
            merged.client_cpu += part.client_cpu
            for status, count in part.statuses.items():
                merged.statuses[status] = merged.statuses.get(status, 0) + count
        assert merged is not None
        return merged
