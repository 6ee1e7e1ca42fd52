"""The pre-send check: p99 of one check in process and over HTTP, and a bulk check of 10,000.

Targets (issues 5, 13, 17): one check p99 ≤ 10 ms in process, ≤ 25 ms over HTTP; bulk of
10,000 ≤ 200 ms, with the 2026 eligibility rules (US marketing, BSUID recipients, back-offs) and
the portfolio headroom (the number's portfolio has a 100K limit and the ledger's sends count).
Over HTTP: gunicorn as deployed (`deploy/gunicorn.conf.py`, 2 workers x 4 threads) on a
loopback port, one keep-alive client sending `POST /api/v1/send-check/` with an API key, one
request at a time, so the figure is the latency of one check as an integration sees it.

The client has 10,000 contacts with consent states and 30,000 ledger rows (sends and 131049
failures) in the last week, so every rule reads real data.
"""

from __future__ import annotations

import random
import time
from datetime import timedelta

from tests.benchmarks.harness import median, percentile

CONTACTS = 10_000
LEDGER_ROWS = 30_000
SINGLE_CHECKS = 500
BULK_ROUNDS = 5
TARGET_SINGLE_P99_MS = 10.0
TARGET_BULK_MS = 200.0
TARGET_HTTP_P99_MS = 25.0
HTTP_WARMUP = 100
HTTP_CHECKS = 2000
PHONE_ID = "2990000001"


def _phone(n: int) -> str:
    return f"+4479111{n:05d}"


def _seed(rng: random.Random) -> None:
    from django.utils import timezone

    from compliance.models import (
        ConsentState,
        Contact,
        MessageStatus,
        PhoneNumber,
        WhatsAppAccount,
    )
    from compliance.portfolio import account_portfolio_set, portfolio_usage_fold
    from templates_review.models import MessageTemplate

    now = timezone.now()
    account = WhatsAppAccount.objects.create(meta_id="1990000001", name="Bench")
    portfolio = account_portfolio_set(account=account, business_id="5990000009", name="Bench")
    portfolio.messaging_limit = "tier_100k"
    portfolio.save()
    number = PhoneNumber.objects.create(
        account=account,
        meta_id=PHONE_ID,
        display_phone_number="+1 555 010 9999",
        status="connected",
        quality="high",
    )
    MessageTemplate.objects.create(
        account=account,
        name="autumn_sale",
        language="en_GB",
        category="marketing",
        meta_status="approved",
        quality="high",
    )
    contacts = Contact.objects.bulk_create(
        [Contact(phone=_phone(n)) for n in range(CONTACTS)], batch_size=2000
    )
    statuses = ["opted_in"] * 8 + ["opted_out", "unknown"]
    ConsentState.objects.bulk_create(
        [
            ConsentState(contact=c, category="marketing", status=rng.choice(statuses))
            for c in contacts
        ],
        batch_size=2000,
    )
    rows = []
    for i in range(LEDGER_ROWS):
        n = rng.randrange(CONTACTS)
        failed = i % 20 == 0
        rows.append(
            MessageStatus(
                number=number,
                phone_number_meta_id=PHONE_ID,
                wamid=f"wamid.bench.{i}",
                recipient=_phone(n)[1:],
                status="failed" if failed else "sent",
                pricing_category="" if failed else "marketing",
                pricing_type="" if failed else "regular",
                error_code=131049 if failed else None,
                occurred_at=now - timedelta(minutes=rng.randrange(8 * 24 * 60)),
            )
        )
    MessageStatus.objects.bulk_create(rows, batch_size=5000)
    portfolio_usage_fold(portfolio=portfolio, rescan=True)


