"""`make bench`: run every benchmark on a fresh database and print one table of figures.

Benchmarks are never part of `make test` (timings are not assertions); each returns rows of
(metric, value, target, verdict) for the table.
"""

from __future__ import annotations

import os
import sys
import time

from tests.benchmarks.harness import bench_database
from tests.benchmarks.procs import BenchFailure

BENCHMARKS = [
    "tests.benchmarks.bench_provisioning",
    "tests.benchmarks.bench_linter",
    "tests.benchmarks.bench_webhook_intake",
    "tests.benchmarks.bench_fleet_sync",
    "tests.benchmarks.bench_presend",
    "tests.benchmarks.bench_appeals_inbox",
    "tests.benchmarks.bench_template_queue",
    "tests.benchmarks.bench_consent_import",
    "tests.benchmarks.bench_webhook_fanout",
]


def main() -> int:
    # Production settings (argon2 and all); only the secret is a stand-in.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.base")
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production-0123456789")
    with bench_database():
        import importlib

        rows: list[tuple[str, str, str, str]] = []
        started = time.perf_counter()
        failed = 0
        for name in BENCHMARKS:
            module = importlib.import_module(name)
            print(f"running {name} …", file=sys.stderr, flush=True)
            try:
                rows.extend(module.run())
            except BenchFailure as exc:  # one broken benchmark must not lose the others' figures
                failed += 1
                rows.append((name.rsplit(".", 1)[-1], "FAILED", str(exc)[:120], "NO"))
        elapsed = time.perf_counter() - started
    widths = [
        max(len(row[i]) for row in [("metric", "value", "target", "ok"), *rows]) for i in range(4)
    ]
    line = " | ".join
    print(
        line(h.ljust(w) for h, w in zip(("metric", "value", "target", "ok"), widths, strict=True))
    )
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(line(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    print(f"\n{len(rows)} figures in {elapsed:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
