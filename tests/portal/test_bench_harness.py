"""`make bench`'s harness (tests/benchmarks/__main__.py): ONLY= picks benchmarks by short
name, each figure keeps its anchor, and the table has one line per figure."""

import pytest

from tests.benchmarks.__main__ import BENCHMARKS, as_figure, selected, short_name, table


def test_only_picks_benchmarks_by_short_name_in_the_registered_order():
    assert short_name("tests.benchmarks.bench_consent_import") == "consent_import"
    assert selected([]) == BENCHMARKS
    assert selected(["fleet_sync,bench_consent_import"]) == [
        "tests.benchmarks.bench_fleet_sync",
        "tests.benchmarks.bench_consent_import",
    ]


def test_an_unknown_benchmark_is_refused_with_the_known_names():
    with pytest.raises(SystemExit, match="unknown benchmark nope; known: provisioning"):
        selected(["nope"])


def test_a_figure_keeps_its_anchor_and_a_four_field_row_has_none():
    with_anchor = as_figure("consent_import", ("rate", "1/s", "≥ 2/s", "NO", "COPY: 9/s"))
    assert with_anchor == {
        "benchmark": "consent_import",
        "metric": "rate",
        "value": "1/s",
        "target": "≥ 2/s",
        "ok": "NO",
        "anchor": "COPY: 9/s",
    }
    assert as_figure("linter", ("p95", "1 ms", "≤ 2 ms", "yes"))["anchor"] == ""
    lines = table([with_anchor]).splitlines()
    assert len(lines) == 3
    assert lines[0].split(" | ")[0].strip() == "benchmark"
    assert lines[2].endswith("COPY: 9/s")


def test_a_term_unwinds_the_benchmark_so_its_children_are_stopped(tmp_path):
    """The run's cleanup (stopping gunicorn and the workers, dropping the database) is an
    `ExitStack`; a TERM must unwind through it rather than kill the process where it stands."""
    import signal
    import subprocess
    import sys

    cleaned = tmp_path / "cleaned"
    script = (
        "import contextlib, pathlib, sys, time\n"
        "from tests.benchmarks.__main__ import stop_on_sigterm\n"
        "stop_on_sigterm()\n"
        "with contextlib.ExitStack() as stack:\n"
        f"    stack.callback(pathlib.Path({str(cleaned)!r}).write_text, 'yes')\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=20) == 128 + signal.SIGTERM
    finally:
        if child.poll() is None:
            child.kill()
    assert cleaned.read_text() == "yes"
