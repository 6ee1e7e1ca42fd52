"""Nothing lost, nothing doubled when processes die (issue 19), over 1,000 deliveries each.

On a Redis of its own (so stopping it disturbs nothing else), with gunicorn, a Celery worker
(prefork, 2 processes) and beat (its sweeper every 30 s), all with production settings:
- pool kills: 20 SIGKILLs of the worker's pool processes while it drains;
- main kill: the worker's main process SIGKILLed mid-drain, started again 5 s later; how long
  after its return until every change is applied (target ≤ 2 min);
- broker down: Redis stopped for 60 s while 1,000 deliveries arrive over HTTP; the intake's p99
  (target ≤ 250 ms) and every change applied after Redis returns;
- statement cancellations: 20 `pg_cancel_backend` of the worker's database sessions mid-drain;
  none may fail for good.
Counted every time: ledger rows equal the statuses sent (none lost, none twice), and no change is
left pending or failed.
"""

from __future__ import annotations

import http.client
import os
import random
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from tests.benchmarks import bench_webhook_drain as drain
from tests.benchmarks.harness import percentile
from tests.benchmarks.procs import (
    PYTHON,
    BenchFailure,
    Children,
    free_port,
    gunicorn_ready,
    wait_until,
)

DELIVERIES = 1_000
KILLS = 20
CANCELS = 20
BROKER_DOWN_SECONDS = 60
TARGET_RETURN_SECONDS = 120
TARGET_P99_MS = 250


def _store_all(bodies: list[bytes]) -> None:
    from portal.meta.services import webhook_delivery_store, webhook_processor_wake

    for body in bodies:
        webhook_delivery_store(body=body)
    webhook_processor_wake()


def _counts(since) -> tuple[int, int, int]:
    """(deliveries finished, changes left pending or failed, changes applied) since `since`."""
    from portal.meta.models import ChangeState, DeliveryState, WebhookChange, WebhookDelivery

    finished = WebhookDelivery.objects.filter(
        received_at__gte=since, state__in=[DeliveryState.PROCESSED, DeliveryState.REJECTED]
    ).count()
    changes = WebhookChange.objects.filter(created_at__gte=since)
    left = changes.exclude(state__in=[ChangeState.APPLIED, ChangeState.LATE]).count()
    return finished, left, changes.filter(state=ChangeState.APPLIED).count()


def _pool_pids(main_pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(main_pid)], capture_output=True, text=True, check=False
    ).stdout
    return [int(x) for x in out.split()]


def _worker_backends() -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND state = 'active'"
        )
        return [row[0] for row in cursor.fetchall()]


