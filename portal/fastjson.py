"""JSON in the webhook drain's hot path: orjson where its result is the standard module's.

A drain reads every delivery's body, loads every stored change's value and sends every batch's
rows as one JSON parameter; with the standard module those were about a sixth of its time.
orjson is several times faster, but does not read everything `json` does (NaN, Infinity, lone
surrogate escapes, numbers past a double's range) and reads integers of 19 digits or more as
floats. So text holding any of those (or a run of 19 digits anywhere, even inside a string)
goes to `json`, whose results and errors stay the ones every caller knows. One edge differs:
text nested between about 950 levels (where `json` runs out of stack) and orjson's 1,024 is
read, not refused; the webhook envelope then refuses the part nested deeper than 32 levels.
"""

from __future__ import annotations

import json
from datetime import date, time
from typing import Any

import orjson

# Every digit as "0", so a run of 19 is one substring search (a regex for it cost three times
# the parse it guarded).
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19


def loads(text: str | bytes) -> Any:
    """`json.loads(text)` (bytes as UTF-8), with the same result and the same errors."""
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    if _LONG_RUN not in data.translate(_DIGITS_AS_ZERO):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # json says what is wrong (or reads what orjson does not)
    return json.loads(text)


def dumps_compact(value: Any) -> str:
    """`json.dumps(value, separators=(",", ":"))` for database parameters: dates and times as
    ISO 8601 with their microseconds, non-ASCII as itself (the same JSON to PostgreSQL, not
    the same text), a float NaN as null (json writes NaN, which PostgreSQL refuses). Anything
    orjson refuses (an integer past 64 bits, a non-string key, a type
    it does not know) goes to json, with ISO dates the only addition."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, default=_iso, separators=(",", ":"))


def _iso(value):
    if isinstance(value, date | time):  # datetimes too
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
