"""The simulator's HTTP face: Graph API endpoints, the `/_sim/` control API, webhook delivery
and the real-time clock. See the package docstring for the whole picture."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from portal.meta import signatures
from portal.meta.simulator import payloads
from portal.meta.simulator.engine import Simulator

logger = logging.getLogger(__name__)

SYNC_DELIVERY_ATTEMPTS = 3
BACKGROUND_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)  # after the first attempt
TICK_SECONDS = 0.1


def _encode(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections, as with Meta
    disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK stall
    server_version = "MetaSimulator/1"
    sim: SimulatorServer  # set on the subclass made per server
    clock = staticmethod(time.monotonic)  # the latency's clock and sleep (tests replace them)
    sleep = staticmethod(time.sleep)

    def log_message(self, format: str, *args: Any) -> None:  # quiet; the engine logs requests
        logger.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        content_type = self.headers.get("Content-Type", "")
        if "octet-stream" in content_type or content_type.startswith(("image/", "video/")):
            return raw  # a Resumable Upload's bytes
        if "json" in content_type:
            try:
                return json.loads(raw)
            except ValueError:
                return None
        # Graph also takes form fields; JSON-looking values (components) are decoded.
        form: dict[str, Any] = {}
        for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
            try:
                form[key] = json.loads(value) if value[:1] in "[{" else value
            except ValueError:
                form[key] = value
        return form

    def _send(self, status: int, headers: dict[str, str], data: Any) -> None:
        self._send_body(status, headers, _encode(data))

    def _send_body(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        body = self._read_body()
        if split.path.startswith("/_sim/"):
            self._control(method, split.path, body)
            return
        auth = self.headers.get("Authorization", "")
        scheme, _, credential = auth.partition(" ")
        # Bearer everywhere; the Resumable Upload's write step uses the OAuth scheme.
        token = (
            credential.strip()
            if scheme.lower() in ("bearer", "oauth")
            else query.pop("access_token", None)
        )
        if "file_offset" in self.headers:
            query["file_offset"] = self.headers["file_offset"]
        query.pop("access_token", None)
        with self.sim.engine.call_in_flight():
            # The configured latency is Meta's response time: the simulator's own work counts
            # towards it instead of adding to it.
            answer_at = self.clock() + self.sim.engine.latency_ms / 1000.0
            status, headers, data, webhooks, fault = self.sim.engine.handle(
                method, split.path, query, body, token
            )
            payload = _encode(data)
            self.sleep(max(0.0, answer_at - self.clock()))
            self.sim.deliver_in_background(webhooks)
            if fault is not None and fault["kind"] == "drop":
                self.close_connection = True
                return
            if fault is not None and fault["kind"] == "timeout":
                self.sleep(float(fault.get("delay", 5.0)))
        # Counted out before the answer leaves: a client that calls again as soon as it has it
        # must not find this call still counted.
        self._send_body(status, headers, payload)

    def _control(self, method: str, path: str, body: Any) -> None:
        sim = self.sim
        try:
            if method == "GET" and path == "/_sim/state":
                self._send(200, {}, sim.engine.snapshot())
            elif method == "POST" and path == "/_sim/events":
                events = body if isinstance(body, list) else body.get("events", [body])
                produced: list[dict] = []
                for event in events:
                    produced.extend(sim.engine.apply(event))
                sim.deliver_in_background(produced)
                self._send(200, {}, {"webhooks": produced})
            elif method == "POST" and path == "/_sim/advance":
                produced = sim.engine.advance(float(body.get("seconds", 0)))
                sim.deliver_in_background(produced)
                self._send(200, {}, {"webhooks": produced, "now": sim.engine.now})
            elif method == "POST" and path == "/_sim/config":
                sim.configure(latency_ms=body.get("latency_ms"), errors=body.get("errors"))
                self._send(200, {}, {"ok": True})
            else:
                self._send(404, {}, {"error": f"unknown control endpoint {method} {path}"})
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self._send(400, {}, {"error": f"{type(exc).__name__}: {exc}"})


class SimulatorServer:
    """The Meta simulator on loopback. Use as a context manager, or `start()` / `stop()`.

    `realtime` (default: `time_scale > 1`) runs the clock from a background thread at
    `time_scale` simulated seconds per real second, so timers fire by themselves (demo); tests
    leave it off and move the clock with `advance()`.
    """

    def __init__(
        self,
        scenario: dict | str | Path,
        *,
        latency_ms: float = 0,
        webhook_url: str | None = None,
        app_secret: str | None = None,
        time_scale: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        realtime: bool | None = None,
    ) -> None:
        self.engine = Simulator(scenario if isinstance(scenario, dict) else str(scenario))
        self.engine.configure(latency_ms=latency_ms)
        self.webhook_url = webhook_url
        self.app_secret = app_secret
        self.time_scale = float(time_scale)
        self.realtime = self.time_scale > 1 if realtime is None else realtime
        handler = type("Handler", (_Handler,), {"sim": self})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self.host = host
        self.port = self._httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self.engine.public_url = self.url
        self.deliveries: list[dict] = []  # {field, status, attempts, body, signature}
        self._deliveries_lock = threading.Lock()
        self._outbox: queue.Queue[dict | None] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._http: httpx.Client | None = None
        self._started = False

    # --- lifecycle ---

    def start(self) -> SimulatorServer:
        if self._started:
            return self
        self._started = True
        if self.webhook_url:
            self._http = httpx.Client(timeout=10.0)
        self._spawn(self._httpd.serve_forever, "meta-sim-http", 0.05)
        self._spawn(self._delivery_loop, "meta-sim-webhooks")
        if self.realtime:
            self._spawn(self._tick_loop, "meta-sim-clock")
        return self

    def _spawn(self, target: Any, name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        if not self._started:
            self._httpd.server_close()
            return
        self._stop.set()
        self._outbox.put(None)
        self._httpd.shutdown()
        self._httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._http is not None:
            self._http.close()
        self._started = False

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- the in-process API ---

    @property
    def state(self) -> Simulator:
        """The live state: `.wabas`, `.numbers`, `.templates`, `.request_log`, `.calls`,
        `.webhooks`, `.now`, `.pending_timers()`, `.snapshot()`."""
        return self.engine

    @property
    def calls(self) -> int:
        return self.engine.calls

    @property
    def now(self) -> float:
        return self.engine.now

    def apply(self, event: dict) -> list[dict]:
        """Apply one event now; its webhook envelopes, delivered synchronously if configured."""
        produced = self.engine.apply(event)
        self.deliver_now(produced)
        return produced

    def advance(self, seconds: float) -> list[dict]:
        """Move the simulated clock; the webhooks of the timers that fired, delivered now."""
        produced = self.engine.advance(seconds)
        self.deliver_now(produced)
        return produced

    def configure(self, latency_ms: float | None = None, errors: dict | None = None) -> None:
        self.engine.configure(latency_ms=latency_ms, errors=errors)

    # --- webhook delivery ---

    def _post(self, envelope: dict) -> tuple[int | None, bytes, str | None]:
        body = payloads.encode(envelope)
        headers = {"Content-Type": "application/json"}
        signature = None
        if self.app_secret:
            signature = signatures.sign(body, self.app_secret)
            headers[signatures.HEADER] = signature
        client = self._http or httpx.Client(timeout=10.0)
        try:
            response = client.post(self.webhook_url or "", content=body, headers=headers)
            status: int | None = response.status_code
        except httpx.HTTPError as exc:
            logger.warning("webhook delivery to %s failed: %s", self.webhook_url, exc)
            status = None
        finally:
            if client is not self._http:
                client.close()
        return status, body, signature

    def _record(self, envelope: dict, status: int | None, attempts: int, body: bytes, sig: Any):
        field = envelope["entry"][0]["changes"][0]["field"]
        with self._deliveries_lock:
            self.deliveries.append(
                {
                    "field": field,
                    "status": status,
                    "attempts": attempts,
                    "body": body,
                    "signature": sig,
                }
            )

    def deliver_now(self, envelopes: list[dict]) -> None:
        """POST each envelope now, in order (a few immediate retries on non-200)."""
        if not self.webhook_url:
            return
        for envelope in envelopes:
            attempts = 0
            while attempts < SYNC_DELIVERY_ATTEMPTS:
                attempts += 1
                status, body, signature = self._post(envelope)
                if status == 200:
                    break
            self._record(envelope, status, attempts, body, signature)

    def deliver_in_background(self, envelopes: list[dict]) -> None:
        if self.webhook_url:
            for envelope in envelopes:
                self._outbox.put(envelope)

    def _delivery_loop(self) -> None:
        while True:
            envelope = self._outbox.get()
            if envelope is None:
                return
            attempts = 0
            for delay in (0.0, *BACKGROUND_RETRY_DELAYS):
                if delay and self._stop.wait(delay):
                    break
                attempts += 1
                status, body, signature = self._post(envelope)
                if status == 200:
                    break
            self._record(envelope, status, attempts, body, signature)

    def _tick_loop(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(TICK_SECONDS):
            current = time.monotonic()
            produced = self.engine.advance((current - last) * self.time_scale)
            last = current
            self.deliver_in_background(produced)
