"""`make bench-scale`: one PostgreSQL with up to 10,000 client schemas (opt-in, long).

Never part of `make test` or `make bench`. On a database of its own (SCALE_DB, default
`bench_scale`, next to DATABASE_URL's; dropped at the end unless SCALE_KEEP_DB=1), with the
production settings plus a tenant app whose migrations stand for "the next release's migration"
(tests/benchmarks/scale_probe, settings tests/benchmarks/scale_settings.py):

- Clients are provisioned with the project's fast path (`client_create`, the pg_catalog schema
  copy of tenants/cloning.py) plus `account_link` (a WABA each, so the fleet sync has work), by
  SCALE_PROVISIONERS spawned processes, in windows up to each checkpoint (1, 100, 1,000, 10,000,
  capped by SCALE_CLIENTS). Timed per client inside the processes.
- At each checkpoint:
  * migration: `migrate_schemas --tenant --executor=multiprocessing scale_probe 000k` (one
    AddField with an index) over every client schema and the template, as a subprocess, with
    TENANT_MIGRATION_PROCESSES / TENANT_MIGRATION_CHUNKS; then every schema is checked for the
    new column;
  * catalog: pg_class / pg_attribute / pg_depend rows, their on-disk size, the database size;
  * one backend's memory after touching N schemas: a new connection sets each schema's search
    path and runs three ORM queries (numbers, templates, appeals) in it, then reads its own
    `pg_backend_memory_contexts` (all contexts, and CacheMemoryContext: the relcache/catcache)
    and the backend's private RSS (RssAnon in /proc/<pid>/status; same machine only);
  * staff pages (Fleet health, template queue, appeals inbox): Django's test client against the
    public host, signed in as a staff superuser, SCALE_REQUESTS loads each (median and p95);
  * fleet sync fan-out: `compliance.tasks.fan_out_sync()` (beat's task body: one query, one
    `sync_client` per tenant with a WABA) sending to a queue of this run only, then the queue is
    deleted without running the tasks.
- SCALE_EXISTING=1 measures a database a stopped run left behind, at the clients it holds.
- Figures are written as they come to SCALE_OUT (JSON, default .devdata/scale/results.json) and
  printed as a table at the end, so a run stopped early keeps what it measured.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from tests.benchmarks.harness import percentile
from tests.benchmarks.procs import ROOT, BenchFailure

CHECKPOINTS = [1, 100, 1000, 2500, 5000, 10000]
# Where "the next migration" (scale_probe 0002-0005) is applied to every schema: the first
# three checkpoints and the last one (each migration over all schemas takes N x ~0.1 s).
MIGRATION_AT = {1: "0002", 100: "0003", 1000: "0004"}
LAST_MIGRATION = "0005"
SLUG = "scale-{:05d}"


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _int_env(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


class Results:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[tuple[str, str]] = []
        self.data: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        path.parent.mkdir(parents=True, exist_ok=True)

    def add(self, checkpoint: int, metric: str, value: float | int, unit: str) -> None:
        shown = f"{value:,.3f} {unit}" if isinstance(value, float) else f"{value:,} {unit}"
        self.rows.append((f"N={checkpoint:,}: {metric}", shown.strip()))
        self.data.setdefault(str(checkpoint), {})[metric] = {"value": value, "unit": unit}
        self.path.write_text(json.dumps(self.data, indent=1))
        print(f"scale: N={checkpoint:,} {metric}: {shown}", file=sys.stderr, flush=True)


def _release_before_the_probe() -> None:
    """Provision with the code of the release the fleet runs: without the probe's migrations
    that are still to come. A clone of the template is then complete, as in production (the
    template is migrated with each release). Otherwise every clone finds the probe's later
    migrations missing and runs `migrate_schemas` on itself, which is not provisioning's cost;
    before this, the figures of 2026-12-04 measured that."""
    from tenants import models

    every = models._all_migrations()
    models._all_migrations = lambda: frozenset(m for m in every if m[0] != "scale_probe")


def _provision_slice(indexes: list[int]) -> list[float]:
    """Runs in a spawned process: create and link clients `indexes`; seconds per client."""
    import django

    django.setup()
    _release_before_the_probe()
    from django.db import connections

    from compliance.services import account_link
    from tenants.services import client_create

    timings = []
    for c in indexes:
        started = time.perf_counter()
        client = client_create(
            name=f"Scale {c}", slug=SLUG.format(c), owner_email=f"owner{c}@scale.bench"
        )
        account_link(client=client, waba_id=f"7{c:09d}", name=f"Scale {c}")
        timings.append(time.perf_counter() - started)
    connections.close_all()
    return timings


def _provision(start: int, stop: int, processes: int) -> tuple[list[float], float]:
    from django.db import connections

    connections.close_all()
    indexes = list(range(start, stop))
    # Small slices keep every process busy to the end of a window.
    size = max(1, min(200, len(indexes) // (processes * 4) or 1))
    slices = [indexes[i : i + size] for i in range(0, len(indexes), size)]
    started = time.perf_counter()
    timings: list[float] = []
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(min(processes, len(slices))) as pool:
        for part in pool.imap_unordered(_provision_slice, slices):
            timings.extend(part)
    return timings, time.perf_counter() - started


def _migrate(migration: str) -> float:
    env = {**os.environ}
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "migrate_schemas",
            "--tenant",
            "--executor=multiprocessing",
            "--noinput",
            "-v",
            "0",
            "scale_probe",
            migration,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchFailure(f"migrate_schemas failed: {done.stderr[-2000:]}")
    return elapsed


def _schemas_missing_column(column: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FROM tenants_client c
            WHERE c.schema_name <> 'public' AND NOT EXISTS (
              SELECT 1 FROM pg_attribute a
              WHERE a.attrelid
                = to_regclass(quote_ident(c.schema_name) || '.scale_probe_scaleprobe')
                AND a.attname = %s AND NOT a.attisdropped)
            """,
            [column],
        )
        return cursor.fetchone()[0]


