"""`make bench`: run the benchmarks on a fresh database and print one table of figures.

`make bench` runs them all; `make bench ONLY=consent_import` (or `python -m tests.benchmarks
consent_import fleet_sync`) runs the named ones. Only the table reaches the terminal: everything
else the run prints or logs (its own progress, Django's and Celery's logs, child processes that
inherit the terminal) goes to `.devdata/bench/bench.log`, and the figures are also written to
`.devdata/bench/results.json` (BENCH_DIR moves both).

A benchmark is a module with `run()` returning rows `(metric, value, target, ok, anchor)`:
`anchor` names what the figure is compared with, measured in the same run (e.g. "raw COPY of the
same file: 512,000 rows/s"); a 4-tuple has no anchor. Registering one is one line in BENCHMARKS.
Benchmarks are never part of `make test` (timings are not assertions).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from tests.benchmarks.procs import ROOT

BENCHMARKS = [
    "tests.benchmarks.bench_provisioning",
    "tests.benchmarks.bench_linter",
    "tests.benchmarks.bench_webhook_intake",
    "tests.benchmarks.bench_webhook_drain",
    "tests.benchmarks.bench_webhook_faults",
    "tests.benchmarks.bench_fleet_sync",
    "tests.benchmarks.bench_presend",
    "tests.benchmarks.bench_portfolio_usage",
    "tests.benchmarks.bench_appeals_inbox",
    "tests.benchmarks.bench_template_queue",
    "tests.benchmarks.bench_consent_import",
    "tests.benchmarks.bench_webhook_fanout",
    "tests.benchmarks.bench_broker_outage",
    "tests.benchmarks.bench_receiver_outage",
    "tests.benchmarks.bench_pages",
]
HEADER = ("benchmark", "metric", "value", "target", "ok", "anchor (same run)")


def short_name(module: str) -> str:
    """ "tests.benchmarks.bench_consent_import" → "consent_import" (what ONLY= takes)."""
    return module.rsplit(".", 1)[-1].removeprefix("bench_")


def selected(names: list[str]) -> list[str]:
    """The modules to run: all, or those named (short name, or with the bench_ prefix)."""
    if not names:
        return list(BENCHMARKS)
    wanted = {n.strip().removeprefix("bench_") for name in names for n in name.split(",") if n}
    unknown = wanted - {short_name(m) for m in BENCHMARKS}
    if unknown:
        known = ", ".join(short_name(m) for m in BENCHMARKS)
        raise SystemExit(f"unknown benchmark {', '.join(sorted(unknown))}; known: {known}")
    return [m for m in BENCHMARKS if short_name(m) in wanted]


def as_figure(benchmark: str, row: tuple) -> dict[str, str]:
    metric, value, target, ok = row[:4]
    anchor = row[4] if len(row) > 4 else ""
    return {
        "benchmark": benchmark,
        "metric": str(metric),
        "value": str(value),
        "target": str(target),
        "ok": str(ok),
        "anchor": str(anchor),
    }


def table(figures: list[dict[str, str]]) -> str:
    keys = ("benchmark", "metric", "value", "target", "ok", "anchor")
    cells = [HEADER, *[tuple(f[k] for k in keys) for f in figures]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADER))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)).rstrip()]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [
        " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in cells[1:]
    ]
    return "\n".join(lines)


@contextlib.contextmanager
def output_to(log_path: Path) -> Iterator[None]:
    """File descriptors 1 and 2 point at the log, and so do child processes' that inherit
    them; the terminal's come back afterwards, for the table."""
    sys.stdout.flush()
    sys.stderr.flush()
    terminal = os.dup(1)
    saved_err = os.dup(2)
    with log_path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(terminal, 1)
        os.dup2(saved_err, 2)
        os.close(terminal)
        os.close(saved_err)


def stop_on_sigterm() -> None:
    """A TERM (a `timeout`, a CI job cancelled) unwinds like Ctrl-C: the benchmarks' children
    (gunicorn, Celery workers, each in a session of its own) are stopped by their `ExitStack`
    and the throwaway database dropped. Killed outright by the signal, they were left running."""

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def main(argv: list[str] | None = None) -> int:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks")
    parser.add_argument("only", nargs="*", help="benchmarks to run (default: all)")
    args = parser.parse_args(argv)
    modules = selected([*args.only, *filter(None, [os.environ.get("ONLY", "")])])
    out_dir = Path(os.environ.get("BENCH_DIR") or ROOT / ".devdata" / "bench")
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path, results_path = out_dir / "bench.log", out_dir / "results.json"
    log_path.write_text("")
    # Production settings (argon2 and all); only the secret is a stand-in.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings.base")
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production-0123456789")
    figures: list[dict[str, str]] = []
    failed = 0
    started = time.perf_counter()
    with output_to(log_path):
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, force=True)
        from tests.benchmarks.harness import bench_database

        with bench_database():
            for name in modules:
                bench = short_name(name)
                print(f"running {name} …", file=sys.stderr, flush=True)
                try:
                    module = importlib.import_module(name)
                    figures += [as_figure(bench, row) for row in module.run()]
                except Exception as exc:  # BenchFailure, or a benchmark that broke
                    # one broken benchmark must not lose the others' figures
                    failed += 1
                    logging.getLogger("bench").exception("%s failed", name)
                    figures.append(as_figure(bench, ("FAILED", str(exc)[:120], "", "NO")))
    elapsed = time.perf_counter() - started
    results_path.write_text(
        json.dumps(
            {
                "finished_at": datetime.now(UTC).isoformat(),
                "seconds": round(elapsed, 1),
                "benchmarks": [short_name(m) for m in modules],
                "figures": figures,
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )
    print(table(figures))
    print(f"\n{len(figures)} figures in {elapsed:.1f} s; log {log_path}; figures {results_path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
