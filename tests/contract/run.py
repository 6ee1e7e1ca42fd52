"""The API contract check: schemathesis (`--checks all`) against the schema the portal serves.

    python -m tests.contract.run [--port 18350] [--max-examples 15] [--max-time 240] [--seed 16]

Builds a fresh database next to DATABASE_URL's (`<name>_contract`), migrates it, creates a
client with an API key and a little of everything (a WABA, a number, an alert, an appeal, a
contact), starts gunicorn on loopback for it, runs schemathesis against
`http://<client host>/api/schema/` with the key, and stops the server. Exit status: schemathesis'
(0 when it found no failure). Run by `.ci/run`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
SLUG = "contract"


def contract_database_url(url: str) -> str:
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "portal"
    return urlunsplit(parts._replace(path=f"/{name}_contract"))


def database_recreate(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def seed() -> str:
    """The client, its API key and some data to read; returns the raw key."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone
    from django_tenants.utils import schema_context

    call_command("migrate", verbosity=0, interactive=False)
    from appeals.services import appeal_create
    from compliance.choices import EventKind, EventSource, Severity
    from compliance.consent import Evidence, consent_record_opt_in
    from compliance.models import PhoneNumber
    from compliance.services import account_link, health_event_record, number_routes_ensure
    from tenants.models import User
    from tenants.services import api_key_create, client_create, template_schema_ensure

    template_schema_ensure()
    client = client_create(
        name="Contract Check", slug=SLUG, owner_email="owner@contract.example", owner_password="x"
    )
    _, key = api_key_create(client=client, name="contract", scopes=["read", "write"])
    waba = account_link(client=client, waba_id="9990000001", name="Contract")
    with schema_context(client.schema_name):
        number = PhoneNumber.objects.create(
            account=waba,
            meta_id="9990000002",
            display_phone_number="+1 555-010-9999",
            status="connected",
            quality="high",
            messaging_limit="tier_1k",
        )
        health_event_record(
            kind=EventKind.QUALITY_DROP,
            severity=Severity.WARNING,
            title="Quality dropped",
            key="contract-1",
            source=EventSource.SYNC,
            number=number,
        )
        consent_record_opt_in(
            phone="+14155550100",
            category="marketing",
            source="web_form",
            evidence=Evidence(wording="Yes"),
            actor=None,
        )
        appeal_create(
            actor=User.objects.get(email="owner@contract.example"),
            client=client,
            title="Contract appeal",
            subject_kind="waba",
            account=waba,
            block_type="messaging_block",
            blocked_at=timezone.now(),
            violation_type="spam",
        )
    number_routes_ensure(numbers=[number], client=client)
    return key


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=18350)
    parser.add_argument("--max-examples", type=int, default=15)
    parser.add_argument("--max-time", type=int, default=240)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--keep-database", action="store_true")
    args, extra = parser.parse_known_args()

    base_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/portal")
    url = contract_database_url(base_url)
    database_recreate(url)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings.test"
    os.environ["TEST_CELERY_QUEUE"] = queue = f"contract-{os.getpid()}"
    # The Meta simulator is not running: a sync asked for through the API stays queued.
    os.environ.setdefault("META_GRAPH_URL", "http://127.0.0.1:9")
    key = seed()

    from django.conf import settings

    host = f"{SLUG}.{settings.PORTAL_DOMAIN}"
    env = {
        **os.environ,
        "MEDIA_ROOT": str(ROOT / ".devdata" / "contract-media"),
        "LOG_LEVEL": "ERROR",
    }
    server = subprocess.Popen(
        # Production's gunicorn settings (its request-size limits are part of the contract).
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(ROOT / "deploy" / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{args.port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--log-level",
            "warning",
            "portal.wsgi:application",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{args.port}/healthz", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    print("contract: the server did not start", file=sys.stderr)
                    return 2
                time.sleep(0.3)
        command = [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(Path(__file__).with_name("schemathesis.toml")),
            "run",
            f"http://127.0.0.1:{args.port}/api/schema/",
            "--url",
            f"http://127.0.0.1:{args.port}",
            "--checks",
            "all",
            "--header",
            f"Host: {host}",
            "--header",
            f"Authorization: Bearer {key}",
            "--max-examples",
            str(args.max_examples),
            "--max-time",
            str(args.max_time),
            "--seed",
            str(args.seed),
            # One worker: with two, Hypothesis' lambda descriptions (ast.parse from both threads
            # at once) failed now and then with "AST constructor recursion depth mismatch", an
            # error inside schemathesis' coverage phase, not a finding about the API.
            "--workers",
            "1",
            *extra,
        ]
        return subprocess.call(command, cwd=ROOT, env=env)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        from tests.broker import queue_delete

        queue_delete(queue)
        if not args.keep_database:
            from django.db import connections

            connections.close_all()
            import psycopg

            parts = urlsplit(url)
            admin = urlunsplit(parts._replace(path="/postgres"))
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