def _catalog(results: Results, n: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT (SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_attribute),
                   (SELECT count(*) FROM pg_depend), (SELECT count(*) FROM pg_namespace),
                   pg_total_relation_size('pg_class') + pg_total_relation_size('pg_attribute')
                   + pg_total_relation_size('pg_depend') + pg_total_relation_size('pg_index')
                   + pg_total_relation_size('pg_constraint') + pg_total_relation_size('pg_type'),
                   pg_database_size(current_database())
            """
        )
        classes, attributes, depends, namespaces, catalog_bytes, db_bytes = map(
            int, cursor.fetchone()
        )
    results.add(n, "pg_namespace rows", namespaces, "")
    results.add(n, "pg_class rows", classes, "")
    results.add(n, "pg_attribute rows", attributes, "")
    results.add(n, "pg_depend rows", depends, "")
    results.add(n, "catalog size (class, attribute, depend, index, constraint, type)",
                catalog_bytes / 2**20, "MiB")  # fmt: skip
    results.add(n, "database size", db_bytes / 2**20, "MiB")


def _backend_memory(results: Results, n: int) -> None:
    """A fresh connection touches n client schemas as requests would; its memory afterwards."""
    from django.db import connection

    from appeals.models import AppealTicket
    from compliance.models import PhoneNumber
    from templates_review.models import MessageTemplate
    from tenants.models import Client

    schemas = list(
        Client.objects.filter(is_template=False)
        .exclude(schema_name="public")
        .order_by("pk")
        .values_list("schema_name", flat=True)[:n]
    )
    connection.close()
    connection.set_schema_to_public()
    started = time.perf_counter()
    for schema in schemas:
        connection.set_schema(schema)
        PhoneNumber.objects.filter(status="CONNECTED").count()
        list(MessageTemplate.objects.order_by("-pk")[:5])
        AppealTicket.objects.count()
    touched = time.perf_counter() - started
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_backend_pid(), sum(total_bytes), "
            "sum(total_bytes) FILTER (WHERE name = 'CacheMemoryContext' "
            "OR parent = 'CacheMemoryContext') FROM pg_backend_memory_contexts"
        )
        pid, total, cache = cursor.fetchone()
    total, cache = float(total), float(cache or 0)
    results.add(n, f"one backend after touching {len(schemas):,} schemas: memory contexts",
                total / 2**20, "MiB")  # fmt: skip
    results.add(n, "  of which CacheMemoryContext (relcache/catcache)", cache / 2**20, "MiB")
    status = Path(f"/proc/{pid}/status")
    if status.exists():
        fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        rss_anon_kb = int(fields.get("RssAnon", "0 kB").split()[0])
        results.add(n, "  backend private RSS (RssAnon)", rss_anon_kb / 1024, "MiB")
    results.add(n, "  time to touch them (3 queries per schema)", touched, "s")
    connection.close()


def _staff_pages(results: Results, n: int, http, requests: int) -> None:
    from django.conf import settings

    for label, path in [
        ("staff page Fleet health", "/staff/fleet/"),
        ("staff page template queue", "/staff/templates/"),
        ("staff page appeals inbox", "/staff/appeals/"),
    ]:
        timings = []
        for _ in range(requests + 1):
            started = time.perf_counter()
            response = http.get(path, HTTP_HOST=settings.PORTAL_DOMAIN, secure=True)
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise BenchFailure(f"{path} answered {response.status_code}")
        timings = timings[1:]  # the first load warms caches
        results.add(n, f"{label} median", statistics.median(timings), "ms")
        results.add(n, f"{label} p95", percentile(timings, 95), "ms")


def _fan_out(results: Results, n: int) -> None:
    from compliance.tasks import fan_out_sync, sync_batches
    from portal.celery import app

    queue = app.conf.task_default_queue
    started = time.perf_counter()
    clients = fan_out_sync()
    elapsed = time.perf_counter() - started
    sent = len(sync_batches(list(range(clients))))
    with app.connection_for_write() as conn:
        waiting = conn.default_channel.queue_purge(queue=queue)
        conn.default_channel.queue_delete(queue=queue)
    # a run stopped mid-client may leave one without a WABA
    if waiting != sent or clients < n - 1:
        raise BenchFailure(f"fan-out sent {sent} tasks, queue held {waiting}, expected {n} clients")
    results.add(n, f"fleet sync fan-out: {clients:,} tenants in {sent:,} tasks", elapsed, "s")
    results.add(n, "  per task", elapsed / sent * 1000, "ms")


def _measure_existing(results: Results, *, requests: int) -> None:
    """SCALE_EXISTING=1: measure a database a stopped run left (SCALE_KEEP_DB=1 or killed)
    at the number of clients it holds: catalog, staff pages, fan-out, backend memory."""
    from django.test import Client as HttpClient

    from tenants.models import Client, User

    n = Client.objects.filter(is_template=False).exclude(schema_name="public").count()
    http = HttpClient()
    http.force_login(User.objects.get(email="staff@scale.bench"))
    _catalog(results, n)
    _staff_pages(results, n, http, requests)
    _fan_out(results, n)
    _backend_memory(results, n)


def run(results: Results) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client as HttpClient

    from tenants.choices import StaffRole
    from tenants.services import template_schema_ensure, user_create

    if os.environ.get("SCALE_EXISTING") == "1":
        _measure_existing(results, requests=_int_env("SCALE_REQUESTS", 20))
        return
    target = _int_env("SCALE_CLIENTS", 10000)
    processes = _int_env("SCALE_PROVISIONERS", 2)
    requests = _int_env("SCALE_REQUESTS", 20)
    checkpoints = [c for c in CHECKPOINTS if c < target] + [target]

    call_command("migrate_schemas", "--shared", verbosity=0, interactive=False)
    template_schema_ensure()
    # The template (and so every clone) starts at the probe's first migration.
    call_command(
        "migrate_schemas", "--tenant", "scale_probe", "0001", verbosity=0, interactive=False
    )
    staff = user_create(
        email="staff@scale.bench", password="scale-pass", staff_role=StaffRole.SUPERUSER
    )
    http = HttpClient()
    http.force_login(staff)

    done = 0
    for checkpoint in checkpoints:
        timings, wall = _provision(done, checkpoint, processes)
        window = f"provisioning clients {done + 1:,}-{checkpoint:,}: wall"
        results.add(checkpoint, window, wall, "s")
        results.add(checkpoint, "  per client median", statistics.median(timings) * 1000, "ms")
        results.add(checkpoint, "  per client p95", percentile(timings, 95) * 1000, "ms")
        done = checkpoint
        connection.set_schema_to_public()
        with connection.cursor() as cursor:  # the public index tables the staff pages read
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            for (table,) in cursor.fetchall():
                cursor.execute(f'ANALYZE public."{table}"')

        _catalog(results, checkpoint)
        _staff_pages(results, checkpoint, http, requests)
        _fan_out(results, checkpoint)
        _backend_memory(results, checkpoint)
        connection.set_schema_to_public()
        migration = LAST_MIGRATION if checkpoint == target else MIGRATION_AT.get(checkpoint)
        if migration is not None:
            seconds = _migrate(migration)
            column = f"col{int(migration)}"
            missing = _schemas_missing_column(column)
            if missing:
                raise BenchFailure(f"{missing} schemas lack {column} after migrate_schemas")
            results.add(
                checkpoint,
                f"one tenant migration on {checkpoint + 1:,} schemas (multiprocessing, "
                f"{os.environ.get('TENANT_MIGRATION_PROCESSES', '2')} processes)",
                seconds,
                "s",
            )
            results.add(checkpoint, "  per schema", seconds / (checkpoint + 1) * 1000, "ms")
        connection.set_schema_to_public()


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.benchmarks.scale_settings")
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production-0123456789")
    os.environ.setdefault("STATIC_MANIFEST", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("TENANT_MIGRATION_PROCESSES", "2")
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = f"scale-{uuid.uuid4().hex[:8]}"
    url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = os.environ.get("SCALE_DB", "bench_scale")
    admin = _with_database(url, "postgres")
    if os.environ.get("SCALE_EXISTING") != "1":
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = _with_database(url, name)
    results = Results(Path(os.environ.get("SCALE_OUT", ROOT / ".devdata/scale/results.json")))
    started = time.perf_counter()
    failed = None
    try:
        run(results)
    except BenchFailure as exc:
        failed = str(exc)
    finally:
        from django.db import connections

        connections.close_all()
        if os.environ.get("SCALE_KEEP_DB") != "1":
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    width = max((len(metric) for metric, _ in results.rows), default=10)
    for metric, value in results.rows:
        print(f"{metric.ljust(width)} | {value}")
    print(f"\n{len(results.rows)} figures in {time.perf_counter() - started:.1f} s")
    if failed:
        print(f"FAILED: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
