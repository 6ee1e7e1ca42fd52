"""Broker killed for 60 s during 1,000 alerts (issue 16): every alert e-mailed once, none twice,
and every outbound webhook delivery of those alerts sent once.

Real processes, production settings: a Redis of its own (SIGKILLed, so what it held in memory is
lost, then started again on the same port), a Celery worker (prefork, 2 processes) and beat (the
outbox sweeper every 30 s), an SMTP sink and a webhook receiver on loopback that write down each
e-mail's subject and each request's webhook-id. This process records the alerts as a webhook
batch does (`health_events_record_many`, 25 per transaction) at a steady pace over about 80 s;
the broker dies 15 s in and comes back 60 s later. While it is down the after-commit send cannot
be queued (and each try to queue it stalls the recording process for seconds): the outbox rows
wait for the sweeper.

Figures: alerts e-mailed exactly once / twice / never; webhook deliveries received exactly once
/ twice / never; time from the broker's return until the last e-mail and delivery went out.
Anchor (same run): with the broker up, the median time from an alert to its e-mail.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import statistics
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from tests.benchmarks.procs import (
    PYTHON,
    Children,
    celery_publish_to,
    credentials_key_new,
    free_port,
    redis_start,
    sink_start,
    wait_until,
    worker_env,
)
from tests.benchmarks.sinks import received

ALERTS = int(os.environ.get("BENCH_OUTAGE_ALERTS", "1000"))
BATCH = 25  # alerts per transaction, as a webhook batch records them
RECORD_SECONDS = 80.0
KILL_AFTER_SECONDS = 15.0
DOWN_SECONDS = 60.0
CATCH_UP_LIMIT_SECONDS = 600


def run() -> list[tuple]:
    from django.conf import settings
    from django.db import connection, transaction
    from django_tenants.utils import schema_context

    from compliance.choices import EventKind, EventSource, Severity
    from compliance.models import HealthEvent
    from compliance.services import health_events_record_many
    from integrations.choices import DeliveryState, EmailState
    from integrations.models import OutboundEmail, WebhookDelivery
    from integrations.services import endpoint_create
    from tenants.services import client_create, template_schema_ensure

    run_id = secrets.token_hex(4)
    queue = f"bench-outage-{run_id}"
    with ExitStack() as cleanup:
        tmp = Path(tempfile.mkdtemp(prefix="bench-outage-"))
        cleanup.callback(shutil.rmtree, tmp, ignore_errors=True)
        children = Children(tmp)
        cleanup.callback(children.stop_all)
        smtp_port, hook_port = free_port(), free_port()
        broker, redis_cmd = redis_start(children, keep_in=tmp)
        mails, hooks = tmp / "mails.txt", tmp / "hooks.txt"
        sink_start(children, "smtp", smtp_port, mails)
        sink_start(children, "webhook", hook_port, hooks)
        env = worker_env(
            queue=queue,
            broker=broker,
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(smtp_port),
        )
        # This process records the alerts: its after-commit sends go to the same broker and queue.
        celery_publish_to(broker, queue)
        settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
        env["META_CREDENTIALS_KEY"] = credentials_key_new()

        template_schema_ensure()
        client = client_create(
            name="Bench Outage", slug=f"bench-outage-{run_id}",
            owner_email=f"owner@{run_id}.outage.example",
        )  # fmt: skip
        with schema_context(client.schema_name):
            endpoint_create(url=f"http://127.0.0.1:{hook_port}/hook", actor=None)

        children.start("worker", [PYTHON, "-m", "celery", "-A", "portal", "worker", "-Q", queue,
                                  "-c", "2", "--without-gossip", "--without-mingle",
                                  "--without-heartbeat", "-l", "warning"], env)  # fmt: skip
        children.start("beat", [PYTHON, "-m", "celery", "-A", "portal", "beat", "-l", "warning",
                                "-s", str(tmp / "beat-schedule")], env)  # fmt: skip
        time.sleep(5)  # the worker connects before the first alert
        children.check_alive()

        batches = range(0, ALERTS, BATCH)
        gap = RECORD_SECONDS / len(batches)
        started = time.monotonic()
        recorded_at: dict[str, float] = {}
        first_seen: dict[str, float] = {}
        killed_at = back_at = None
        connection.set_schema(client.schema_name)
        try:
            for b, first in enumerate(batches):
                now = time.monotonic()
                if killed_at is None and now - started >= KILL_AFTER_SECONDS:
                    os.killpg(children.children["redis"].pid, signal.SIGKILL)
                    killed_at = now
                elif killed_at and back_at is None and now - killed_at >= DOWN_SECONDS:
                    children.children["redis"].wait(10)
                    children.start("redis-2", redis_cmd, dict(os.environ))
                    back_at = now
                titles = [f"Bench alert {n:05d}" for n in range(first, min(first + BATCH, ALERTS))]
                with transaction.atomic():
                    health_events_record_many(
                        events=[
                            HealthEvent(
                                kind=EventKind.RESTRICTION,
                                severity=Severity.WARNING,
                                title=title,
                                source=EventSource.WEBHOOK,
                                dedupe_key=f"outage-{run_id}-{title}",
                            )
                            for title in titles
                        ]
                    )
                done = time.monotonic()
                recorded_at.update({f"[Bench Outage] {title}": done for title in titles})
                for subject in received(mails):  # when each e-mail arrived, for the anchor
                    first_seen.setdefault(subject, time.monotonic())
                time.sleep(max(0.0, started + (b + 1) * gap - time.monotonic()))
            if back_at is None:
                time.sleep(max(0.0, killed_at + DOWN_SECONDS - time.monotonic()))
                children.children["redis"].wait(10)
                children.start("redis-2", redis_cmd, dict(os.environ))
                back_at = time.monotonic()

            def all_out() -> bool:
                return not (
                    OutboundEmail.objects.exclude(state=EmailState.SENT).exists()
                    or WebhookDelivery.objects.exclude(state=DeliveryState.DELIVERED).exists()
                )

            # Seen at the sinks, not in our own rows: the last e-mail sent is the last received.
            def watch() -> bool:
                for subject in received(mails):
                    first_seen.setdefault(subject, time.monotonic())
                return all_out() and len(first_seen) >= ALERTS

            wait_until("every e-mail and delivery sent", watch, CATCH_UP_LIMIT_SECONDS, every=0.5)
            caught_up = time.monotonic() - back_at
            deliveries = list(WebhookDelivery.objects.values_list("message_id", flat=True))
            emails_left = OutboundEmail.objects.exclude(state=EmailState.SENT).count()
        finally:
            connection.set_schema_to_public()
        time.sleep(2)  # anything sent twice has arrived too
        mail_lines, hook_lines = received(mails), received(hooks)

    mail_counts = Counter(mail_lines)
    hook_counts = Counter(hook_lines)
    alerts = set(recorded_at)
    once = sum(1 for a in alerts if mail_counts[a] == 1)
    twice = sum(1 for a in alerts if mail_counts[a] > 1)
    never = sum(1 for a in alerts if mail_counts[a] == 0)
    # An alert's e-mail under a subject we did not record would be one sent wrongly.
    strays = sum(
        n
        for subject, n in mail_counts.items()
        if "Bench alert" in subject and subject not in alerts
    )
    d_once = sum(1 for m in deliveries if hook_counts[m] == 1)
    d_twice = sum(1 for m in deliveries if hook_counts[m] > 1)
    d_never = sum(1 for m in deliveries if hook_counts[m] == 0)
    before_kill = [
        first_seen[a] - recorded_at[a]
        for a in alerts
        if a in first_seen and recorded_at[a] < killed_at
    ]
    anchor = (
        f"broker up: alert to e-mail, median {statistics.median(before_kill):.2f} s"
        if before_kill
        else "broker up: no alert e-mailed before the kill"
    )
    ok = once == len(alerts) and not (twice or never or strays or emails_left)
    return [
        (f"broker killed {DOWN_SECONDS:.0f} s during {len(alerts):,} alerts: e-mailed once; "
         "twice; never", f"{once:,}; {twice}; {never}", f"{len(alerts):,}; 0; 0",
         "yes" if ok else "NO", anchor),
        (f"broker killed: {len(deliveries):,} webhook deliveries received once; twice; never",
         f"{d_once:,}; {d_twice}; {d_never}", f"{len(deliveries):,}; 0; 0",
         "yes" if d_once == len(deliveries) and deliveries else "NO", anchor),
        ("broker killed: broker back to the last e-mail and delivery sent", f"{caught_up:.0f} s",
         "(no target; the sweeper runs every 30 s)", "-", anchor),
    ]  # fmt: skip
