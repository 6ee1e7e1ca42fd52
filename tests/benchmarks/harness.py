"""A throwaway database for benchmarks, on whatever server DATABASE_URL names."""

from __future__ import annotations

import contextlib
import os
import statistics
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg

# One database per run (pid), so two `make bench` runs on the same server never collide.
BENCH_DB = f"bench_portal_{os.getpid()}"


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _recreate(admin_url: str, name: str, *, drop_only: bool = False) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


@contextlib.contextmanager
def bench_database() -> Iterator[None]:
    """Point Django at a fresh, migrated database; drop it afterwards."""
    url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    admin_url = _with_database(url, "postgres")
    _recreate(admin_url, BENCH_DB)
    os.environ["DATABASE_URL"] = _with_database(url, BENCH_DB)
    try:
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0, interactive=False)
        yield
    finally:
        from django.db import connections

        connections.close_all()
        _recreate(admin_url, BENCH_DB, drop_only=True)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values)
