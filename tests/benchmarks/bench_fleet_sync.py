"""Fleet sync: 1,000 clients x 3 numbers x 20 templates against the Meta simulator at 50 ms/call.

Target (issue 17): the whole fleet in ≤ 10 s wall with 4 worker processes. Anchor, measured in
the same run: the latency bound, Graph requests x latency ÷ calls allowed in flight at once (a
sync reads each WABA with its numbers and templates in one call, so one request per client).

- The simulator runs as its own process (`python -m portal.meta.simulator --latency-ms 50`) on
  a generated scenario (`scenario.generate(1000)`: WABA ids `3` + client, token `bench-token`).
- 1,000 clients are provisioned with `client_create` (the clone fast path; PROVISIONERS spawned
  processes, since each clone is ~100+ ms of DDL on this machine) and each is linked to its WABA
  with `account_link`, in the bench database. Provisioning is not timed.
- Timed: the real path. WORKERS Celery worker processes (`--pool=threads`, THREADS tasks each:
  a sync task waits on Meta most of its time, so one process has several calls in flight) on a
  queue of this run only, with META_GRAPH_URL at the simulator and
  META_SYSTEM_USER_TOKEN=bench-token. The schemas come from `active_client_schemas_with_wabas()`
  (fan_out_sync's query) and one `sync_clients` per batch of them (`sync_batches`, as
  fan_out_sync sends them, plus the run's queue). Wall time runs from the first send to the
  last task's `date_done` in the result backend; every task must succeed without errors, and the
  database is checked afterwards (every WABA, number and template confirmed by this sync).
- Graph requests and calls (a batch's requests counted one by one) are counted by the simulator
  (`GET /_sim/state`, before and after). Two syncs are timed: the first (every number and
  template is new) and a second one (nothing changed, the every-15-minutes case). The
  simulator's highest count of calls answered at once must not exceed IN_FLIGHT.
- The simulator answers each call `--latency-ms` after it arrived, its own work included.
- Cleanup on success and failure: workers and simulator stopped, the queue and the task results
  deleted from the broker / result backend.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import secrets
import shutil
import sys
import tempfile
import time
import urllib.request
import uuid
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

from tests.benchmarks.procs import PYTHON, BenchFailure, Children, wait_until

CLIENTS = 1000
NUMBERS = 3
TEMPLATES = 20
LATENCY_MS = 50
WORKERS = 4  # worker processes
THREADS = 4  # tasks at once in each (Celery's threads pool)
IN_FLIGHT = WORKERS * THREADS  # Graph calls allowed at once (one per task: one WABA a client)
PROVISIONERS = 4
TARGET_WALL_S = 10.0
SYNC_TIMEOUT_S = 300
SLUG = "fleet-{:04d}"


def _provision_slice(indexes: list[int]) -> int:
    """Runs in a spawned process: create and link clients `indexes`."""
    import django

    django.setup()
    from compliance.services import account_link
    from portal.meta.simulator.scenario import waba_id_for
    from tenants.services import client_create

    for c in indexes:
        client = client_create(
            name=f"Fleet {c}", slug=SLUG.format(c), owner_email=f"owner{c}@fleet.bench"
        )
        account_link(client=client, waba_id=waba_id_for(c), name=f"Client {c}")
    from django.db import connections

    connections.close_all()
    return len(indexes)


def _provision() -> float:
    from django.db import connections

    from tenants.services import template_schema_ensure

    template_schema_ensure()
    connections.close_all()
    started = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    slices = [list(range(i, CLIENTS, PROVISIONERS)) for i in range(PROVISIONERS)]
    with ctx.Pool(PROVISIONERS) as pool:
        done = sum(pool.map(_provision_slice, slices))
    if done != CLIENTS:
        raise BenchFailure(f"provisioned {done} of {CLIENTS} clients")
    return time.perf_counter() - started


def _sim_calls(url: str) -> tuple[int, int, int]:
    """(HTTP requests answered so far, Graph calls (a batch's one by one), the most at once)."""
    with urllib.request.urlopen(f"{url}/_sim/state", timeout=60) as response:  # noqa: S310 - loopback
        state = json.load(response)
    return int(state["requests"]), int(state["calls"]), int(state["most_in_flight"])


def _sync_fleet(queue: str) -> tuple[float, dict]:
    """Send the schemas' sync tasks as fan_out_sync does; wait for all; (wall seconds, totals)."""
    from compliance.tasks import sync_batches, sync_clients
    from portal.celery import app
    from tenants.selectors import active_client_schemas_with_wabas

    schemas = active_client_schemas_with_wabas()
    if len(schemas) != CLIENTS:
        raise BenchFailure(f"{len(schemas)} schemas with a WABA, expected {CLIENTS}")
    backend = app.backend
    started_at = time.time()
    ids = [
        sync_clients.apply_async(args=[batch], headers={"_schema_name": "public"}, queue=queue).id
        for batch in sync_batches(schemas)
    ]
    keys = [backend.get_key_for_task(task_id) for task_id in ids]
    try:
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        while backend.client.exists(*keys) < len(keys):
            if time.monotonic() > deadline:
                raise BenchFailure(f"the sync did not finish in {SYNC_TIMEOUT_S} s")
            time.sleep(0.5)
        metas = [json.loads(raw) for raw in backend.client.mget(keys)]
    finally:
        backend.client.delete(*keys)
    failed = [m for m in metas if m["status"] != "SUCCESS" or m["result"]["errors"]]
    if failed:
        raise BenchFailure(f"{len(failed)} syncs failed, e.g. {failed[0]}")
    finished = max(datetime.fromisoformat(m["date_done"]).timestamp() for m in metas)
    totals = {
        key: sum(m["result"][key] for m in metas) for key in ("accounts", "numbers", "templates")
    }
    if sum(m["result"]["clients"] for m in metas) != len(schemas):
        raise BenchFailure("not every client was synced")
    return finished - started_at, totals


def _confirmed_since(since: datetime) -> dict:
    """Rows confirmed at or after `since`, over every client's schema (100 schemas a query: one
    statement over all 3,000 tables would exceed PostgreSQL's lock table)."""
    from django.db import connection

    from tenants.models import Client

    schemas = list(
        Client.objects.filter(slug__startswith="fleet-").values_list("schema_name", flat=True)
    )
    tables = (
        "compliance_whatsappaccount",
        "compliance_phonenumber",
        "templates_review_messagetemplate",
    )
    totals = [0, 0, 0]
    for i in range(0, len(schemas), 100):
        chunk = schemas[i : i + 100]
        columns = [
            " + ".join(
                f'(SELECT count(*) FROM "{s}".{table} WHERE last_confirmed_at >= %s)'  # noqa: S608
                for s in chunk
            )
            for table in tables
        ]
        with connection.cursor() as cursor:
            cursor.execute("SELECT " + ", ".join(columns), [since] * (len(tables) * len(chunk)))
            totals = [a + b for a, b in zip(totals, cursor.fetchone(), strict=True)]
    return dict(zip(("accounts", "numbers", "templates"), totals, strict=True))


def _broker_cleanup(queue: str) -> None:
    """Delete the run's queue; and the pidbox binding deadline our worker's remote control left,
    unless another worker on this broker database still holds that binding."""
    from portal.celery import app
    from tests.broker import queue_delete

    queue_delete(queue)
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        if not client.exists("_kombu.binding.celery.pidbox"):
            client.zrem("_kombu.binding_deadlines", "celery.pidbox")


def run() -> list[tuple[str, ...]]:
    from django.utils import timezone

    from portal.meta.simulator.scenario import generate

    run_id = uuid.uuid4().hex[:8]
    queue = f"bench-fleet-{run_id}"
    rows: list[tuple[str, ...]] = []
    with ExitStack() as cleanup:
        tmp = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
        cleanup.callback(shutil.rmtree, tmp, ignore_errors=True)
        cleanup.callback(_broker_cleanup, queue)
        children = Children(tmp)
        cleanup.callback(children.stop_all)

        scenario = tmp / "scenario.json"
        scenario.write_text(json.dumps(generate(CLIENTS, NUMBERS, TEMPLATES, seed=0)))
        ready = tmp / "sim.url"
        children.start(
            "simulator",
            [
                PYTHON, "-m", "portal.meta.simulator", "--scenario", str(scenario),
                "--port", "0", "--ready-file", str(ready), "--latency-ms", str(LATENCY_MS),
            ],
            dict(os.environ),
        )  # fmt: skip
        provision_s = _provision()

        def sim_ready() -> bool:
            children.check_alive()
            return ready.exists() and ready.read_text().strip().startswith("http")

        wait_until("the simulator", sim_ready, 120, every=0.2)
        sim_url = ready.read_text().strip()

        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="portal.settings.base",
            DEBUG="false",
            SECRET_KEY=secrets.token_urlsafe(50),
            CELERY_TASK_DEFAULT_QUEUE=queue,
            META_GRAPH_URL=sim_url,
            META_SYSTEM_USER_TOKEN="bench-token",
            # Nothing leaves the machine, should a sync raise an alert.
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        )
        for index in range(WORKERS):
            children.start(
                f"worker{index}",
                [
                    PYTHON, "-m", "celery", "--app=portal", "worker",
                    f"--queues={queue}", "--pool=threads", f"--concurrency={THREADS}",
                    f"--hostname=bench-fleet-{run_id}-{index}@%h", "--loglevel=INFO",
                    "--without-gossip", "--without-mingle", "--without-heartbeat",
                ],
                env,
            )  # fmt: skip

        def workers_ready() -> bool:
            children.check_alive()
            return all(
                " ready." in children.log(f"worker{i}", tail=100_000) for i in range(WORKERS)
            )

        wait_until("the Celery workers", workers_ready, 120, every=0.2)

        for label in ("first sync", "second sync"):
            requests_before, calls_before, _ = _sim_calls(sim_url)
            since = timezone.now()
            wall, totals = _sync_fleet(queue)
            requests, calls, most_in_flight = _sim_calls(sim_url)
            requests -= requests_before
            calls -= calls_before
            if most_in_flight > IN_FLIGHT:
                raise BenchFailure(
                    f"{label}: {most_in_flight} Graph calls at once, more than {IN_FLIGHT}"
                )
            confirmed = _confirmed_since(since)
            expected = {"accounts": CLIENTS, "numbers": CLIENTS * NUMBERS}
            expected["templates"] = CLIENTS * TEMPLATES
            if totals != expected or confirmed != expected:
                raise BenchFailure(f"{label}: tasks said {totals}, database {confirmed}")
            bound = requests * LATENCY_MS / 1000 / IN_FLIGHT
            print(
                f"fleet {label}: {requests} requests ({calls} calls), wall {wall:.1f} s, "
                f"latency bound {bound:.2f} s",
                file=sys.stderr,
                flush=True,
            )
            anchor = (
                f"latency bound {bound:.2f} s = {requests} requests x {LATENCY_MS} ms "
                f"÷ {IN_FLIGHT} in flight"
            )
            rows += [
                (
                    f"fleet {label}: {CLIENTS} clients x {NUMBERS} numbers x {TEMPLATES} "
                    f"templates, wall ({WORKERS} processes x {THREADS} threads)",
                    f"{wall:.1f} s",
                    f"≤ {TARGET_WALL_S:.0f} s",
                    "yes" if wall <= TARGET_WALL_S else "NO",
                    anchor,
                ),
                (
                    f"fleet {label}: wall ÷ latency bound",
                    f"{wall / bound:.1f}",
                    "—",
                    "",
                    anchor,
                ),
                (
                    f"fleet {label}: Graph HTTP requests (calls)",
                    f"{requests} ({calls})",
                    f"{CLIENTS} (one per client)",
                    "yes" if requests == CLIENTS else "NO",
                    "",
                ),
                (
                    f"fleet {label}: most Graph calls in flight at once (so far)",
                    f"{most_in_flight}",
                    f"≤ {IN_FLIGHT}",
                    "yes",
                    "",
                ),
            ]
    rows.append(
        (
            f"fleet: provisioning {CLIENTS} clients + links (untimed)",
            f"{provision_s:.0f} s",
            "—",
            "",
        )
    )
    return rows
