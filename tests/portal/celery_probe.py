"""A task for the redelivery tests (tests/portal/test_celery_redelivery.py): it notes each start
and finish in a directory, and holds until released or its time is up. Loaded into a real worker
with `celery worker -I tests.portal.celery_probe`."""

from __future__ import annotations

import os
import time
from pathlib import Path

from portal.celery import app


@app.task(name="tests.portal.celery_probe.hold")
def hold(marker_dir: str, seconds: float) -> int:
    folder = Path(marker_dir)
    with open(folder / "starts", "a") as log:
        log.write(f"{os.getpid()}\n")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (folder / "release").exists():
        time.sleep(0.05)
    with open(folder / "finishes", "a") as log:
        log.write(f"{os.getpid()}\n")
    return os.getpid()
