"""Scenarios: what the simulator starts with, from a JSON file or a dict.

```json
{
  "tokens": ["dev-system-user-token"],        // accepted Bearer tokens
  "start_time": 1767225600,                   // optional: the simulated clock's start (unix)
  "review_delay_seconds": 60,                 // template review after creation or edit
  "review_rules": [                           // first match on the template name (fnmatch)
    {"match": "*promo*", "outcome": "REJECTED", "reason": "PROMOTIONAL"},
    {"match": "*", "outcome": "APPROVED"}     // default when nothing matches: APPROVED
  ],
  "template_limit_per_waba": 250,             // creation beyond → subcode 2388019
  "rate_limit_per_hour": null,                // calls per WABA per rolling (simulated) hour → 80007
  "wabas": [{
    "id": "1110000001", "name": "Acme Retail", "client": "acme",   // "client": free label
    "business_id": "...", "currency": "USD", "timezone_id": "1",
    "message_template_namespace": "...", "account_review_status": "APPROVED",
    "business_verification_status": "VERIFIED",
    "phone_numbers": [{"id": "...", "display_phone_number": "+1 555-010-0001",
                        "verified_name": "Acme Retail", "status": "CONNECTED",
                        "quality_rating": "GREEN", "messaging_limit": "TIER_10K",
                        "throughput": "STANDARD", ...any other Meta field, kept as given...}],
    "message_templates": [{"id": "...", "name": "order_update", "language": "en_US",
                           "category": "UTILITY", "status": "APPROVED", "quality": "GREEN",
                           "parameter_format": "positional", "components": [...],
                           "review_outcome": {"outcome": "REJECTED", "reason": "..."}}]
  }],
  "events": [{"at": 30, "type": "number_quality", "phone_number_id": "...", "quality": "YELLOW"}]
}
```

Numbers: `messaging_limit` sets both `whatsapp_business_manager_messaging_limit` and the legacy
`messaging_limit_tier`; give those Meta fields directly (or `null`) to test one form only. A
`health_status` given on a number or WABA is served verbatim instead of the computed one.
Enum values are not checked, so a scenario can serve tokens Meta may add tomorrow.

`generate()` builds large scenarios for benchmarks; see its docstring for the id scheme.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

SCENARIOS_DIR = Path(__file__).with_name("scenarios")


def load(scenario: dict | str | Path) -> dict:
    """A deep copy of a scenario dict, a JSON file's content, or a bundled scenario by name."""
    if isinstance(scenario, dict):
        return _with_portfolios(copy.deepcopy(scenario))
    path = Path(scenario)
    if not path.exists() and (SCENARIOS_DIR / f"{scenario}.json").exists():
        path = SCENARIOS_DIR / f"{scenario}.json"
    return _with_portfolios(json.loads(path.read_text(encoding="utf-8")))


def _with_portfolios(data: dict) -> dict:
    """Each WABA names its owner portfolio as Meta's WABA node does (`owner_business_info`,
    meta-platform §2), from its `business_id` (and optional `business_name`,
    `business_onboarding`: the portfolio's Marketing Messages onboarding status)."""
    for waba in data.get("wabas") or ():
        if "owner_business_info" in waba or not waba.get("business_id"):
            continue
        owner = {
            "id": str(waba["business_id"]),
            "name": waba.get("business_name") or waba.get("name") or "",
            "verification_status": str(
                waba.get("business_verification_status") or "unverified"
            ).lower(),
        }
        if waba.get("business_onboarding"):
            owner["marketing_messages_onboarding_status"] = {"status": waba["business_onboarding"]}
        waba["owner_business_info"] = owner
    return data


DEMO = SCENARIOS_DIR / "demo.json"

_BODY = "Hello {{1}}, your order {{2}} has an update. Reply STOP to opt out."
_QUALITIES = ("GREEN", "GREEN", "GREEN", "YELLOW", "RED")


def waba_id_for(client: int) -> str:
    return f"3{client:09d}"


def business_id_for(client: int) -> str:
    return f"6{client:09d}"


def phone_number_id_for(client: int, number: int) -> str:
    return f"4{client:07d}{number:02d}"


def template_id_for(client: int, template: int) -> str:
    return f"5{client:06d}{template:03d}"


def generate(
    clients: int, numbers_per_waba: int = 3, templates_per_waba: int = 20, seed: int = 0
) -> dict:
    """A scenario of `clients` WABAs (one per client) for benchmarks.

    Ids are deterministic, 10 digits, from the 0-based client index `c`, number `n` and
    template `t`: WABA `3` + c (9 digits) → "3000000000", "3000000001", ...; business
    `6` + c (9 digits); phone number `4` + c (7 digits) + n (2 digits) → "4000000000",
    "4000000001", ...; template `5` + c (6 digits) + t (3 digits) → "5000000000", ... Hence
    c < 10^6, n < 100, t < 1000. Display numbers are "+1 555-<c>-<n>"-like and unique. The
    WABA's `client` label is "client<c>" (c zero-padded to 5 digits). `seed` only varies
    qualities (mostly GREEN) and template categories; the same arguments always give the
    same scenario. Token: "bench-token".
    """
    if numbers_per_waba >= 100 or templates_per_waba >= 1000 or clients >= 10**6:
        raise ValueError("generate(): under 10^6 clients, 100 numbers, 1000 templates per WABA")
    rng = random.Random(seed)  # noqa: S311 - deterministic test data
    wabas: list[dict[str, Any]] = []
    for c in range(clients):
        numbers = [
            {
                "id": phone_number_id_for(c, n),
                "display_phone_number": f"+1 555-{c:07d}-{n:02d}",
                "verified_name": f"Client {c}",
                "status": "CONNECTED",
                "quality_rating": rng.choice(_QUALITIES[:4]),
                "messaging_limit": "TIER_10K",
                "throughput": "STANDARD",
                "name_status": "APPROVED",
                "code_verification_status": "VERIFIED",
                "platform_type": "CLOUD_API",
                "account_mode": "LIVE",
            }
            for n in range(numbers_per_waba)
        ]
        templates = [
            {
                "id": template_id_for(c, t),
                "name": f"template_{t:03d}",
                "language": "en_US",
                "category": rng.choice(("UTILITY", "MARKETING")),
                "status": "APPROVED",
                "quality": rng.choice(_QUALITIES[:4]),
                "parameter_format": "positional",
                "components": [
                    {
                        "type": "BODY",
                        "text": _BODY,
                        "example": {"body_text": [["Ana", "A-1"]]},
                    }
                ],
            }
            for t in range(templates_per_waba)
        ]
        wabas.append(
            {
                "id": waba_id_for(c),
                "name": f"Client {c}",
                "client": f"client{c:05d}",
                "business_id": business_id_for(c),
                "currency": "USD",
                "timezone_id": "1",
                "message_template_namespace": f"ns_{c:07d}",
                "account_review_status": "APPROVED",
                "business_verification_status": "VERIFIED",
                "phone_numbers": numbers,
                "message_templates": templates,
            }
        )
    return {"tokens": ["bench-token"], "review_delay_seconds": 60, "wabas": wabas, "events": []}
