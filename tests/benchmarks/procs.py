"""Child processes for benchmarks (gunicorn, Celery workers, the Meta simulator): each in its own
process group with its own log file, always stopped again, bounded waits, loopback only."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


class BenchFailure(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(what: str, probe: Callable[[], bool], seconds: float, every: float = 0.1) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(every)
    raise BenchFailure(f"timed out after {seconds:.0f} s waiting for {what}")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (and their waited-for children), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        # After the ")": state is field 3; utime, stime, cutime, cstime are fields 14-17.
        total += sum(int(value) for value in fields[11:15])
    return total / ticks


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (gunicorn's master and workers, Celery's pool)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    ticks = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / ticks, sum(values) / ticks


class Children:
    """Long-running children; `stop_all()` (also on failure) ends each one's process group."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.children: dict[str, subprocess.Popen] = {}

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        with (self.log_dir / f"{name}.log").open("wb") as log:
            child = subprocess.Popen(  # our own fixed commands
                command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: stopping it stops its children too
            )
        self.children[name] = child
        return child

    def log(self, name: str, tail: int = 3000) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def check_alive(self) -> None:
        for name, child in self.children.items():
            if child.poll() is not None:
                raise BenchFailure(f"{name} exited with {child.returncode}:\n{self.log(name)}")

    def stop_all(self, timeout: float = 30) -> None:
        for child in self.children.values():
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for child in self.children.values():
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(10)
        self.children.clear()


def gunicorn_ready(port: int, children: Children | None = None) -> bool:
    """Whether a server on `port` answers /readyz (its children checked alive first)."""
    import http.client

    if children is not None:
        children.check_alive()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/readyz", headers={"Host": "127.0.0.1"})
        return conn.getresponse().status == 200
    except OSError:
        return False


def celery_publish_to(broker: str, queue: str) -> None:
    """This process's Celery app sends to `broker` and `queue` from now on. Changing the
    configuration is not enough once a task was sent: the app keeps its connection and producer
    pools (an earlier benchmark's broker, maybe dead), so they are dropped too."""
    from portal.celery import app

    os.environ["CELERY_BROKER_URL"] = broker
    app.conf.broker_url = broker
    app.conf.task_default_queue = queue
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None


# --- the outbox benchmarks' stack: a Redis of the run's own, sink receivers, worker settings ---


def redis_start(children: Children, *, keep_in: Path | None = None) -> tuple[str, list[str]]:
    """A Redis on a free loopback port for this run, append-only in `keep_in` when given (a
    restart keeps the queued tasks). Returns its broker URL and the command that starts it
    again on the same port and files."""
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "yes", "--dir", str(keep_in)] if keep_in else ["--appendonly", "no"]
    children.start("redis", command, dict(os.environ))
    return f"redis://127.0.0.1:{port}/0", command


def sink_start(children: Children, kind: str, port: int, path: Path, *, name: str = "") -> None:
    """A loopback receiver (`tests.benchmarks.sinks`: smtp or webhook) writing what it gets to
    `path`, started as child `name` (default "<kind>-sink"); returns once it listens."""
    name = name or f"{kind}-sink"
    command = [PYTHON, "-m", "tests.benchmarks.sinks", kind, str(port), str(path)]
    children.start(name, command, dict(os.environ))
    wait_until(f"the {kind} sink", lambda: "ready" in children.log(name), 30)


def webhook_sinks(children: Children, count: int) -> tuple[list[int], list[Path]]:
    """`count` webhook sinks, children receiver-0 … receiver-N; their ports and files."""
    ports = [free_port() for _ in range(count)]
    files = [children.log_dir / f"hooks-{n}.txt" for n in range(count)]
    for n, (port, path) in enumerate(zip(ports, files, strict=True)):
        sink_start(children, "webhook", port, path, name=f"receiver-{n}")
    return ports, files


def worker_env(*, queue: str, broker: str, **settings: str) -> dict[str, str]:
    """The environment of a benchmark's Celery worker (and beat): production settings, the
    run's queue and broker, receivers on loopback allowed; `settings` added or overriding."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings.base",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        SECURE_COOKIES="false",
        SECURE_SSL_REDIRECT="false",
        CELERY_TASK_DEFAULT_QUEUE=queue,
        CELERY_BROKER_URL=broker,
        CELERY_RESULT_BACKEND=broker,
        LOG_LEVEL="WARNING",
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        WEBHOOK_ALLOW_PRIVATE_ADDRESSES="true",
    )
    env.update(settings)
    return env


def credentials_key_new() -> str:
    """A fresh key for the stored-encrypted endpoint secrets, set in this process's settings
    (it writes them); give it to the worker's environment too (it reads them)."""
    from cryptography.fernet import Fernet
    from django.conf import settings

    settings.META_CREDENTIALS_KEY = Fernet.generate_key().decode()
    return settings.META_CREDENTIALS_KEY
