"""Sending outbox rows to receivers: signed as Standard Webhooks says, concurrently, with a short
timeout and no redirects; failures retried with exponential backoff and jitter for
WEBHOOK_RETRY_HOURS, then given up; an endpoint failing that long is disabled."""

from __future__ import annotations

import http.client
import json
import logging
import random
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from integrations.choices import DeliveryState, EndpointState
from integrations.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from integrations.secrets import secret_decrypt
from integrations.urlsafety import UnsafeUrl, url_check
from portal.bulk import json_rows

log = logging.getLogger(__name__)

EXCERPT_CHARS = 1000
# One TLS context (httpx's: certifi's roots) for every connection: building one per connection
# loads the CA bundle each time.
_TLS = httpx.create_ssl_context(trust_env=False)
USER_AGENT = "bsp-portal-webhooks/1"


@dataclass
class Outcome:
    delivery: WebhookDelivery
    attempted_at: datetime
    headers: dict
    status: int | None = None
    excerpt: str = ""
    latency_ms: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def signing_secrets(endpoint: WebhookEndpoint, *, now: datetime) -> list[str]:
    """The current secret, and the previous one during its overlap period."""
    found = [secret_decrypt(endpoint.secret_encrypted)]
    if (
        endpoint.previous_secret_encrypted
        and endpoint.previous_secret_expires_at
        and endpoint.previous_secret_expires_at > now
    ):
        found.append(secret_decrypt(endpoint.previous_secret_encrypted))
    return found


def sign_headers(*, message_id: str, body: bytes, secrets: list[str], at: datetime) -> dict:
    signature = " ".join(Webhook(s).sign(message_id, at, body) for s in secrets)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def backoff_seconds(attempts: int) -> float:
    """After the n-th failed attempt: 5 s, 10 s, 20 s, … up to 6 h, each ±25 % at random."""
    base = min(5 * 2 ** (attempts - 1), 6 * 3600)
    return base * random.uniform(0.75, 1.25)  # noqa: S311 - jitter, not security


def _claim(ids, limit: int) -> list[WebhookDelivery]:
    now = timezone.now()
    lease = timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS * 2 + 30)
    with transaction.atomic():
        due = WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            state=DeliveryState.PENDING,
            next_attempt_at__lte=now,
            endpoint__state=EndpointState.ACTIVE,
        )
        if ids is not None:
            due = due.filter(pk__in=list(ids))
        claimed = list(due.select_related("endpoint").order_by("next_attempt_at", "id")[:limit])
        if claimed:
            WebhookDelivery.objects.filter(pk__in=[d.pk for d in claimed]).update(
                next_attempt_at=now + lease
            )
    return claimed


# A receiver's answer is read to this size at most (the excerpt is kept); past it, or when the
# receiver asks, the connection is closed instead of reused.
ANSWER_BYTES = 64 * 1024


