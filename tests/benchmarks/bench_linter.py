"""Linting one template: median and p95 over a varied corpus (target ≤ 2 ms per template)."""

from __future__ import annotations

import random
import time

from tests.benchmarks.harness import median, percentile

TEMPLATES = 600
ROUNDS = 5
TARGET_MS = 2.0

_WORDS = [
    "your",
    "order",
    "has",
    "shipped",
    "and",
    "will",
    "arrive",
    "soon",
    "thank",
    "you",
    "for",
    "shopping",
    "with",
    "us",
    "today",
    "we",
    "confirm",
    "the",
    "booking",
    "reference",
    "payment",
    "received",
    "invoice",
    "attached",
    "appointment",
    "reminder",
    "please",
    "reply",
    "if",
    "anything",
    "looks",
    "wrong",
]


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def _body(rng: random.Random, params: int, words: int, named: bool) -> dict:
    parts = [_sentence(rng, 4)]
    for i in range(1, params + 1):
        token = f"{{{{field_{i}}}}}" if named else f"{{{{{i}}}}}"
        parts.append(f"{token} {_sentence(rng, max(2, words // max(params, 1)))}")
    text = " ".join(parts)[:1100]  # a few run over 1024 on purpose
    if named:
        example = {
            "body_text_named_params": [
                {"param_name": f"field_{i}", "example": f"value {i}"} for i in range(1, params + 1)
            ]
        }
    else:
        example = {"body_text": [[f"value {i}" for i in range(1, params + 1)]]}
    return {"type": "BODY", "text": text, "example": example}


def _template(rng: random.Random, index: int) -> dict:
    """One of several shapes: clean, heavy, broken, authentication, promotional, emoji-laden."""
    shape = index % 6
    named = shape == 1
    components: list[dict] = []
    category = ("UTILITY", "MARKETING")[index % 2]
    if shape in (0, 1, 3):
        components.append(
            {
                "type": "HEADER",
                "format": "TEXT",
                "text": "Update for {{1}}" if not named else "Update for {{name}}",
                "example": {"header_text": ["Ana"]}
                if not named
                else {"header_text_named_params": [{"param_name": "name", "example": "Ana"}]},
            }
        )
    elif shape == 2:
        components.append({"type": "HEADER", "format": "IMAGE"})  # no handle: an error
    components.append(_body(rng, params=rng.randint(0, 8), words=rng.randint(10, 160), named=named))
    if shape == 2:
        components[-1]["text"] = "{{1}}{{2}} BUY NOW!!! 🎉🎉🎉 bit.ly/x card number {{3}}"
    if shape == 5:
        components[-1]["text"] += " Hurry, 50% off for SHOPPING FANS TODAY!! 😀😀😀"
    components.append({"type": "FOOTER", "text": "Reply STOP to unsubscribe"})
    buttons = [{"type": "QUICK_REPLY", "text": f"Option {i}"} for i in range(rng.randint(0, 7))]
    buttons += [
        {
            "type": "URL",
            "text": "Track",
            "url": "https://acme.example/t/{{1}}",
            "example": ["https://acme.example/t/1"],
        },
        {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+15550100200"},
    ]
    if shape == 4:
        category = "AUTHENTICATION"
        components = [
            {"type": "BODY", "add_security_recommendation": True},
            {"type": "FOOTER", "code_expiration_minutes": 10},
        ]
        buttons = [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]
    components.append({"type": "BUTTONS", "buttons": buttons})
    return {
        "name": f"bench_template_{index}",
        "language": "en_US",
        "category": category,
        "parameter_format": "named" if named else "positional",
        "components": components,
    }


def run() -> list[tuple[str, str, str, str]]:
    from templates_review.linter import lint_template

    rng = random.Random(4)  # a fixed corpus: the same figures every run
    corpus = [_template(rng, i) for i in range(TEMPLATES)]
    for template in corpus:  # warm up
        lint_template(**template)
    timings_ms: list[float] = []
    findings = 0
    for _ in range(ROUNDS):
        for template in corpus:
            started = time.perf_counter()
            result = lint_template(**template)
            timings_ms.append((time.perf_counter() - started) * 1000)
            findings += len(result)
    p50, p95 = median(timings_ms), percentile(timings_ms, 95)
    return [
        (
            f"lint: median per template ({TEMPLATES} templates, {ROUNDS} rounds)",
            f"{p50:.3f} ms",
            f"≤ {TARGET_MS} ms",
            "yes" if p50 <= TARGET_MS else "NO",
        ),
        (
            "lint: p95 per template",
            f"{p95:.3f} ms",
            f"≤ {TARGET_MS} ms",
            "yes" if p95 <= TARGET_MS else "NO",
        ),
        ("lint: max per template", f"{max(timings_ms):.3f} ms", "—", ""),
        ("lint: findings per template (mean)", f"{findings / len(timings_ms):.1f}", "—", ""),
    ]