def _over_http(*, slug: str, raw_key: str, rng: random.Random) -> list[float]:
    """Latencies (ms) of single checks through gunicorn, after a warm-up."""
    import http.client
    import json
    import secrets
    import shutil
    import tempfile
    import uuid
    from contextlib import ExitStack
    from pathlib import Path

    from tests.benchmarks.bench_webhook_intake import _gunicorn_env
    from tests.benchmarks.procs import PYTHON, BenchFailure, Children, free_port, wait_until

    port = free_port()
    host = f"{slug}.localhost"
    with ExitStack() as cleanup:
        tmp = Path(tempfile.mkdtemp(prefix="bench-presend-"))
        cleanup.callback(shutil.rmtree, tmp, ignore_errors=True)
        children = Children(tmp)
        cleanup.callback(children.stop_all)
        env = _gunicorn_env(
            port=port,
            queue=f"bench-presend-{uuid.uuid4().hex[:8]}",
            app_secret=secrets.token_hex(16),
        )
        env["PORTAL_DOMAIN"] = "localhost"
        children.start(
            "gunicorn",
            [
                PYTHON, "-m", "gunicorn",
                "--config", "deploy/gunicorn.conf.py",
                "--bind", f"127.0.0.1:{port}",
                "--workers", "2",
                "--threads", "4",
                "portal.wsgi:application",
            ],
            env,
        )  # fmt: skip

        def ready() -> bool:
            children.check_alive()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/readyz", headers={"Host": "127.0.0.1"})
                return conn.getresponse().status == 200
            except OSError:
                return False

        wait_until("gunicorn to answer /readyz", ready, 60, every=0.2)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {
            "Host": host,
            "Authorization": f"Bearer {raw_key}",
            "Content-Type": "application/json",
        }
        latencies = []
        for n in range(HTTP_WARMUP + HTTP_CHECKS):
            body = json.dumps(
                {
                    "recipient": _phone(rng.randrange(CONTACTS)),
                    "template": {"name": "autumn_sale", "language": "en_GB"},
                    "phone_number_id": PHONE_ID,
                }
            )
            started = time.perf_counter()
            conn.request("POST", "/api/v1/send-check/", body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200 or b'"allowed"' not in answer:
                raise BenchFailure(
                    f"send-check answered {response.status}: {answer[:300]!r}\n"
                    + children.log("gunicorn")
                )
            if n >= HTTP_WARMUP:
                latencies.append(elapsed)
        conn.close()
    return latencies


def run() -> list[tuple[str, str, str, str]]:
    from django_tenants.utils import schema_context

    from compliance.presend import presend_check, presend_check_bulk
    from tenants.services import api_key_create, client_create, template_schema_ensure

    rng = random.Random(5)
    template_schema_ensure()
    client = client_create(
        name="Bench Presend", slug="bench-presend", owner_email="owner@bench-presend.example"
    )
    with schema_context(client.schema_name):
        _seed(rng)
        template = ("autumn_sale", "en_GB")
        single = []
        for _ in range(SINGLE_CHECKS):
            recipient = _phone(rng.randrange(CONTACTS))
            started = time.perf_counter()
            presend_check(recipient=recipient, phone_number_id=PHONE_ID, template=template)
            single.append((time.perf_counter() - started) * 1000)
        everyone = [_phone(n) for n in range(CONTACTS)]
        bulk = []
        allowed = 0
        for _ in range(BULK_ROUNDS):
            started = time.perf_counter()
            decisions = presend_check_bulk(
                recipients=everyone, phone_number_id=PHONE_ID, template=template
            )
            bulk.append((time.perf_counter() - started) * 1000)
            allowed = sum(d.allowed for d in decisions)
    _, raw_key = api_key_create(client=client, name="bench", scopes=["read"])
    over_http = _over_http(slug=client.slug, raw_key=raw_key, rng=rng)
    http_p99 = percentile(over_http, 99)
    p99 = percentile(single, 99)
    bulk_ms = median(bulk)
    return [
        (
            f"pre-send check: one recipient, p99 of {SINGLE_CHECKS}",
            f"{p99:.2f} ms",
            f"≤ {TARGET_SINGLE_P99_MS:.0f} ms",
            "yes" if p99 <= TARGET_SINGLE_P99_MS else "NO",
        ),
        ("pre-send check: one recipient, median", f"{median(single):.2f} ms", "—", ""),
        (
            f"pre-send check: bulk of {CONTACTS:,}, median of {BULK_ROUNDS}",
            f"{bulk_ms:.0f} ms",
            f"≤ {TARGET_BULK_MS:.0f} ms",
            "yes" if bulk_ms <= TARGET_BULK_MS else "NO",
        ),
        (f"pre-send check: bulk allowed of {CONTACTS:,}", f"{allowed:,}", "—", ""),
        (
            f"pre-send check over HTTP (gunicorn 2x4, keep-alive): p99 of {HTTP_CHECKS}",
            f"{http_p99:.2f} ms",
            f"≤ {TARGET_HTTP_P99_MS:.0f} ms",
            "yes" if http_p99 <= TARGET_HTTP_P99_MS else "NO",
        ),
        ("pre-send check over HTTP: median", f"{median(over_http):.2f} ms", "—", ""),
    ]
