"""Waking a drain run without making the intake wait on the broker, nor flooding it.

The intake only sets a flag; one thread per process publishes the wake-up, at most once per
`MIN_INTERVAL` however many deliveries arrive, and a hung or dead broker holds up that thread
alone. A wake-up is published only with a free drain slot (`meta.DrainSlot`, in the database:
coalesced across processes without any shared cache): while every slot's run is queued or
running, nothing is published, and each run, after giving its slot back, looks once more for
waiting work (what a refused wake-up asked for was stored before it was refused, so that look
sees it). Without slots each web process published 20 runs a second for as long as traffic
lasted, which a drain run of up to a minute could never consume: the queue only grew, and other
tasks waited behind thousands of empty runs. Whatever a lost wake-up misses, the sweeper finds.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass

from django.db import connection
from django_tenants.utils import get_public_schema_name

from portal.meta.models import DrainSlot

logger = logging.getLogger(__name__)

MIN_INTERVAL = 0.05  # seconds between two wake-ups from one process
# Seconds without a wake-up after which the waker thread closes its database connection (kept
# while deliveries arrive: opening one costs more than the slot look-up it serves).
IDLE_SECONDS = 1.0


class Waker:
    def __init__(self, publish, on_idle=None) -> None:
        self._publish = publish
        self._on_idle = on_idle
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
            if not self._wanted.wait(IDLE_SECONDS):
                if self._on_idle is not None:
                    try:
                        self._on_idle()  # quiet for a while: let go of what the publish holds
                    except Exception:
                        logger.warning("Webhook waker: idle clean-up failed", exc_info=True)
                self._wanted.wait()
            self._wanted.clear()
            try:
                self._publish()
            except Exception:  # the broker is down: the sweeper will find the work
                logger.warning("Could not queue a webhook drain run", exc_info=True)
            time.sleep(MIN_INTERVAL)


RETRY_SLOT = 0  # the retry timer's slot: one delayed run for the next change falling due
_SLOTS = f'"{get_public_schema_name()}".{DrainSlot._meta.db_table}'


@dataclass(frozen=True)
class Ticket:
    """A drain slot held by one run (queued or running)."""

    slot: int
    token: str


# A slot of 1..runs that is free or whose holder's time ran out (a lost message, a killed
# worker); the row is created on first use. Two wake-ups racing for one slot: the second finds
# it held and takes none (the first's run will see what both asked for).
_TAKE = f"""
    INSERT INTO {_SLOTS} AS s (number, held_by, held_until)
    SELECT n, %(token)s, now() + make_interval(secs => %(hold)s)
    FROM generate_series(1, %(runs)s) AS n
    WHERE NOT EXISTS (SELECT 1 FROM {_SLOTS} h WHERE h.number = n AND h.held_until >= now())
    ORDER BY n LIMIT 1
    ON CONFLICT (number) DO UPDATE SET held_by = excluded.held_by, held_until = excluded.held_until
    WHERE s.held_until IS NULL OR s.held_until < now()
    RETURNING s.number
"""  # noqa: S608 - the table name is ours

# The retry timer's slot, for a run in `delay` seconds: taken when free, run out, or held for a
# run planned more than a second later than this one (the earlier run is the one needed; the
# later message, superseded, ends at once when it arrives).
_TAKE_RETRY = f"""
    INSERT INTO {_SLOTS} AS s (number, held_by, held_until)
    VALUES ({RETRY_SLOT}, %(token)s, now() + make_interval(secs => %(delay)s + %(hold)s))
    ON CONFLICT (number) DO UPDATE SET held_by = excluded.held_by, held_until = excluded.held_until
    WHERE s.held_until IS NULL OR s.held_until < now()
       OR s.held_until > excluded.held_until + interval '1 second'
    RETURNING s.number
"""  # noqa: S608 - the table name is ours


def slot_take(*, runs: int, hold: float) -> Ticket | None:
    """A free slot of 1..`runs`, held for `hold` seconds; None if every one is held."""
    return _ticket(_TAKE, runs=runs, hold=hold)


def retry_slot_take(*, delay: float, hold: float) -> Ticket | None:
    """The retry timer's slot for a run in `delay` seconds; None if a run as early is planned."""
    return _ticket(_TAKE_RETRY, delay=delay, hold=hold)


def _ticket(sql: str, **params: float) -> Ticket | None:
    """Run a take statement for a new holder; its ticket, or None if it took no slot."""
    token = str(uuid.uuid4())
    with connection.cursor() as cursor:
        cursor.execute(sql, {"token": token, **params})
        row = cursor.fetchone()
    return Ticket(row[0], token) if row else None


def slot_hold(ticket: Ticket, seconds: float) -> bool:
    """Hold the ticket's slot `seconds` from now; False if the slot has another holder now."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_SLOTS} SET held_until = now() + make_interval(secs => %s)"  # noqa: S608
            " WHERE number = %s AND held_by = %s",
            [seconds, ticket.slot, ticket.token],
        )
        return cursor.rowcount == 1


def slot_release(ticket: Ticket) -> None:
    """Give the slot back (a no-op if another holder has it now)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_SLOTS} SET held_by = NULL, held_until = NULL"  # noqa: S608
            " WHERE number = %s AND held_by = %s",
            [ticket.slot, ticket.token],
        )
