"""The webhook drain keeps up with the intake (issue 12), and poison costs nothing.

- 100 clients, each with a WABA and a number. 20,000 distinct signed deliveries: 80 % message
  statuses batched as Meta batches them (1 to 20 statuses a delivery), 20 % account, number and
  template changes; fired at gunicorn (`deploy/gunicorn.conf.py`, 2 x 4 gthread) by 4 sender
  processes (connections renewed every 20 requests) while one Celery worker (prefork, 2
  processes) drains. Intake rate = deliveries / (last answer - first request); drain rate =
  deliveries / (last delivery processed - first received), both from the same run. That ratio
  stays under 1.0 for any drain that works after the answer (the last delivery is processed after
  the last answer), and a drain that falls behind while the intake runs hides in it when it works
  off its backlog fast once the intake stops and leaves it the machine. So the run also counts,
  in one interval (the middle half of the intake), deliveries processed against deliveries
  received, and gives the lag (received to processed) per quarter of the intake: a drain that
  keeps up holds it level.
- Exactly once, counted: every status is one ledger row, every change applied once, nothing
  pending, failed or rejected.
- Poison: 1,000 good status deliveries alone, then 1,000 others with 50 poison deliveries among
  them (bad JSON, wrong object, 10,000-deep nesting, NUL strings, over-long ids); p99 of the good
  ones' time from received to applied, with poison ÷ without.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import random
import secrets
import shutil
import socket
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from tests.benchmarks.harness import percentile
from tests.benchmarks.procs import (
    PYTHON,
    BenchFailure,
    Children,
    free_port,
    gunicorn_ready,
    wait_until,
)
from tests.broker import queue_delete

CLIENTS = 100
DELIVERIES = int(os.environ.get("BENCH_DRAIN_DELIVERIES") or 20_000)
SENDERS = 4
WORKER_PROCESSES = 2
POISON_GOOD, POISON_BAD = 1_000, 50
TARGET_DRAIN = 1.0
TARGET_POISON = 2.0
WABA_BASE, PHONE_BASE = 7_100_000_000, 7_200_000_000


def _env(*, port: int, queue: str, app_secret: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings.base",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        META_APP_SECRET=app_secret,
        SECURE_COOKIES="false",
        SECURE_SSL_REDIRECT="false",
        CELERY_TASK_DEFAULT_QUEUE=queue,
        PORT=str(port),
        WEB_CONCURRENCY="2",
        GUNICORN_THREADS="4",
        GUNICORN_MAX_REQUESTS="0",
        LOG_LEVEL="WARNING",
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
    )
    return env


def _provision() -> list[tuple[str, str]]:
    """100 clients with a WABA and a number each; returns (waba id, phone number id)."""
    from django_tenants.utils import schema_context

    from compliance.models import PhoneNumber
    from compliance.services import account_link, number_routes_ensure
    from tenants.services import client_create

    assets = []
    for c in range(CLIENTS):
        client = client_create(name=f"Drain {c}", slug=f"drain-{c}", owner_email=f"o{c}@d.example")
        waba, phone = str(WABA_BASE + c), str(PHONE_BASE + c)
        account = account_link(client=client, waba_id=waba, name=f"Drain {c}")
        with schema_context(client.schema_name):
            number = PhoneNumber.objects.create(
                account=account,
                meta_id=phone,
                display_phone_number=f"+1 555 01{c:02d} 000",
                status="connected",
                quality="high",
                messaging_limit="tier_10k",
            )
        number_routes_ensure(numbers=[number], client=client)
        assets.append((waba, phone))
    return assets


def _deliveries(
    assets, count: int, run: str, rng: random.Random, status_share: float = 0.8
) -> tuple[list[bytes], int, int]:
    """Bodies, the statuses among them, the other changes among them."""
    bodies, statuses, others = [], 0, 0
    now = int(time.time())
    for i in range(count):
        waba, phone = assets[i % len(assets)]
        if rng.random() < status_share:
            n = rng.randint(1, 20)
            statuses += n
            value = {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550100000", "phone_number_id": phone},
                "statuses": [
                    {
                        "id": f"wamid.{run}.{i}.{k}",
                        "status": rng.choice(["sent", "delivered", "read"]),
                        "timestamp": str(now - rng.randint(0, 3600)),
                        "recipient_id": f"4479{rng.randint(0, 10**7):07d}",
                        "pricing": {"category": "utility", "type": "regular"},
                    }
                    for k in range(n)
                ],
            }
            entry = {"id": waba, "changes": [{"field": "messages", "value": value}]}
        else:
            others += 1
            kind = i % 3
            if kind == 0:
                change = {"field": "account_review_update", "value": {"decision": "APPROVED"}}
            elif kind == 1:
                tier = rng.choice(["TIER_10K", "TIER_100K"])
                change = {
                    "field": "phone_number_quality_update",
                    "value": {
                        "display_phone_number": "15550100000",
                        "event": "UPGRADE",
                        "max_daily_conversations_per_business": tier,
                    },
                }
            else:
                change = {
                    "field": "account_alerts",
                    "value": {
                        "entity_type": "BUSINESS",
                        "entity_id": waba,
                        "alert_info": {
                            "alert_severity": "INFORMATIONAL",
                            "alert_status": "ACTIVE",
                            "alert_type": "OBA_APPROVED",
                            "alert_description": f"run {run} item {i}",
                        },
                    },
                }
            entry = {"id": waba, "time": now - count + i, "changes": [change]}
        payload = {"object": "whatsapp_business_account", "entry": [entry]}
        bodies.append(json.dumps(payload, separators=(",", ":")).encode())
    return bodies, statuses, others


POISON_BODIES = [
    b"{not json",
    b'{"object":"page","entry":[]}',
    b'{"object":"whatsapp_business_account","entry":' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    b'{"object":"whatsapp_business_account","entry":[{"id":"1","changes":'
    b'[{"field":"messages","value":{"x":"\\u0000"}}]}]}',
    b'{"object":"whatsapp_business_account","entry":[{"id":"' + b"9" * 300 + b'","changes":[]}]}',
]


def _send(port: int, bodies: list[bytes], app_secret: str, host: str, out) -> None:
    from portal.meta.signatures import HEADER, sign

    signed = [(body, sign(body, app_secret)) for body in bodies]

    def connect():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    conn = connect()
    statuses: dict[int, int] = {}
    started = time.time()
    for seq, (body, signature) in enumerate(signed):
        if seq and seq % 20 == 0:  # spread over gunicorn's workers, as many senders would
            conn.close()
            conn = connect()
        headers = {"Host": host, "Content-Type": "application/json", HEADER: signature}
        try:
            conn.request("POST", "/webhooks/meta", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            status = -1
            conn.close()
            conn = connect()
        statuses[status] = statuses.get(status, 0) + 1
    out.put((started, time.time(), statuses))
    conn.close()


def _fire(port: int, bodies: list[bytes], app_secret: str) -> tuple[float, float, dict]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    host = os.environ.get("PORTAL_DOMAIN", "localhost")
    shares = [bodies[i::SENDERS] for i in range(SENDERS)]
    procs = [
        ctx.Process(target=_send, args=(port, share, app_secret, host, out), daemon=True)
        for share in shares
    ]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=900) for _ in procs]
    for proc in procs:
        proc.join(10)
    statuses: dict[int, int] = {}
    for _, _, part in results:
        for status, n in part.items():
            statuses[status] = statuses.get(status, 0) + n
    return min(r[0] for r in results), max(r[1] for r in results), statuses


def _drained(expected: int) -> bool:
    from portal.meta.models import DeliveryState, WebhookDelivery

    done = WebhookDelivery.objects.filter(
        state__in=[DeliveryState.PROCESSED, DeliveryState.REJECTED]
    ).count()
    return done >= expected


def _drain_window(since) -> tuple[float, int]:
    from django.db.models import Max, Min

    from portal.meta.models import WebhookDelivery

    window = WebhookDelivery.objects.filter(received_at__gte=since).aggregate(
        first=Min("received_at"), last=Max("processed_at")
    )
    count = WebhookDelivery.objects.filter(received_at__gte=since).count()
    return (window["last"] - window["first"]).total_seconds(), count


@dataclass(frozen=True)
class Flow:
    """How the drain followed the intake while it ran (from each delivery's received and
    processed times)."""

    steady_ratio: float  # drained ÷ received in the middle half of the intake
    lag_p50: list[float]  # seconds received → processed, per quarter of the intake
    waiting: int  # received but not yet processed at the intake's last answer


def _flow(since, first: float, last: float) -> Flow:
    """Rates in the same interval: the deliveries processed and received between 25 % and 75 %
    of the intake (both rates of one interval; the start, while the drain's first run begins,
    and the end, while it works off what is in hand, left out)."""
    from datetime import UTC, datetime

    from django.db.models import F

    from portal.meta.models import WebhookDelivery

    def at(share: float) -> datetime:
        return datetime.fromtimestamp(first + share * (last - first), tz=UTC)

    rows = WebhookDelivery.objects.filter(received_at__gte=since)
    start, stop, end = at(0.25), at(0.75), at(1.0)
    received = rows.filter(received_at__gt=start, received_at__lte=stop).count()
    drained = rows.filter(processed_at__gt=start, processed_at__lte=stop).count()
    quarters: list[list[float]] = [[], [], [], []]
    timed = rows.annotate(lag=F("processed_at") - F("received_at")).values_list(
        "received_at", "lag"
    )
    for received_at, lag in timed:
        share = (received_at.timestamp() - first) / (last - first)
        quarters[min(3, max(0, int(4 * share)))].append(lag.total_seconds())
    waiting = rows.filter(received_at__lte=end, processed_at__gt=end).count()
    return Flow(
        steady_ratio=drained / received if received else 0.0,
        lag_p50=[percentile(q, 50) if q else 0.0 for q in quarters],
        waiting=waiting,
    )


def _queued(queue: str) -> int:
    """Drain runs waiting on the broker (wake-ups published and not yet taken by the worker)."""
    from django.conf import settings
    from kombu import Connection

    with Connection(settings.CELERY_BROKER_URL) as conn:
        return conn.default_channel.queue_declare(queue=queue, passive=True).message_count


def _ledger_rows() -> int:
    from django.db import connection

    from tenants.selectors import clients_routable

    schemas = list(clients_routable().values_list("schema_name", flat=True))
    union = " UNION ALL ".join(
        f'SELECT count(*) AS n FROM "{schema}".compliance_messagestatus'  # noqa: S608
        for schema in schemas
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT sum(n) FROM ({union}) AS counts")  # noqa: S608
        return int(cursor.fetchone()[0] or 0)


def _time_to_applied(since) -> list[float]:
    from django.db.models import F

    from portal.meta.models import ChangeState, WebhookChange

    return [
        delta.total_seconds()
        for delta in WebhookChange.objects.filter(created_at__gte=since, state=ChangeState.APPLIED)
        .annotate(delay=F("applied_at") - F("delivery__received_at"))
        .values_list("delay", flat=True)
    ]


def run() -> list[tuple[str, str, str, str]]:
    from django.conf import settings
    from django.utils import timezone

    from portal.meta.models import ChangeState, WebhookChange

    run_id = uuid.uuid4().hex[:8]
    queue = f"bench-drain-{run_id}"
    app_secret = secrets.token_hex(16)
    rng = random.Random(20)
    assets = _provision()
    bodies, statuses, others = _deliveries(assets, DELIVERIES, run_id, rng)
    port = free_port()
    env = _env(port=port, queue=queue, app_secret=app_secret)
    with ExitStack() as cleanup:
        tmp = Path(tempfile.mkdtemp(prefix="bench-drain-"))
        cleanup.callback(shutil.rmtree, tmp, ignore_errors=True)
        cleanup.callback(queue_delete, queue)
        children = Children(tmp)
        cleanup.callback(children.stop_all)
        children.start(
            "gunicorn",
            [PYTHON, "-m", "gunicorn", "--config", "deploy/gunicorn.conf.py",
             "--bind", f"127.0.0.1:{port}", "portal.wsgi:application"],
            env,
        )  # fmt: skip
        children.start(
            "worker",
            [PYTHON, "-m", "celery", "-A", "portal", "worker", "-Q", queue,
             "-c", str(WORKER_PROCESSES), "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-l", "warning"],
            env,
        )  # fmt: skip

        wait_until(
            "gunicorn to answer /readyz", lambda: gunicorn_ready(port, children), 60, every=0.2
        )
        since = timezone.now()
        first, last, answers = _fire(port, bodies, app_secret)
        queued_at_end = _queued(queue)
        if answers.get(200, 0) != DELIVERIES:
            raise BenchFailure(f"intake answers {answers}\n" + children.log("gunicorn"))
        wait_until("the drain to finish", lambda: _drained(DELIVERIES), 900, every=0.5)
        drain_seconds, stored = _drain_window(since)
        intake_rate = DELIVERIES / (last - first)
        drain_rate = stored / drain_seconds
        flow = _flow(since, first, last)
        ledger = _ledger_rows()
        # Late: applied after a newer change of the same state (two workers, Meta's order).
        finished = [ChangeState.APPLIED, ChangeState.LATE]
        applied = WebhookChange.objects.filter(state__in=finished).count()
        left = WebhookChange.objects.exclude(state__in=finished).count()
        retried = WebhookChange.objects.filter(attempts__gt=1).count()

        # Poison: good deliveries alone, then others with poison among them.
        clean_since = timezone.now()
        good, _, _ = _deliveries(assets, POISON_GOOD, run_id + "c", rng, status_share=1.0)
        _fire(port, good, app_secret)
        wait_until("the clean run", lambda: _drained(DELIVERIES + POISON_GOOD), 300, every=0.3)
        clean = _time_to_applied(clean_since)
        poison_since = timezone.now()
        good, _, _ = _deliveries(assets, POISON_GOOD, run_id + "p", rng, status_share=1.0)
        poison = [
            POISON_BODIES[i % len(POISON_BODIES)] + b" " * (i // len(POISON_BODIES))
            for i in range(POISON_BAD)
        ]
        mixed = good[:]
        for i, body in enumerate(poison):
            mixed.insert(i * (len(good) // POISON_BAD), body)
        _fire(port, mixed, app_secret)
        total = DELIVERIES + 2 * POISON_GOOD + POISON_BAD
        wait_until("the poisoned run", lambda: _drained(total), 300, every=0.3)
        poisoned = _time_to_applied(poison_since)
    expected_changes = DELIVERIES  # one change a delivery, each distinct
    drain_ratio = drain_rate / intake_rate
    if not clean or not poisoned:
        raise BenchFailure(
            f"no applied changes to time: clean {len(clean)}, poisoned {len(poisoned)}"
        )
    clean_p99, poison_p99 = percentile(clean, 99), percentile(poisoned, 99)
    poison_ratio = poison_p99 / clean_p99 if clean_p99 else 0.0
    exact = ledger == statuses and applied == expected_changes and left == 0
    return [
        (
            f"drain: {DELIVERIES} deliveries ({statuses} statuses, {others} other changes), "
            f"{CLIENTS} clients",
            f"intake {intake_rate:.0f}/s, drain {drain_rate:.0f}/s",
            "—",
            "",
        ),
        (
            "drain: drain ÷ intake rate (same run)",
            f"{drain_ratio:.2f}",
            f"≥ {TARGET_DRAIN}",
            "yes" if drain_ratio >= TARGET_DRAIN else "NO",
            f"intake under gunicorn in the same run: {intake_rate:.0f} deliveries/s",
        ),
        (
            "drain: drained ÷ received in the middle half of the intake (same interval)",
            f"{flow.steady_ratio:.2f}",
            f"≥ {TARGET_DRAIN}",
            "yes" if flow.steady_ratio >= TARGET_DRAIN else "NO",
            f"deliveries received in that interval, at {intake_rate:.0f}/s on average",
        ),
        (
            "drain: lag received→processed, p50 per quarter of the intake; waiting at its end",
            " / ".join(f"{lag * 1000:.0f}" for lag in flow.lag_p50) + f" ms; {flow.waiting}",
            "—",
            "",
            f"the last answer came {drain_seconds - (last - first):.2f} s before the last "
            "delivery was processed",
        ),
        (
            "drain: drain runs waiting on the broker at the intake's end",
            str(queued_at_end),
            # One message per intake slot, and the retry timer's (a run ending while changes
            # another run holds are due plans one delayed run, which waits in the queue while
            # the worker has no room to take it).
            f"≤ {settings.META_WEBHOOK_DRAIN_RUNS + 1} (slots + the retry timer)",
            "yes" if queued_at_end <= settings.META_WEBHOOK_DRAIN_RUNS + 1 else "NO",
            f"{DELIVERIES} wake-up requests in {last - first:.1f} s; changes claimed more than "
            f"once (retried or released): {retried}",
        ),
        (
            "drain: effects exactly once (ledger rows, changes applied or late, left over)",
            f"{ledger}/{statuses}, {applied}/{expected_changes}, {left}",
            "equal, equal, 0",
            "yes" if exact else "NO",
        ),
        (
            f"drain: good p99 received→applied, {POISON_BAD} poison among {POISON_GOOD} ÷ none",
            f"{poison_p99 * 1000:.0f} / {clean_p99 * 1000:.0f} ms = {poison_ratio:.2f}",
            f"≤ {TARGET_POISON}",
            "yes" if poison_ratio <= TARGET_POISON else "NO",
            f"the same run's {POISON_GOOD} good deliveries without poison: p99 "
            f"{clean_p99 * 1000:.0f} ms",
        ),
    ]
