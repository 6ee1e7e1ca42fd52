"""Sending outbox rows to receivers: signed as Standard Webhooks says, concurrently, with a short
timeout and no redirects; failures retried with exponential backoff and jitter for
WEBHOOK_RETRY_HOURS, then given up; an endpoint failing that long is disabled."""

from __future__ import annotations

import json
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from integrations.choices import DeliveryState, EndpointState
from integrations.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from integrations.secrets import secret_decrypt
from integrations.urlsafety import UnsafeUrl, url_check

log = logging.getLogger(__name__)

EXCERPT_CHARS = 1000
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


def _attempt(http: httpx.Client, delivery: WebhookDelivery, secrets: list[str]) -> Outcome:
    at = timezone.now()
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    headers = sign_headers(message_id=delivery.message_id, body=body, secrets=secrets, at=at)
    outcome = Outcome(delivery=delivery, attempted_at=at, headers=headers)
    started = time.perf_counter()
    try:
        url_check(delivery.endpoint.url)
        response = http.post(delivery.endpoint.url, content=body, headers=headers)
        outcome.status = response.status_code
        outcome.excerpt = response.text[:EXCERPT_CHARS]
        if 300 <= response.status_code < 400:
            outcome.error = "Redirects are not followed."
    except UnsafeUrl as exc:
        outcome.error = str(exc)[:300]
    except httpx.TimeoutException:
        outcome.error = f"No answer within {settings.WEBHOOK_TIMEOUT_SECONDS:g} s."
    except httpx.HTTPError as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"[:300]
    outcome.latency_ms = int((time.perf_counter() - started) * 1000)
    return outcome


SEND_BATCH = 500


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
    timeout = httpx.Timeout(settings.WEBHOOK_TIMEOUT_SECONDS)
    with (
        httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as http,
        ThreadPoolExecutor(
            max_workers=min(settings.WEBHOOK_SEND_CONCURRENCY, len(claimed))
        ) as pool,
    ):
        outcomes = list(pool.map(lambda d: _attempt(http, d, secrets[d.endpoint_id]), claimed))
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


def _deliveries_save(deliveries: list[WebhookDelivery]) -> None:
    """One UPDATE per row, pipelined (psycopg's executemany): much cheaper than bulk_update's
    CASE over every row for each of ten columns."""
    table = connection.ops.quote_name(WebhookDelivery._meta.db_table)
    columns = ", ".join(f"{connection.ops.quote_name(f)} = %s" for f in SAVED_FIELDS)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET {columns} WHERE id = %s",  # noqa: S608 - names are ours
            [(*(getattr(d, f) for f in SAVED_FIELDS), d.pk) for d in deliveries],
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
        _deliveries_save([o.delivery for o in outcomes])
        WebhookAttempt.objects.bulk_create(
            [
                WebhookAttempt(
                    delivery=o.delivery,
                    attempted_at=o.attempted_at,
                    request_headers={
                        k: v for k, v in o.headers.items() if k != "webhook-signature"
                    },
                    response_status=o.status,
                    response_excerpt=o.excerpt,
                    latency_ms=o.latency_ms,
                    error=o.error,
                )
                for o in outcomes
            ]
        )
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
