from __future__ import annotations

import os
import subprocess
import sys
import threading
from urllib.parse import quote

import pytest
from django.db import connection
from django.test import Client as HttpClient
from rest_framework.test import APIClient

from tenants.models import Client, User
from tests import people
from tests.assets import acme_number, acme_waba, globex_waba  # noqa: F401 - shared fixtures

# `TEST_CLOCK_OFFSET_DAYS=400 make test`: portal.settings.test moves the clock of every process
# of the run that many days ahead, to prove no test depends on today's date.
_CLOCK_OFFSET_DAYS = int(os.environ.get("TEST_CLOCK_OFFSET_DAYS") or 0)


def pytest_report_header(config):
    if _CLOCK_OFFSET_DAYS:
        return f"clock moved {_CLOCK_OFFSET_DAYS} days ahead (TEST_CLOCK_OFFSET_DAYS)"
    return None


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database, public schema and test clients are created once per run and reused."""
    with django_db_blocker.unblock():
        people.build_world()


def pytest_sessionfinish(session, exitstatus):
    """Tasks the suite queues (after commits, with no worker) go to this process's own queue
    (settings.test); it goes when the run ends, after every fixture (the live server included)
    has stopped, so runs leave nothing on the broker."""
    from django.conf import settings

    from tests.broker import queue_delete

    queue_delete(settings.CELERY_TASK_DEFAULT_QUEUE)


@pytest.fixture
def eager_tasks():
    """Celery tasks queued (after commit) run at once in this process, the live server's
    threads included: e-mails land in mail.outbox, sends to Meta happen before the test goes on."""
    from portal.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture(autouse=True)
def _back_to_public_schema():
    yield
    connection.set_schema_to_public()


@pytest.fixture(autouse=True)
def _broker_believed_up(monkeypatch):
    """A test that took the broker down must not leave the next one skipping its publishes."""
    import portal.celery

    monkeypatch.setattr(portal.celery, "_broker_down_until", 0.0)


def _client_fixture(slug: str):
    @pytest.fixture
    def fixture(db) -> Client:
        return Client.objects.get(slug=slug)

    return fixture


def _person_fixture(email: str):
    @pytest.fixture
    def fixture(db) -> User:
        return User.objects.get(email=email)

    return fixture


for _slug in people.CLIENTS:
    globals()[_slug] = _client_fixture(_slug)
for _name, _email in people.EMAILS.items():
    globals()[_name] = _person_fixture(_email)


def host_of(client: Client | None) -> str:
    from django.conf import settings

    return settings.PORTAL_DOMAIN if client is None else f"{client.slug}.{settings.PORTAL_DOMAIN}"


@pytest.fixture
def web():
    """`web(client_or_None, user=None)`: a Django test client on that host, optionally signed in."""

    def make(client: Client | None = None, user: User | None = None) -> HttpClient:
        http = HttpClient(HTTP_HOST=host_of(client))
        if user is not None:
            http.force_login(user)
        return http

    return make


@pytest.fixture
def api():
    """`api(client, user=None, key=None)`: a DRF test client on a client's host."""

    def make(client: Client, user: User | None = None, key: str | None = None) -> APIClient:
        http = APIClient(HTTP_HOST=host_of(client))
        if user is not None:
            http.force_login(user)
        if key is not None:
            http.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return http

    return make


def database_url_for_tests() -> str:
    """A DATABASE_URL for processes that must share this run's test database."""
    s = connection.settings_dict
    auth = quote(s["USER"] or "")
    if s["PASSWORD"]:
        auth += ":" + quote(s["PASSWORD"])
    host = s["HOST"] or ""
    if host.startswith("/"):
        return f"postgresql://{auth}@/{s['NAME']}?host={quote(host)}"
    port = f":{s['PORT']}" if s["PORT"] else ""
    return f"postgresql://{auth}@{host}{port}/{s['NAME']}"


# The session's worker processes (celery_worker_queue): a test that must be the only one
# draining webhooks stops them meanwhile (`other_workers_paused`).
SESSION_WORKERS: list[subprocess.Popen] = []


@pytest.fixture
def other_workers_paused():
    """SIGSTOP the session's Celery workers for this test (they drain any due webhook change of
    the shared test database, whatever queue woke them), SIGCONT after."""
    import signal

    paused = [w for w in SESSION_WORKERS if w.poll() is None]
    for worker in paused:
        os.kill(worker.pid, signal.SIGSTOP)
    yield
    for worker in paused:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGCONT)


def celery_worker_start(queue: str, **env: str) -> subprocess.Popen:
    """A real Celery worker process (solo pool) on the real broker and this run's test
    database, consuming `queue`; `env` adds to its environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "-Q", queue, "-P", "solo",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning"],
        env={
            **os.environ,
            "DATABASE_URL": database_url_for_tests(),
            "DJANGO_SETTINGS_MODULE": "portal.settings.test",
            "TEST_CELERY_QUEUE": queue,
            **env,
        },
    )  # fmt: skip


@pytest.fixture(scope="session")
def celery_worker_queue(django_db_setup, worker_id):
    """A real Celery worker process on the real broker, consuming a queue of this test run only."""
    from django.conf import settings

    queue = settings.CELERY_TASK_DEFAULT_QUEUE  # this test process's own queue
    worker = celery_worker_start(queue)
    SESSION_WORKERS.append(worker)
    yield queue
    worker.terminate()
    try:
        worker.wait(20)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


@pytest.fixture(scope="session")
def live_portal(django_db_setup, django_db_blocker):
    """A threaded WSGI server on the test database, for browser tests and webhooks from the
    simulator: `live_portal.format(host="acme.localhost")` is a base URL."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format, *args):
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler, allow_reuse_address=False)
    server.set_app(StaticFilesHandler(get_wsgi_application()))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    with django_db_blocker.unblock():  # the server's threads use the database
        yield "http://{host}:" + str(port)
        server.shutdown()
        server.server_close()
        _close_server_sessions()


def _close_server_sessions() -> None:
    """End database sessions left by the server's keep-alive threads, so the test database
    can be dropped at the end of the run."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def committed(fn):
    """Run `fn` on a connection of its own (autocommit), outside the test's transaction, for
    data that other processes (a worker, a live server) must see. Returns fn's result."""
    from django.db import connections

    outcome: dict = {}

    def run():
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
