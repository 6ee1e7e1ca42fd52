"""Production-like smoke test (`make smoke`; CI runs it after the suite).

Against the real PostgreSQL and Redis named by DATABASE_URL and CELERY_BROKER_URL, with the
production settings (DEBUG off, HTTPS-only cookies, HSTS, SSL redirect behind a proxy header):

1. creates a fresh database (next to DATABASE_URL's) and runs `manage.py migrate`, then
   `collectstatic` into a temporary directory, as the image build does;
2. starts gunicorn (gthread, deploy/gunicorn.conf.py) on a free loopback port, a Celery worker and
   Celery beat, as three separate processes, on a queue of this run only;
3. waits for /healthz and /readyz, checks the security headers and the HTTPS redirect;
4. provisions a client (`create_client`), creates an API key (`create_api_key`) and calls
   `GET /api/v1/me/` on the client's host with it;
5. runs a tenant task through the broker on the worker and reads its result;
6. waits until beat has sent a periodic task and the worker has run it;
7. links a WABA to the client, pushes a signed webhook (and a forged one, refused) to
   /webhooks/meta, and waits for its effect in the client's events API;
8. stops every process and drops the database, on success and on failure.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PORTAL_DOMAIN = "portal.test"
SLUG = "smoke"
STARTUP_SECONDS = 60
BEAT_SECONDS = 120


class SmokeFailure(AssertionError):
    pass


def say(message: str) -> None:
    print(f"smoke: {message}", flush=True)


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def wait_until(what: str, probe: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.25)
    raise SmokeFailure(f"timed out after {seconds:.0f}s waiting for {what}")


class Processes:
    """Long-running children, each logging to its own file; all stopped on exit."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env = env
        self.log_dir = log_dir
        self.children: dict[str, subprocess.Popen] = {}

    def start(self, name: str, command: list[str]) -> subprocess.Popen:
        log = (self.log_dir / f"{name}.log").open("wb")
        child = subprocess.Popen(  # noqa: S603 - our own fixed commands
            command,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops its children
        )
        log.close()
        self.children[name] = child
        say(f"started {name} (pid {child.pid})")
        return child

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def check_alive(self) -> None:
        for name, child in self.children.items():
            expect(child.poll() is None, f"{name} exited with {child.returncode}")

    def stop_all(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for name, child in self.children.items():
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                say(f"{name} ignored SIGTERM; killing it")
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
            say(f"stopped {name} (exit {child.returncode})")


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    result = subprocess.run(  # noqa: S603 - our own fixed commands
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise SmokeFailure(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def production_env(*, database_url: str, broker_url: str, result_url: str, queue: str, tmp: Path):
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp),
        "DJANGO_SETTINGS_MODULE": "portal.settings.base",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PORTAL_DOMAIN": PORTAL_DOMAIN,
        "SECURE_COOKIES": "true",
        "SECURE_SSL_REDIRECT": "true",
        # As behind the ingress: TLS ends at the proxy, which sets X-Forwarded-Proto.
        "TRUST_X_FORWARDED_PROTO": "true",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_RESULT_BACKEND": result_url,
        # A queue of this run only, so no other worker on the same Redis takes our tasks.
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "STATIC_ROOT": str(tmp / "static"),
        "MEDIA_ROOT": str(tmp / "media"),
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "META_APP_SECRET": secrets.token_hex(16),
        "META_VERIFY_TOKEN": secrets.token_hex(8),
        "META_CREDENTIALS_KEY": "c21va2UtdGVzdC1jcmVkZW50aWFscy1rZXktMzJieXQ=",
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "2",
        # Through a PgBouncer (.ci/run): the pool mode the processes check at start-up.
        **{
            name: os.environ[name]
            for name in ("DATABASE_POOL_MODE", "DATABASE_POOL_ADMIN_URL")
            if os.environ.get(name)
        },
    }


def check_probes_and_headers(web: httpx.Client) -> None:
    for path in ("/healthz", "/readyz"):
        response = web.get(path, headers={"Host": "10.0.0.1"})  # as a probe: pod IP, plain HTTP
        expect(response.status_code == 200, f"{path}: {response.status_code} {response.text}")
    ready = web.get("/readyz").json()
    expect(ready["checks"] == {"database": "ok", "broker": "ok"}, f"/readyz said {ready}")

    plain = web.get("/auth/login/", headers={"Host": PORTAL_DOMAIN})
    expect(plain.status_code == 301, f"plain HTTP was not redirected: {plain.status_code}")
    expect(
        plain.headers["location"] == f"https://{PORTAL_DOMAIN}/auth/login/",
        f"redirect went to {plain.headers.get('location')}",
    )
    page = web.get("/auth/login/", headers={"Host": PORTAL_DOMAIN, "X-Forwarded-Proto": "https"})
    expect(page.status_code == 200, f"login page: {page.status_code}")
    expect("script-src 'self'" in page.headers.get("content-security-policy", ""), "no CSP")
    expect("includeSubDomains" in page.headers.get("strict-transport-security", ""), "no HSTS")
    expect(bool(page.headers.get("x-request-id")), "no X-Request-ID")
    css = web.get("/static/portal/portal.css", headers={"Host": PORTAL_DOMAIN})
    expect(css.status_code in (200, 301), f"static file: {css.status_code}")


def call_api(web: httpx.Client, key: str) -> None:
    host = f"{SLUG}.{PORTAL_DOMAIN}"
    https = {"Host": host, "X-Forwarded-Proto": "https"}
    anonymous = web.get("/api/v1/me/", headers=https)
    expect(anonymous.status_code in (401, 403), f"API without a key: {anonymous.status_code}")
    response = web.get("/api/v1/me/", headers={**https, "Authorization": f"Bearer {key}"})
    expect(response.status_code == 200, f"API with the key: {response.status_code} {response.text}")
    body = response.json()
    expect(body["kind"] == "api_key", f"API said {body}")
    expect(SLUG in json.dumps(body["client"]), f"API answered for another client: {body}")


def run_tenant_task_on_worker(env: dict[str, str], schema: str) -> None:
    code = (
        "from portal.celery import enqueue_for_schema\n"
        "from tenants.tasks import client_housekeeping\n"
        f"print('RESULT', enqueue_for_schema(client_housekeeping, {schema!r}).get(timeout=60))\n"
    )
    output = manage(env, "shell", "-c", code, timeout=120)
    expect("RESULT " in output, f"the worker returned nothing: {output}")


def beat_task_ran(processes: Processes) -> bool:
    """True once a task that beat sent ("Sending due task <entry> (<task>)") succeeded on the
    worker ("Task <task>[<id>] succeeded in ...")."""
    sent = re.findall(r"Sending due task \S+ \(([\w.]+)\)", processes.log("beat"))
    worker_log = processes.log("worker")
    return any(
        re.search(rf"Task {re.escape(task)}\[[^\]]+\] succeeded", worker_log) for task in sent
    )


SMOKE_WABA = "1999000001"


def push_signed_webhook(web: httpx.Client, env: dict[str, str], *, api_key: str) -> None:
    """Link a WABA to the smoke client, POST a signed `account_update` restriction for it to
    `/webhooks/meta` on the public host, and wait until the worker's effect (a restriction
    event) shows in the client's API."""
    from portal.meta.signatures import sign

    manage(env, "link_waba", SLUG, SMOKE_WABA, "--name", "Smoke WABA")
    expiration = int(time.time()) + 7 * 86400
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{
            "id": SMOKE_WABA,
            "time": int(time.time()),
            "changes": [{"field": "account_update", "value": {
                "event": "ACCOUNT_RESTRICTION",
                "restriction_info": [{
                    "restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING",
                    "expiration": expiration,
                }],
            }}],
        }],
    }  # fmt: skip
    body = json.dumps(payload).encode()
    public = {"Host": PORTAL_DOMAIN, "X-Forwarded-Proto": "https"}
    forged = web.post(
        "/webhooks/meta",
        content=body,
        headers={**public, "X-Hub-Signature-256": sign(body, "not-the-app-secret")},
    )
    expect(forged.status_code == 401, f"a forged webhook got {forged.status_code}")
    signed = web.post(
        "/webhooks/meta",
        content=body,
        headers={**public, "X-Hub-Signature-256": sign(body, env["META_APP_SECRET"])},
    )
    expect(signed.status_code == 200, f"the signed webhook got {signed.status_code}")

    client_api = {"Host": f"{SLUG}.{PORTAL_DOMAIN}", "X-Forwarded-Proto": "https"}

    def restriction_visible() -> bool:
        response = web.get(
            "/api/v1/events/", headers={**client_api, "Authorization": f"Bearer {api_key}"}
        )
        expect(response.status_code == 200, f"events API: {response.status_code}")
        return any(e["kind"] == "restriction" for e in response.json()["results"])

    wait_until("the webhook's restriction to show in the client's API", restriction_visible, 60)


