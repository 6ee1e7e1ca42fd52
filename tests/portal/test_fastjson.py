"""`portal.fastjson`: orjson's speed with the standard module's results and errors."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest

from portal import fastjson

TEXTS = [
    '{"a":1,"a":2}',  # the last key wins, in both
    '{"n":123456789012345678901234567890}',  # orjson would read a float
    '{"n":-9223372036854775809,"m":18446744073709551615}',
    '{"id":"wamid.1234567890123456789012"}',  # 19 digits in a string: json, same result
    '{"x":NaN,"y":-Infinity}',
    '{"s":"\\ud800"}',  # a lone surrogate escape: json reads it
    '{"s":"\\ud83d\\ude00 \\u00e9 \\u0000 é ✋"}',
    '{"f":[1.0,-0.0,0.1,1e-7,1.7976931348623157e308,1e400,5e-324]}',
    '{"deep":' + "[" * 40 + "]" * 40 + "}",
    '[1, "two", null, true, false, {}]',
    '  {\n\t"spaced" : [ 1 , 2 ] }  ',
    "\ufeff{}",  # a BOM: refused by both
    '{"a":1,}',
    "{nope",
    '{"ctrl":"a\tb"}',  # a raw tab in a string: refused by both
    "",
]


def outcome(fn, text):
    try:
        return "ok", fn(text)
    except (ValueError, RecursionError) as exc:
        return "error", f"{type(exc).__name__}: {exc}"


def same(a, b) -> bool:
    """Equal, NaN included, and of the same types all the way down (1 is not 1.0)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return math.copysign(1, a) == math.copysign(1, b) and a == b
    return a == b


@pytest.mark.parametrize("text", TEXTS)
def test_loads_reads_what_json_reads_and_refuses_what_it_refuses(text):
    for given in (text, text.encode("utf-8", "surrogatepass")):
        expected = outcome(json.loads, given)  # bytes: json reads a BOM, as UTF-8-sig
        got = outcome(fastjson.loads, given)
        assert got[0] == expected[0]
        if expected[0] == "ok":
            assert same(got[1], expected[1])
        else:
            assert type(got[1]) is type(expected[1])


def test_dumps_compact_is_the_same_json_with_dates_to_the_microsecond():
    at = datetime(2026, 12, 7, 23, 27, 27, 56140, tzinfo=UTC)
    rows = [
        ["720", "wamid.1", None, 131048, True, at, at.replace(tzinfo=None), date(2026, 1, 2)],
        {"é": "✋ \u2028 \x00", "t": time(9, 30, 0, 5), "n": -(2**63), "f": 0.1},
        [at.astimezone(timezone(timedelta(hours=5, minutes=30))), at.replace(microsecond=0)],
    ]
    standard = json.dumps(rows, default=fastjson._iso, separators=(",", ":"))
    assert json.loads(fastjson.dumps_compact(rows)) == json.loads(standard)
    assert "23:27:27.056140+00:00" in fastjson.dumps_compact(rows)


@pytest.mark.parametrize(
    "value",
    [[10**30], {1: "a non-string key"}, [time(9, 30, tzinfo=UTC)], ["\ud800"]],
)
def test_dumps_compact_leaves_to_json_what_orjson_refuses(value):
    standard = json.dumps(value, default=fastjson._iso, separators=(",", ":"))
    assert fastjson.dumps_compact(value) == standard


def test_dumps_compact_refuses_what_json_refuses():
    with pytest.raises(TypeError):
        fastjson.dumps_compact([{1, 2}])
