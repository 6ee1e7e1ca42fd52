"""Waking a drain run without making the intake wait on the broker.

The intake only sets a flag; one thread per process publishes the wake-up, at most once per
`MIN_INTERVAL` however many deliveries arrive (coalesced without any shared cache), and a hung or
dead broker holds up that thread alone. Whatever a lost wake-up misses, the sweeper finds.
"""

from __future__ import annotations

import logging
import os
import threading
import time

logger = logging.getLogger(__name__)

MIN_INTERVAL = 0.05  # seconds between two wake-ups from one process


class Waker:
    def __init__(self, publish) -> None:
        self._publish = publish
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def request(self) -> None:
        """Ask for a drain run soon; returns at once."""
        self._ensure_thread()
        self._wanted.set()

    def _ensure_thread(self) -> None:
        pid = os.getpid()
        if self._thread is not None and self._pid == pid and self._thread.is_alive():
            return
        with self._lock:  # first request in this process (or the first after a fork)
            if self._thread is None or self._pid != pid or not self._thread.is_alive():
                self._wanted = threading.Event()
                self._pid = pid
                self._thread = threading.Thread(target=self._run, name="webhook-waker", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            try:
                self._publish()
            except Exception:  # the broker is down: the sweeper will find the work
                logger.warning("Could not queue a webhook drain run", exc_info=True)
            time.sleep(MIN_INTERVAL)