def _cancel(pid: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_cancel_backend(%s)", [pid])


def run() -> list[tuple[str, str, str, str]]:
    from django.utils import timezone

    rng = random.Random(19)
    run_id = uuid.uuid4().hex[:8]
    queue = f"bench-faults-{run_id}"
    app_secret = secrets.token_hex(16)
    assets = drain._provision()
    rows = []
    with ExitStack() as cleanup:
        tmp = Path(tempfile.mkdtemp(prefix="bench-faults-"))
        cleanup.callback(shutil.rmtree, tmp, ignore_errors=True)
        children = Children(tmp)
        cleanup.callback(children.stop_all)
        redis_port, web_port = free_port(), free_port()
        redis_cmd = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                     "--save", "", "--appendonly", "yes", "--dir", str(tmp)]  # fmt: skip
        children.start("redis", redis_cmd, dict(os.environ))
        broker = f"redis://127.0.0.1:{redis_port}/0"
        env = drain._env(port=web_port, queue=queue, app_secret=app_secret)
        env.update(CELERY_BROKER_URL=broker, CELERY_RESULT_BACKEND=broker)
        os.environ["CELERY_BROKER_URL"] = broker  # this process's own wake-ups
        from portal.celery import app

        app.conf.broker_url = broker
        worker_cmd = [PYTHON, "-m", "celery", "-A", "portal", "worker", "-Q", queue, "-c", "2",
                      "--without-gossip", "--without-mingle", "--without-heartbeat", "-l",
                      "warning"]  # fmt: skip
        worker = children.start("worker", worker_cmd, env)
        children.start(
            "beat",
            [PYTHON, "-m", "celery", "-A", "portal", "beat", "-l", "warning",
             "-s", str(tmp / "beat-schedule")],
            env,
        )  # fmt: skip
        children.start(
            "gunicorn",
            [PYTHON, "-m", "gunicorn", "--config", "deploy/gunicorn.conf.py",
             "--bind", f"127.0.0.1:{web_port}", "portal.wsgi:application"],
            env,
        )  # fmt: skip

        wait_until("gunicorn to answer /readyz", lambda: gunicorn_ready(web_port), 60, every=0.2)

        def finished(since, expected) -> bool:
            done, left, _ = _counts(since)
            return done >= expected and left == 0

        # 1. Pool processes killed while draining.
        since = timezone.now()
        bodies, statuses, _ = drain._deliveries(assets, DELIVERIES, run_id + "k", rng, 1.0)
        ledger_before = drain._ledger_rows()
        _store_all(bodies)
        kills = 0
        while kills < KILLS:
            pool = _pool_pids(worker.pid)
            if pool:
                os.kill(rng.choice(pool), signal.SIGKILL)
                kills += 1
            time.sleep(0.3)
        wait_until("the drain after pool kills", lambda: finished(since, DELIVERIES), 400, 1)
        lost = statuses - (drain._ledger_rows() - ledger_before)
        rows.append(
            (f"faults: {KILLS} pool SIGKILLs over {DELIVERIES} deliveries: lost, doubled",
             f"{max(lost, 0)}, {max(-lost, 0)}", "0, 0", "yes" if lost == 0 else "NO")
        )  # fmt: skip

        # 2. The worker's main process killed, back 5 s later.
        since = timezone.now()
        bodies, statuses, _ = drain._deliveries(assets, DELIVERIES, run_id + "m", rng, 1.0)
        ledger_before = drain._ledger_rows()
        _store_all(bodies)
        time.sleep(1.0)
        os.kill(worker.pid, signal.SIGKILL)
        for pid in _pool_pids(worker.pid):
            os.kill(pid, signal.SIGKILL)
        time.sleep(5)
        worker = children.start("worker-2", worker_cmd, env)
        back = time.monotonic()
        wait_until("the drain after the main kill", lambda: finished(since, DELIVERIES), 400, 1)
        took = time.monotonic() - back
        lost = statuses - (drain._ledger_rows() - ledger_before)
        rows.append(
            ("faults: worker main SIGKILLed: all applied after its return; lost",
             f"{took:.0f} s; {lost}", f"≤ {TARGET_RETURN_SECONDS} s; 0",
             "yes" if took <= TARGET_RETURN_SECONDS and lost == 0 else "NO")
        )  # fmt: skip

        # 3. Redis stopped for 60 s while deliveries arrive over HTTP.
        since = timezone.now()
        bodies, statuses, _ = drain._deliveries(assets, DELIVERIES, run_id + "r", rng, 1.0)
        ledger_before = drain._ledger_rows()
        subprocess.run(["redis-cli", "-p", str(redis_port), "shutdown", "nosave"], check=False)
        down_at = time.monotonic()
        latencies = _paced_posts(web_port, bodies, app_secret, BROKER_DOWN_SECONDS)
        time.sleep(max(0.0, BROKER_DOWN_SECONDS - (time.monotonic() - down_at)))
        children.start("redis-2", redis_cmd, dict(os.environ))
        wait_until(
            "the drain after the broker's return", lambda: finished(since, DELIVERIES), 400, 1
        )
        lost = statuses - (drain._ledger_rows() - ledger_before)
        p99 = percentile([x for x, _ in latencies], 99) * 1000
        non_200 = sum(1 for _, status in latencies if status != 200)
        rows.append(
            (f"faults: Redis down {BROKER_DOWN_SECONDS} s: intake p99; non-200; lost",
             f"{p99:.0f} ms; {non_200}; {lost}", f"≤ {TARGET_P99_MS} ms; 0; 0",
             "yes" if p99 <= TARGET_P99_MS and non_200 == 0 and lost == 0 else "NO")
        )  # fmt: skip

        # 4. Statements cancelled mid-drain.
        since = timezone.now()
        bodies, statuses, _ = drain._deliveries(assets, DELIVERIES, run_id + "c", rng, 1.0)
        ledger_before = drain._ledger_rows()
        _store_all(bodies)
        cancels, deadline = 0, time.monotonic() + 120
        while cancels < CANCELS and time.monotonic() < deadline:
            for pid in _worker_backends()[:1]:
                _cancel(pid)
                cancels += 1
            time.sleep(0.05)
        wait_until("the drain after cancellations", lambda: finished(since, DELIVERIES), 400, 1)
        from portal.meta.models import ChangeState, WebhookChange

        failed = WebhookChange.objects.filter(
            created_at__gte=since, state=ChangeState.FAILED, next_attempt_at__isnull=True
        ).count()
        lost = statuses - (drain._ledger_rows() - ledger_before)
        rows.append(
            (f"faults: {cancels} statement cancellations: failed for good; lost",
             f"{failed}; {lost}", "0; 0", "yes" if failed == 0 and lost == 0 else "NO")
        )  # fmt: skip
        if not rows:
            raise BenchFailure("no figures")
    return rows


def _paced_posts(port: int, bodies: list[bytes], app_secret: str, seconds: float):
    """POST `bodies` spread over `seconds` (one connection per request); (latency, status)."""
    from portal.meta.signatures import HEADER, sign

    host = os.environ.get("PORTAL_DOMAIN", "localhost")
    gap = seconds / len(bodies)
    out = []
    for body in bodies:
        started = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            headers = {
                "Host": host,
                "Content-Type": "application/json",
                HEADER: sign(body, app_secret),
            }
            conn.request("POST", "/webhooks/meta", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            status = -1
        finally:
            conn.close()
        elapsed = time.perf_counter() - started
        out.append((elapsed, status))
        time.sleep(max(0.0, gap - elapsed))
    return out
