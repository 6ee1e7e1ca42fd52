"""No query runs in another client's schema behind PgBouncer in transaction pooling, and a pool
mode that does not match PgBouncer's is refused at start-up.

Each test module run starts its own PgBouncer (Debian's /usr/sbin/pgbouncer) in front of the
test database: pool_mode = transaction, default_pool_size = 2, so a handful of client
connections share two server connections. Acme and Globex each get one committed phone number
(created before, deleted after). Then:

- with django-tenants' stock backend (session-level `SET search_path` once per connection),
  Acme's next query runs in Globex's schema as soon as Globex's query took the same server
  connection: the naive setup leaks, deterministically (PgBouncer reuses the last released
  server connection first);
- with the portal's backend in transaction mode (portal/postgresql_backend: `SET LOCAL` inside
  every transaction), concurrent requests through the whole middleware stack (the numbers API,
  signed in) and Celery-style task bodies (schema switch, reads, an atomic write) for both
  clients all see only their own client's rows and schema.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections, transaction
from django.test import Client as HttpClient
from django_tenants.postgresql_backend.base import DatabaseWrapper as StockWrapper
from django_tenants.utils import schema_context

from compliance.models import PhoneNumber, WhatsAppAccount
from portal.db import pool_mode_reported, pool_mode_verify
from portal.postgresql_backend.base import DatabaseWrapper as PortalWrapper
from tenants.models import Client, User
from tests.people import EMAILS

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
POOL_SIZE = 2
PHONES = {"acme": "+1 555-777-0001", "globex": "+1 555-777-0002"}

pytestmark = [
    pytest.mark.skipif(
        not os.path.exists(PGBOUNCER),
        reason="PgBouncer is not installed (apt-get install pgbouncer)",
    ),
    pytest.mark.django_db,  # the test database; the tests' own queries go through PgBouncer
]
# Sessions the request threads commit, deleted with the probe numbers.
SESSIONS: list[str] = []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres() -> dict:
    """The test database on PostgreSQL itself, also when the suite runs through a PgBouncer
    (.ci/run): then its admin console names the server behind it."""
    s = dict(connection.settings_dict)
    try:
        with psycopg.connect(
            host=s["HOST"] or None, port=s["PORT"] or None, user=s["USER"] or None,
            dbname="pgbouncer", autocommit=True, connect_timeout=3,
        ) as admin:  # fmt: skip
            databases = admin.execute("SHOW DATABASES")
            columns = [col.name for col in databases.description]
            for row in databases.fetchall():
                entry = dict(zip(columns, row, strict=True))
                if entry["name"] == s["NAME"] and entry["host"]:
                    return {**s, "HOST": entry["host"], "PORT": str(entry["port"])}
    except psycopg.Error:
        pass  # not a PgBouncer
    return s


def _bouncer_user(host: str | None) -> str:
    """Who PgBouncer runs as under root: the owner of the server's socket directory when the
    database is reached over a Unix socket (the embedded PostgreSQL of `make test` keeps it in a
    directory only its own user may enter), else the postgres user."""
    if host and host.startswith("/"):
        import pwd

        return pwd.getpwuid(Path(host).stat().st_uid).pw_name
    return "postgres"


@pytest.fixture(scope="module")
def bouncer(django_db_setup, django_db_blocker):
    """A PgBouncer in transaction mode in front of the test database; its port."""
    s = _postgres()
    port = _free_port()
    workdir = Path(tempfile.mkdtemp(prefix="pgbouncer-test-"))
    user = s["USER"] or "postgres"
    (workdir / "users.txt").write_text(f'"{user}" "{s["PASSWORD"] or ""}"\n')
    (workdir / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={s['HOST'] or '127.0.0.1'} port={s['PORT'] or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = {'md5' if s['PASSWORD'] else 'trust'}\n"
        f"auth_file = {workdir / 'users.txt'}\n"
        f"pool_mode = transaction\ndefault_pool_size = {POOL_SIZE}\nmax_client_conn = 100\n"
        f"admin_users = {user}\nignore_startup_parameters = extra_float_digits,options\n"
    )
    command = [PGBOUNCER, str(workdir / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        run_as = _bouncer_user(s["HOST"])
        shutil.chown(workdir, run_as)
        for path in workdir.iterdir():
            shutil.chown(path, run_as)
        command[1:1] = ["-u", run_as]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    error = process.stderr.read()
                    raise RuntimeError(f"PgBouncer did not start: {error!r}") from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def probe_numbers(django_db_setup, django_db_blocker):
    """One committed number per client (the tests read them through other connections)."""
    with django_db_blocker.unblock():
        made = []
        for slug, phone in PHONES.items():
            client = Client.objects.get(slug=slug)
            with schema_context(client.schema_name):
                account = WhatsAppAccount.objects.create(meta_id=f"77700{len(made)}", name=slug)
                PhoneNumber.objects.create(
                    account=account,
                    meta_id=f"77710{len(made)}",
                    display_phone_number=phone,
                    verified_name=slug,
                    status="connected",
                    quality="high",
                    messaging_limit="tier_10k",
                )
            made.append((client.schema_name, account.pk))
        yield {slug: Client.objects.get(slug=slug).schema_name for slug in PHONES}
        from django.contrib.sessions.models import Session

        Session.objects.filter(session_key__in=SESSIONS).delete()
        for schema, account_pk in made:
            with schema_context(schema):
                PhoneNumber.objects.filter(account_id=account_pk).delete()
                WhatsAppAccount.objects.filter(pk=account_pk).delete()
        connection.set_schema_to_public()


def _through_bouncer(wrapper_class, port: int, pool_mode: str):
    s = connection.settings_dict  # name, user, options; host and port are the test's PgBouncer
    settings_dict = {
        **s,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "POOL_MODE": pool_mode,
        "CONN_MAX_AGE": 0,
        "DISABLE_SERVER_SIDE_CURSORS": True,
        "OPTIONS": {**s["OPTIONS"], "prepare_threshold": None},
    }
    return wrapper_class(settings_dict, "default")


def _read(wrapper) -> tuple[str, list[str]]:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        schema = cursor.fetchone()[0]
        cursor.execute("SELECT display_phone_number FROM compliance_phonenumber ORDER BY 1")
        return schema, [row[0] for row in cursor.fetchall()]


def test_stock_backend_runs_acme_queries_in_globex_schema(
    bouncer, probe_numbers, django_db_blocker
):
    with django_db_blocker.unblock():
        acme = _through_bouncer(StockWrapper, bouncer, "none")
        globex = _through_bouncer(StockWrapper, bouncer, "none")
        acme.set_schema(probe_numbers["acme"])
        globex.set_schema(probe_numbers["globex"])
        try:
            seen = [_read(acme), _read(globex), _read(acme)]
        finally:
            acme.close()
            globex.close()

    assert seen == [
        (probe_numbers["acme"], [PHONES["acme"]]),
        (probe_numbers["globex"], [PHONES["globex"]]),
        # Acme's connection still believes its search_path is set: it reads Globex's rows.
        (probe_numbers["globex"], [PHONES["globex"]]),
    ]


def test_portal_backend_keeps_each_query_in_its_schema_sequentially(
    bouncer, probe_numbers, django_db_blocker
):
    with django_db_blocker.unblock():
        acme = _through_bouncer(PortalWrapper, bouncer, "transaction")
        globex = _through_bouncer(PortalWrapper, bouncer, "transaction")
        acme.set_schema(probe_numbers["acme"])
        globex.set_schema(probe_numbers["globex"])
        try:
            seen = [_read(acme), _read(globex), _read(acme), _read(globex)]
        finally:
            acme.close()
            globex.close()

    assert seen == [
        (probe_numbers["acme"], [PHONES["acme"]]),
        (probe_numbers["globex"], [PHONES["globex"]]),
        (probe_numbers["acme"], [PHONES["acme"]]),
        (probe_numbers["globex"], [PHONES["globex"]]),
    ]


ROUNDS = 15


def _request_worker(port, slug, user_email, results, sessions):
    """Requests as a web thread serves them: host routing, session, the numbers API."""
    connections["default"] = _through_bouncer(PortalWrapper, port, "transaction")
    try:
        http = HttpClient(HTTP_HOST=f"{slug}.localhost")
        http.force_login(User.objects.get(email=user_email))
        sessions.append(http.session.session_key)
        for _ in range(ROUNDS):
            try:
                response = http.get("/api/v1/numbers/")
                phones = sorted(n["display_phone_number"] for n in response.json()["results"])
                results.append(("request", slug, response.status_code, phones))
            except Exception as exc:  # recorded: a leak can surface as an error
                results.append(("request", slug, repr(exc)[:200], None))
    finally:
        connections["default"].close()


def _task_worker(port, schemas, results):
    """Task bodies as one Celery worker process runs them: a schema per task, one after the
    other on the same connection, with reads and an atomic write."""
    connections["default"] = _through_bouncer(PortalWrapper, port, "transaction")
    try:
        for n in range(ROUNDS * 2):
            slug = ["acme", "globex"][n % 2]
            try:
                with schema_context(schemas[slug]):
                    phones = sorted(
                        PhoneNumber.objects.values_list("display_phone_number", flat=True)
                    )
                    with transaction.atomic():
                        number = PhoneNumber.objects.select_for_update().get()
                        PhoneNumber.objects.filter(pk=number.pk).update(verified_name=slug)
                        with connection.cursor() as cursor:
                            cursor.execute("SELECT current_schema()")
                            in_transaction = cursor.fetchone()[0]
                results.append(("task", slug, in_transaction, phones))
            except Exception as exc:  # recorded: a leak can surface as an error
                results.append(("task", slug, repr(exc)[:200], None))
    finally:
        connections["default"].close()


def test_concurrent_requests_and_tasks_never_cross_schemas(
    bouncer, probe_numbers, django_db_blocker
):
    results: list[tuple] = []
    sessions = SESSIONS
    people = [("acme", "acme_owner"), ("acme", "acme_agent")]
    people += [("globex", "globex_owner"), ("globex", "globex_agent")]
    threads = [
        threading.Thread(
            target=_request_worker, args=(bouncer, slug, EMAILS[person], results, sessions)
        )
        for slug, person in people
    ]
    threads += [
        threading.Thread(target=_task_worker, args=(bouncer, probe_numbers, results))
        for _ in range(2)
    ]
    with django_db_blocker.unblock():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)

    requests = [r for r in results if r[0] == "request"]
    tasks = [r for r in results if r[0] == "task"]
    assert len(requests) == 4 * ROUNDS
    assert len(tasks) == 2 * ROUNDS * 2
    assert [r for r in requests if r[2:] != (200, [PHONES[r[1]]])] == []
    assert [r for r in tasks if r[2:] != (probe_numbers[r[1]], [PHONES[r[1]]])] == []


# --- the pool mode is checked at start-up ------------------------------------------------------


def _database_at(port: int) -> dict:
    return {**connection.settings_dict, "HOST": "127.0.0.1", "PORT": str(port)}


@pytest.mark.parametrize("declared", ["none", "session"])
def test_start_up_refuses_a_pool_mode_that_is_not_pgbouncers(bouncer, declared):
    with pytest.raises(ImproperlyConfigured) as refused:
        pool_mode_verify(declared=declared, database=_database_at(bouncer))

    assert str(refused.value).startswith(
        f"DATABASE_POOL_MODE={declared} but PgBouncer at DATABASE_URL runs pool_mode=transaction."
        " Set DATABASE_POOL_MODE=transaction"
    )


def test_start_up_accepts_the_pool_mode_pgbouncer_reports(bouncer):
    assert pool_mode_reported(_database_at(bouncer)) == "transaction"
    pool_mode_verify(declared="transaction", database=_database_at(bouncer))


def test_start_up_refuses_a_declared_pool_that_does_not_answer():
    direct = _postgres()  # PostgreSQL itself: no admin console there

    with pytest.raises(ImproperlyConfigured) as refused:
        pool_mode_verify(declared="transaction", database=direct)

    assert "does not answer, so its pool mode cannot be checked" in str(refused.value)
    pool_mode_verify(declared="none", database=direct)  # no PgBouncer, none declared: fine


def _settings_under(env: dict[str, str]) -> subprocess.CompletedProcess:
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "d = settings.DATABASES['default']; "
        "print(d['ENGINE'], d['POOL_MODE'], d.get('DISABLE_SERVER_SIDE_CURSORS', False), "
        "'prepare_threshold' in d['OPTIONS'] and d['OPTIONS']['prepare_threshold'])"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings.test", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_transaction_pool_mode_turns_server_side_cursors_and_prepared_statements_off():
    done = _settings_under({"DATABASE_POOL_MODE": "transaction"})

    assert done.stdout.split() == ["portal.postgresql_backend", "transaction", "True", "None"]


def test_an_unknown_pool_mode_is_refused_by_name():
    done = _settings_under({"DATABASE_POOL_MODE": "statement"})

    assert done.returncode != 0
    assert (
        "DATABASE_POOL_MODE='statement' must be one of ['none', 'session', 'transaction']"
        in done.stderr
    )
