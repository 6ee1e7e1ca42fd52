"""The pre-send check in process: p99 of one check, and a bulk check of 10,000 recipients.

Targets (issue 5): one check p99 ≤ 10 ms in process; bulk of 10,000 ≤ 300 ms. The client has
10,000 contacts with consent states and 30,000 ledger rows (sends and 131049 failures) in the
last week, so every rule reads real data.
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
TARGET_BULK_MS = 300.0
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
    from templates_review.models import MessageTemplate

    now = timezone.now()
    account = WhatsAppAccount.objects.create(meta_id="1990000001", name="Bench")
    PhoneNumber.objects.create(
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
                phone_number_meta_id=PHONE_ID,
                wamid=f"wamid.bench.{i}",
                recipient=_phone(n)[1:],
                status="failed" if failed else "sent",
                pricing_category="" if failed else "marketing",
                error_code=131049 if failed else None,
                occurred_at=now - timedelta(minutes=rng.randrange(8 * 24 * 60)),
            )
        )
    MessageStatus.objects.bulk_create(rows, batch_size=5000)


def run() -> list[tuple[str, str, str, str]]:
    from django_tenants.utils import schema_context

    from compliance.presend import presend_check, presend_check_bulk
    from tenants.services import client_create, template_schema_ensure

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
    ]