class Lane:
    """One keep-alive HTTP/1.1 connection (the standard library's: a fraction of httpx's cost
    per request, which was half of a sender's CPU), reopened after any failure. Redirects are
    never followed; each socket operation waits WEBHOOK_TIMEOUT_SECONDS at most."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.origin: tuple | None = None
        self.conn: http.client.HTTPConnection | None = None

    def post(self, url: str, body: bytes, headers: dict) -> tuple[int, str]:
        parts = urlsplit(url)
        origin = (parts.scheme, parts.hostname, parts.port)
        reused = self.conn is not None and origin == self.origin
        if not reused:
            self.close()
            self.conn, self.origin = self._connect(parts), origin
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            self.conn.request("POST", path, body=body, headers=headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.close()
            if not reused:
                raise
            # The receiver closed the idle connection before this request reached it: once more
            # on a new one, as HTTP clients do.
            return self.post(url, body, headers)
        except BaseException:
            self.close()
            raise
        try:
            answer = response.read(ANSWER_BYTES)
        except BaseException:
            self.close()
            raise
        if response.will_close or not response.isclosed():
            self.close()
        charset = response.headers.get_content_charset() or "utf-8"
        try:
            text = answer[: EXCERPT_CHARS * 4].decode(charset, errors="replace")
        except LookupError:
            text = answer[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
        return response.status, text[:EXCERPT_CHARS].replace("\x00", "\ufffd")

    def _connect(self, parts) -> http.client.HTTPConnection:
        if parts.scheme == "https":
            return http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=self.timeout, context=_TLS
            )
        return http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.timeout)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _attempt(lane: Lane, delivery: WebhookDelivery, secrets: list[str]) -> Outcome:
    at = timezone.now()
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    headers = sign_headers(message_id=delivery.message_id, body=body, secrets=secrets, at=at)
    outcome = Outcome(delivery=delivery, attempted_at=at, headers=headers)
    started = time.perf_counter()
    try:
        url_check(delivery.endpoint.url)
        outcome.status, outcome.excerpt = lane.post(delivery.endpoint.url, body, headers)
        if 300 <= outcome.status < 400:
            outcome.error = "Redirects are not followed."
    except UnsafeUrl as exc:
        outcome.error = str(exc)[:300]
    except TimeoutError:
        outcome.error = f"No answer within {settings.WEBHOOK_TIMEOUT_SECONDS:g} s."
    except (OSError, http.client.HTTPException, ValueError) as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"[:300]
    outcome.latency_ms = int((time.perf_counter() - started) * 1000)
    return outcome


SEND_BATCH = 500


def send_lanes(claimed: list[WebhookDelivery], concurrency: int) -> list[list[WebhookDelivery]]:
    """The batch in lanes, each sent in order over one keep-alive connection of its own.

    The concurrency is shared among the batch's endpoints (at least one lane each), so a slow
    receiver holds only its own lanes. Lanes own their connection: threads sharing one client's
    pool spent more time waiting on its lock than sending (over half the sender's samples)."""
    by_endpoint: dict[int, list[WebhookDelivery]] = defaultdict(list)
    for delivery in claimed:
        by_endpoint[delivery.endpoint_id].append(delivery)
    per_endpoint = max(1, concurrency // max(1, len(by_endpoint)))
    lanes = []
    for deliveries in by_endpoint.values():
        count = min(per_endpoint, len(deliveries))
        lanes += [deliveries[i::count] for i in range(count)]
    return lanes


def deliveries_send(*, ids=None, limit: int = SEND_BATCH) -> int:
    """Send the given (or every due) delivery of this schema once; returns how many were tried."""
    claimed = _claim(ids, limit)
    if not claimed:
        return 0
    now = timezone.now()
    secrets = {}
    for d in claimed:
        if d.endpoint_id not in secrets:
            secrets[d.endpoint_id] = signing_secrets(d.endpoint, now=now)
    lanes = send_lanes(claimed, settings.WEBHOOK_SEND_CONCURRENCY)

    def send_lane(deliveries: list[WebhookDelivery]) -> list[Outcome]:
        lane = Lane(settings.WEBHOOK_TIMEOUT_SECONDS)
        try:
            return [_attempt(lane, d, secrets[d.endpoint_id]) for d in deliveries]
        finally:
            lane.close()

    with ThreadPoolExecutor(max_workers=min(settings.WEBHOOK_SEND_CONCURRENCY, len(lanes))) as pool:
        outcomes = [outcome for sent in pool.map(send_lane, lanes) for outcome in sent]
    _record(outcomes)
    return len(outcomes)


SAVED_FIELDS = (
    "attempts",
    "first_attempt_at",
    "last_attempt_at",
    "response_status",
    "response_excerpt",
    "latency_ms",
    "error",
    "state",
    "delivered_at",
    "next_attempt_at",
)


_DELIVERIES = WebhookDelivery._meta.db_table
_ATTEMPTS = WebhookAttempt._meta.db_table


def _deliveries_save(outcomes: list[Outcome]) -> None:
    """The batch's deliveries and attempts in two statements, each from one JSON parameter:
    per-row UPDATEs and model instances for the attempt log were a third of a sender's CPU."""
    deliveries = [
        {f: getattr(o.delivery, f) for f in SAVED_FIELDS} | {"id": o.delivery.pk} for o in outcomes
    ]
    attempts = [
        {
            "delivery": o.delivery.pk,
            "at": o.attempted_at,
            "headers": {k: v for k, v in o.headers.items() if k != "webhook-signature"},
            "status": o.status,
            "excerpt": o.excerpt,
            "latency": o.latency_ms,
            "error": o.error,
        }
        for o in outcomes
    ]
    columns = ", ".join(f"{f} = r.{f}" for f in SAVED_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_DELIVERIES} d SET {columns} FROM jsonb_to_recordset(%s::jsonb) AS r("  # noqa: S608
            "id bigint, attempts integer, first_attempt_at timestamptz,"
            " last_attempt_at timestamptz, response_status integer, response_excerpt text,"
            " latency_ms integer, error text, state text, delivered_at timestamptz,"
            " next_attempt_at timestamptz) WHERE d.id = r.id",
            [json_rows(deliveries)],
        )
        cursor.execute(
            f"INSERT INTO {_ATTEMPTS} (delivery_id, attempted_at, request_headers,"  # noqa: S608
            " response_status, response_excerpt, latency_ms, error)"
            " SELECT r.delivery, r.at, r.headers, r.status, r.excerpt, r.latency, r.error"
            " FROM jsonb_to_recordset(%s::jsonb) AS r(delivery bigint, at timestamptz,"
            " headers jsonb, status integer, excerpt text, latency integer, error text)",
            [json_rows(attempts)],
        )


def _record(outcomes: list[Outcome]) -> None:
    from integrations.services import endpoint_disable

    now = timezone.now()
    give_up_after = timedelta(hours=settings.WEBHOOK_RETRY_HOURS)
    succeeded, failed = set(), {}
    with transaction.atomic():
        for o in outcomes:
            d = o.delivery
            d.attempts += 1
            d.first_attempt_at = d.first_attempt_at or o.attempted_at
            d.last_attempt_at = o.attempted_at
            d.response_status = o.status
            d.response_excerpt = o.excerpt
            d.latency_ms = o.latency_ms
            d.error = o.error
            if o.ok:
                d.state = DeliveryState.DELIVERED
                d.delivered_at = now
                d.next_attempt_at = None
                succeeded.add(d.endpoint_id)
            else:
                retry_at = now + timedelta(seconds=backoff_seconds(d.attempts))
                if retry_at - d.created_at > give_up_after:
                    d.state = DeliveryState.FAILED
                    d.next_attempt_at = None
                else:
                    d.next_attempt_at = retry_at
                failed[d.endpoint_id] = d.endpoint
        _deliveries_save(outcomes)
        if succeeded:
            WebhookEndpoint.objects.filter(pk__in=succeeded, failing_since__isnull=False).update(
                failing_since=None
            )
        for endpoint_id, endpoint in failed.items():
            if endpoint_id in succeeded:
                continue
            WebhookEndpoint.objects.filter(pk=endpoint_id, failing_since__isnull=True).update(
                failing_since=now
            )
            since = (
                WebhookEndpoint.objects.filter(pk=endpoint_id)
                .values_list("failing_since", flat=True)
                .first()
            )
            if since is not None and now - since >= give_up_after:
                endpoint_disable(endpoint=endpoint, reason="failing")
