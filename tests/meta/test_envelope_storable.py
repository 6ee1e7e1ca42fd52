"""`envelope.storable` walks containers and checks scalars in place; it must refuse exactly
what the walk of every node refused (kept here as the reference), and `strings_storable` must
never let a body through whose strings hold a NUL or a lone surrogate."""

from __future__ import annotations

import json
import math
import random

import pytest

from portal.meta.webhooks import envelope
from portal.meta.webhooks.fields._read import MAX_NODES


def reference(value, where: str) -> str:
    """The walk of every node, as it was (plus the part count `check_tree` makes)."""
    stack = [(value, 1)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            return f"{where} has more than {MAX_NODES} parts."
        if depth > envelope.MAX_DEPTH:
            return f"{where} is nested deeper than {envelope.MAX_DEPTH} levels."
        if isinstance(node, dict):
            for k, v in node.items():
                if problem := envelope._text_problem(k):
                    return f"{where} has a key with {problem}."
                stack.append((v, depth + 1))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
        elif isinstance(node, str) and (problem := envelope._text_problem(node)):
            return f"{where} has a string with {problem}."
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node) >= 10**30:
            return f"{where} has a number too large to be one of Meta's."
        elif isinstance(node, float) and not math.isfinite(node):
            return f"{where} has {node}, not a number JSON can store."
    return ""


def nested(depth: int, leaf) -> dict:
    value = leaf
    for _ in range(depth - 1):
        value = {"a": value}
    return value if isinstance(value, dict) else {"a": value}


ONE_PROBLEM = [
    {"statuses": [{"id": "wamid.1", "status": "read", "pricing": {"billable": True}}]},
    {"a": "x\x00"},
    {"a\x00": 1},
    {"a": ["ok", {"b": "\ud800"}]},
    {"\udfff": []},
    {"n": 10**30},
    {"n": -(10**30) + 1, "m": True, "o": None, "p": 1.5},
    {"f": [float("nan")]},
    {"f": {"g": -float("inf")}},
    nested(32, "leaf"),
    nested(33, "leaf"),
    nested(32, {}),
    nested(33, {}),
    nested(33, []),
    nested(31, [[]]),
    nested(31, [["x"]]),
    {"x": [0] * (MAX_NODES - 2)},
    {"x": [0] * (MAX_NODES - 1)},
    {"x": [[0] * 1000 for _ in range(200)]},
    {},
    {"empty": [[], {}, ""]},
]


@pytest.mark.parametrize("value", ONE_PROBLEM)
@pytest.mark.parametrize("strings_checked", [False, True])
def test_storable_refuses_what_the_walk_of_every_node_refused(value, strings_checked):
    expected = reference(value, "v")
    if strings_checked and ("NUL" in expected or "surrogate" in expected):
        expected = ""  # the body said no string holds one: not looked for
    assert envelope.storable(value, "v", strings_checked=strings_checked) == expected


def test_storable_agrees_with_the_reference_on_random_values():
    rng = random.Random(12)
    atoms = ["", "ok", "é ✋", "\x00", "\ud800", 0, -5, 10**30, 1.5, float("nan"), True, None]

    def make(depth: int):
        roll = rng.random()
        if depth > 36 or roll < 0.35:
            return rng.choice(atoms)
        if roll < 0.7:
            return {
                rng.choice(["a", "b", "c\x00" if rng.random() < 0.02 else "d"]): make(depth + 1)
                for _ in range(rng.randint(0, 3))
            }
        return [make(depth + 1) for _ in range(rng.randint(0, 3))]

    for _ in range(3000):
        value = {"v": make(1)}
        assert bool(envelope.storable(value, "v")) == bool(reference(value, "v")), value


@pytest.mark.parametrize(
    ("text", "quick"),
    [
        ("plain ascii", True),
        ("é ✋ 中文", True),  # escaped as \u00e9 and so on: no NUL, no surrogate
        ("\x00", False),
        ("\ud800", False),
        ("\udc00 alone", False),
        ("😀", False),  # a surrogate pair once escaped: checked one by one (and fine)
        ("\\u0000 as text", False),  # an escaped backslash: checked one by one (and fine)
    ],
)
def test_a_body_says_whether_its_strings_need_checking(text, quick):
    body = json.dumps({"k": text, text: 1}).encode()
    assert envelope.strings_storable(body) is quick


def test_a_body_said_to_need_no_check_has_no_string_that_would_fail_it():
    rng = random.Random(7)
    pool = ["a", "é", "✋", "😀", "\x00", "\ud800", "\udfff", "\\", "u", "0", "d", "8"]
    for _ in range(5000):
        strings = ["".join(rng.choices(pool, k=rng.randint(0, 6))) for _ in range(3)]
        value = {strings[0]: strings[1], "k": [strings[2]]}
        for ensure_ascii in (True, False):
            body = json.dumps(value, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                continue  # a raw surrogate is not UTF-8: the body is refused before this
            if envelope.strings_storable(body):
                assert not any(envelope._text_problem(s) for s in strings), body


def test_the_fast_canonical_text_is_the_standard_ones_byte_for_byte():
    """Every change's dedupe key is the hash of this text: a key stored before must still be
    the key of the same change delivered again."""
    rng = random.Random(3)
    chars = [chr(i) for i in range(128)] + ["é", "\u2028", "✋", "😀", "中"]
    ints = [0, 1, -1, 7, 2**31, 2**53 + 1, 2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**70)]

    def make(depth: int):
        roll = rng.random()
        if depth > 6 or roll < 0.4:
            return rng.choice(
                [
                    "".join(rng.choices(chars, weights=[20] * 128 + [1] * 5, k=rng.randint(0, 8))),
                    rng.choice(ints),
                    True,
                    False,
                    None,
                ]
            )
        if roll < 0.75:
            keys = ["".join(rng.choices(chars[32:127], k=rng.randint(0, 4))) for _ in range(4)]
            return {k: make(depth + 1) for k in keys[: rng.randint(0, 4)]}
        return [make(depth + 1) for _ in range(rng.randint(0, 4))]

    fast = 0
    for _ in range(5000):
        value = {"v": make(1), "statuses": [{"id": "wamid.1", "timestamp": "1765000000"}]}
        assert envelope._screen(value, "v", False)[1]  # plain: no float
        expected = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
        text = envelope._canonical_fast(value)
        assert text == expected
        fast += text.isascii()
    assert fast > 1000  # most went the fast way


def test_a_value_with_a_float_is_not_plain_and_keeps_the_standard_text():
    value = {"f": [1.0, 1e16, 1e-07, 0.1], "n": 1}
    assert envelope._screen(value, "v", False) == ("", False)
    (change,) = envelope.split(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
        }
    )
    assert change.value_json == json.dumps(value, sort_keys=True, separators=(",", ":"))