def main() -> int:
    base_database_url = os.environ.get("DATABASE_URL")
    broker_url = os.environ.get("CELERY_BROKER_URL")
    if not base_database_url or not broker_url:
        print("smoke: set DATABASE_URL and CELERY_BROKER_URL", file=sys.stderr)
        return 2
    result_url = os.environ.get("CELERY_RESULT_BACKEND") or broker_url
    run_id = uuid.uuid4().hex[:8]
    db_name = f"smoke_{run_id}"
    admin_url = with_database(base_database_url, "postgres")

    with ExitStack() as cleanup:
        tmp = Path(tempfile.mkdtemp(prefix="portal-smoke-"))
        cleanup.callback(shutil.rmtree, tmp, ignore_errors=True)

        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db_name)))
        say(f"created database {db_name}")

        def drop_database() -> None:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(db_name)
                    )
                )
            say(f"dropped database {db_name}")

        cleanup.callback(drop_database)

        env = production_env(
            database_url=with_database(base_database_url, db_name),
            broker_url=broker_url,
            result_url=result_url,
            queue=f"smoke-{run_id}",
            tmp=tmp,
        )
        processes = Processes(env, tmp)
        cleanup.callback(processes.stop_all)
        try:
            manage(env, "migrate", "--noinput")
            say("migrated (public schema and the clone template)")
            manage(env, "collectstatic", "--noinput")

            port = free_port()
            processes.start(
                "web",
                [
                    PYTHON, "-m", "gunicorn",
                    "--config", "deploy/gunicorn.conf.py",
                    "--bind", f"127.0.0.1:{port}",
                    "portal.wsgi:application",
                ],
            )  # fmt: skip
            processes.start(
                "worker",
                [
                    PYTHON, "-m", "celery", "--app=portal", "worker",
                    "--loglevel=INFO", "--concurrency=1", "--without-gossip", "--without-mingle",
                    f"--hostname=smoke-{run_id}@%h",
                ],
            )  # fmt: skip
            processes.start(
                "beat",
                [
                    PYTHON, "-m", "celery", "--app=portal", "beat", "--loglevel=INFO",
                    f"--schedule={tmp / 'celerybeat-schedule'}",
                ],
            )  # fmt: skip

            web = cleanup.enter_context(
                httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
            )

            def web_up() -> bool:
                processes.check_alive()
                try:
                    return web.get("/healthz").status_code == 200
                except httpx.TransportError:
                    return False

            wait_until("gunicorn to answer /healthz", web_up, STARTUP_SECONDS)
            wait_until(
                "the worker to be ready",
                lambda: processes.check_alive() or " ready." in processes.log("worker"),
                STARTUP_SECONDS,
            )
            check_probes_and_headers(web)
            say("probes, HTTPS redirect, CSP, HSTS and request ids: ok")

            created = manage(
                env, "create_client", SLUG, "--name", "Smoke Test", "--owner-email",
                "owner@smoke.example",
            )  # fmt: skip
            schema = created.rsplit("(schema ", 1)[1].split(")", 1)[0]
            say(created.strip())
            key = manage(env, "create_api_key", SLUG).strip().splitlines()[-1]
            call_api(web, key)
            say("API call with the new key on the client's host: ok")

            run_tenant_task_on_worker(env, schema)
            say(f"tenant task ran on the worker in schema {schema}: ok")

            wait_until(
                "beat to send a periodic task and the worker to run it",
                lambda: processes.check_alive() or beat_task_ran(processes),
                BEAT_SECONDS,
            )
            say("beat sent a periodic task and the worker ran it: ok")
            processes.check_alive()
            push_signed_webhook(web, env, api_key=key)
            say("signed webhook stored, processed by the worker, visible in the API: ok")
        except BaseException:
            for name in processes.children:
                tail = "\n".join(processes.log(name).splitlines()[-40:])
                print(f"--- {name} (last lines) ---\n{tail}", file=sys.stderr)
            raise
    say("passed; every process stopped and the database dropped")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SmokeFailure as failure:
        print(f"smoke: FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
