"""Provisioning a client: cloning the template schema vs replaying every migration."""

from __future__ import annotations

import time

from tests.benchmarks.harness import median, percentile

CLIENTS = 20
TARGET_MEDIAN_S = 0.5
TARGET_RATIO = 1 / 3


def _provision(prefix: str, plain: bool) -> list[float]:
    from tenants.services import client_create

    timings = []
    for i in range(CLIENTS):
        started = time.perf_counter()
        client_create(
            name=f"Bench {prefix} {i}",
            slug=f"bench-{prefix}-{i}",
            owner_email=f"owner{i}@{prefix}.bench",
            plain_migrations=plain,
        )
        timings.append(time.perf_counter() - started)
    return timings


def run() -> list[tuple[str, str, str, str]]:
    from tenants.services import template_schema_ensure

    started = time.perf_counter()
    template_schema_ensure()
    template_s = time.perf_counter() - started
    fast = _provision("fast", plain=False)
    plain = _provision("plain", plain=True)
    ratio = median(fast) / median(plain)
    return [
        ("provisioning: template schema (once)", f"{template_s:.3f} s", "—", ""),
        (
            f"provisioning: clone, median of {CLIENTS}",
            f"{median(fast):.3f} s",
            f"≤ {TARGET_MEDIAN_S} s",
            "yes" if median(fast) <= TARGET_MEDIAN_S else "NO",
        ),
        (f"provisioning: clone, p95 of {CLIENTS}", f"{percentile(fast, 95):.3f} s", "—", ""),
        (f"provisioning: plain migrations, median of {CLIENTS}", f"{median(plain):.3f} s", "—", ""),
        (
            "provisioning: clone ÷ plain migrations",
            f"{ratio:.2f}",
            "≤ 0.33",
            "yes" if ratio <= TARGET_RATIO else "NO",
        ),
    ]
