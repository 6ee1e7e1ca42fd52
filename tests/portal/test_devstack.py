"""The embedded services behind `make run` / `make test`: start, answer, stop, leave nothing."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PROBE = """
import json, os, psycopg, redis
with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    db = conn.execute("select current_database()").fetchone()[0]
broker = os.environ["CELERY_BROKER_URL"].replace("redis+socket://", "")
pong = redis.Redis(unix_socket_path=broker).ping()
print(json.dumps({"db": db, "pong": pong}))
"""


@pytest.fixture(scope="module")
def data_dir():
    # pgserver runs PostgreSQL as its own user: the directory must be reachable by it.
    path = Path(tempfile.mkdtemp(prefix="devstack-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)  # every server using it has been stopped


def _env():
    env = dict(os.environ.items())
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CACHE_URL"):
        env.pop(name, None)
    return env


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _devstack(data_dir: Path, *command: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "portal.devstack",
        "--data-dir",
        str(data_dir),
        "exec",
        "--",
        *command,
    ]


def test_exec_starts_postgres_and_redis_that_answer_then_stops_both(data_dir):
    probe = PROBE + f"print(open(os.path.join({str(data_dir)!r}, 'services.json')).read())"

    done = subprocess.run(
        _devstack(data_dir, sys.executable, "-c", probe),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    first_line, services = done.stdout.split("\n", 1)
    assert json.loads(first_line) == {"db": "portal", "pong": True}
    pids = json.loads(services)
    assert not _alive(pids["postgres_pid"])
    assert not _alive(pids["redis_pid"])
    assert not (data_dir / "services.json").exists()


def test_sigterm_stops_the_command_and_both_servers(data_dir):
    proc = subprocess.Popen(_devstack(data_dir, "sleep", "120"), env=_env())
    services_file = data_dir / "services.json"
    deadline = time.monotonic() + 90
    while not services_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    pids = json.loads(services_file.read_text())

    proc.send_signal(signal.SIGTERM)

    assert proc.wait(60) == 130
    assert not _alive(pids["postgres_pid"])
    assert not _alive(pids["redis_pid"])


def test_given_urls_are_used_and_nothing_is_started(data_dir, tmp_path):
    env = {**_env(), "DATABASE_URL": "postgresql://x@/y", "CELERY_BROKER_URL": "redis://z"}
    probe = "import os; print(os.environ['DATABASE_URL'], os.environ['CELERY_BROKER_URL'])"

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "portal.devstack",
            "--data-dir",
            str(tmp_path),
            "exec",
            "--",
            sys.executable,
            "-c",
            probe,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.stdout.split() == ["postgresql://x@/y", "redis://z"]
    assert not (tmp_path / "pg").exists()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children_named(pid: int, word: str) -> list:
    import psutil

    return [child for child in psutil.Process(pid).children() if word in " ".join(child.cmdline())]


def test_run_serves_the_seeded_portal_under_load_restarts_a_killed_worker_and_stops(data_dir):
    """What `make run` does: migrate, seed, worker + beat + web; 1,000 signed webhooks at
    concurrency 8 get no 5xx (issue 12: runserver's connections exhausted the embedded
    PostgreSQL); a SIGKILLed worker is started again; SIGTERM stops all of it."""
    import urllib.request

    import psutil

    from tests.benchmarks.loadgen import LoadGenerator, Phase

    port = _free_port()
    log_path = data_dir / "run.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "portal.devstack", "--data-dir", str(data_dir), "run"],
            env={**_env(), "PORT": str(port), "META_APP_SECRET": "devstack-test-secret"},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        login_page = None
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://localhost:{port}/auth/login/", timeout=2) as r:
                    login_page = r.read().decode()
                    break
            except OSError:
                time.sleep(0.3)
        assert login_page is not None, log_path.read_text()
        assert "Sign in" in login_page

        phase = Phase(
            name="load", kind="webhook", per_client=125, path="/webhooks/meta",
            host="localhost", app_secret="devstack-test-secret", run_id=f"devstack{port}",
        )  # fmt: skip
        with LoadGenerator(port=port, clients=8, phases=[phase]) as load:
            result = load.run_phase(timeout=300)
        assert result.statuses == {200: 1000}
        pids = json.loads((data_dir / "services.json").read_text())
        import psycopg

        with psycopg.connect(pids["database_url"]) as conn:
            (connections,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            ).fetchone()
        # gunicorn's 2 x 4 threads, the worker's main and 2 pool processes, beat, this probe.
        assert connections <= 13

        (worker,) = _children_named(proc.pid, "worker")
        worker.kill()
        worker.wait(30)
        deadline = time.monotonic() + 60
        while not [w for w in _children_named(proc.pid, "worker") if w.pid != worker.pid]:
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        pids = json.loads((data_dir / "services.json").read_text())  # Redis' pid may be new
        family = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(90)
    output = log_path.read_text()

    assert "owner@acme.example" in output  # the demo logins are printed
    assert "devstack: Celery worker was killed by signal 9; restarting it in 1 s" in output
    assert "devstack: starting Celery worker again" in output
    assert proc.returncode == 0
    assert len(family) >= 5  # redis, simulator, worker, beat, web server (and their children)
    leftovers = [pid for pid in [*family, pids["postgres_pid"], pids["redis_pid"]] if _alive(pid)]
    assert leftovers == []


# --- Supervision (`make run`): a child that dies is restarted; one that keeps dying is not ------


def _poll_until(supervisor, done, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "the supervisor did not get there in time"
        supervisor.poll()
        time.sleep(0.02)


def test_a_killed_child_is_restarted_with_a_message():
    import io

    from portal.devstack import Supervisor

    out = io.StringIO()
    supervisor = Supervisor(first_backoff=0.05, out=out)
    argv = [sys.executable, "-c", "import time; time.sleep(120)"]
    child = supervisor.add("Celery worker", lambda: subprocess.Popen(argv))
    first = child.process
    try:
        os.kill(first.pid, signal.SIGKILL)

        _poll_until(supervisor, lambda: child.process is not first)

        assert first.poll() == -signal.SIGKILL
        assert child.process.poll() is None  # the new one runs
        assert out.getvalue().splitlines() == [
            "devstack: Celery worker was killed by signal 9; restarting it in 0.05 s",
            "devstack: starting Celery worker again",
        ]
    finally:
        supervisor.stop()
    assert child.process.poll() is not None


def test_a_child_that_keeps_dying_is_reported_and_left_down():
    import io

    from portal.devstack import Supervisor

    out = io.StringIO()
    supervisor = Supervisor(first_backoff=0.05, max_deaths=3, window=60, out=out)
    starts = []

    def start():
        starts.append(subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"]))
        return starts[-1]

    child = supervisor.add("Celery beat", start)
    _poll_until(supervisor, lambda: child.given_up)
    for _ in range(20):  # and it stays down
        supervisor.poll()

    assert len(starts) == 3
    assert out.getvalue().splitlines() == [
        "devstack: Celery beat exited with code 3; restarting it in 0.05 s",
        "devstack: starting Celery beat again",
        "devstack: Celery beat exited with code 3; restarting it in 0.1 s",
        "devstack: starting Celery beat again",
        "devstack: Celery beat exited with code 3; it died 3 times within 60 s, so it is NOT "
        "restarted (see its output above). The rest of the stack keeps running; fix it and "
        "restart `make run`.",
    ]


def test_a_child_that_ran_for_the_window_restarts_with_a_clean_record():
    import io

    from portal.devstack import Supervisor

    out = io.StringIO()
    supervisor = Supervisor(first_backoff=1, max_deaths=2, window=10, out=out)
    child = supervisor.add("web server", lambda: subprocess.Popen([sys.executable, "-c", "0"]))
    child.process.wait(30)
    child.deaths = [0.0]  # a death long ago, then a run longer than the window

    supervisor.poll(now=child.started_at + 11)

    assert not child.given_up
    assert out.getvalue() == "devstack: web server exited with code 0; restarting it in 1 s\n"


def test_the_embedded_redis_keeps_queued_work_through_a_kill(data_dir):
    import io

    import redis

    from portal.devstack import RedisServer, Supervisor

    server = RedisServer(data_dir / "aof-probe")
    server.start()
    server.wait_ready()
    supervisor = Supervisor(first_backoff=0.05, out=io.StringIO())
    child = supervisor.add("redis", server.start, process=server.process)
    try:
        with redis.Redis(unix_socket_path=server.socket_file) as client:
            client.lpush("portal", "task-1", "task-2")
        aof = server.dir / "appendonly.aof"
        deadline = time.monotonic() + 10  # appendfsync everysec: on disk within a second
        while b"task-2" not in (aof.read_bytes() if aof.exists() else b""):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        killed = server.process

        os.kill(killed.pid, signal.SIGKILL)
        _poll_until(supervisor, lambda: child.process is not killed)
        server.wait_ready()

        with redis.Redis(unix_socket_path=server.socket_file) as client:
            assert client.lrange("portal", 0, -1) == [b"task-2", b"task-1"]
    finally:
        supervisor.stop()
    assert not _alive(child.process.pid)
