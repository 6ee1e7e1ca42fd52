"""Strict readers for webhook values: each returns our type or raises `WebhookRejected` with a
reason that names the exact place (`statuses[2].errors[0].code`) and what was wrong there.

Every string is bounded (by the column it ends in, or by what Meta documents), every integer by
its column, every time by a sane range; NUL characters and lone surrogates are refused anywhere
in a value (PostgreSQL cannot store them, so they would fail again on every retry).
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

from portal.meta.webhooks.contract import WebhookRejected
from portal.threadflags import ThreadFlag

E = TypeVar("E", bound=Enum)

INT_MAX = 2**31 - 1  # a PostgreSQL integer column
MAX_DEPTH = 32  # Meta's values nest a handful of levels
MAX_NODES = 200_000  # ~1,000 statuses of a few dozen nodes each, with room to spare
# Unix times Meta can state: from 2000 to 2100 (a wrong unit or a garbled value is refused).
MIN_UNIX, MAX_UNIX = 946_684_800, 4_102_444_800
ID_MAX = 64  # Meta's numeric ids and our columns for them

_TYPE_NAMES = {
    dict: "an object",
    list: "a list",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def kind_of(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def reject(path: str, problem: str) -> WebhookRejected:
    return WebhookRejected(f"{path}: {problem}")


_screened = ThreadFlag()


def values_screened() -> AbstractContextManager[None]:
    """Inside, `check_tree` passes its values without a walk: the webhook pipeline's changes
    were stored only after the split screened them (`envelope.storable` refuses all that
    `check_tree` refuses, and more), so walking each again cost a twentieth of a drain."""
    return _screened.set_to(True)


def check_tree(value: Any, path: str = "value") -> None:
    """Walk the whole value once (iteratively: no recursion however deep it is) and refuse
    what no column could hold: too deep, too big, a NUL or lone surrogate in any key or
    string, a float that is not finite. Inside `values_screened`, nothing to do.

    Each node carries a link to its parent and its step from it (a key or an index), not its
    path: every status of every batch goes through here, and a path string per node was most
    of the walk's cost. The path is spelled out only for the node that is refused."""
    if _screened:
        return
    stack: list[tuple[Any, int, tuple | None]] = [(value, 0, None)]
    nodes = 0
    while stack:
        node, depth, link = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise reject(path, f"more than {MAX_NODES} parts")
        if depth > MAX_DEPTH:
            raise reject(_path_of(path, link), f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, str):
            if problem := _chars_problem(node):
                raise reject(_path_of(path, link), problem)
        elif isinstance(node, dict):
            for key, child in node.items():
                if problem := _chars_problem(str(key)):
                    raise reject(f"{_path_of(path, link)} (a key)", problem)
                stack.append((child, depth + 1, (link, str(key))))
        elif isinstance(node, list):
            stack.extend((child, depth + 1, (link, index)) for index, child in enumerate(node))
        elif isinstance(node, float) and not math.isfinite(node):
            raise reject(_path_of(path, link), f"{node} is not a finite number")


def _path_of(root: str, link: tuple | None) -> str:
    """`value.statuses[2].errors[0]` from the refused node's links (an index or a key)."""
    steps = []
    while link is not None:
        link, step = link
        steps.append(f"[{step}]" if isinstance(step, int) else f".{step}")
    return root + "".join(reversed(steps))


def _chars_problem(text: str) -> str:
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode)"
    return ""


def obj(parent: dict, key: str, path: str, *, required: bool = False) -> dict | None:
    value = parent.get(key)
    if value is None:
        if required:
            raise reject(f"{path}.{key}", "missing")
        return None
    if not isinstance(value, dict):
        raise reject(f"{path}.{key}", f"expected an object, got {kind_of(value)}")
    return value


def as_obj(value: Any, path: str) -> dict:
    if not isinstance(value, dict):
        raise reject(path, f"expected an object, got {kind_of(value)}")
    return value


def items(parent: dict, key: str, path: str) -> list:
    """A list (missing or null reads as empty); its items are checked by the caller."""
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise reject(f"{path}.{key}", f"expected a list, got {kind_of(value)}")
    return value


def text(
    parent: dict, key: str, path: str, *, max_len: int, required: bool = False, default: str = ""
) -> str:
    value = parent.get(key)
    if type(value) is str and len(value) <= max_len and (not required or value.strip()):
        return value  # the common case, before any path is built (a status has a dozen reads)
    if value is None and not required:
        return default  # the other common case: an optional part Meta left out
    where = f"{path}.{key}"
    if value is None:
        raise reject(where, "missing")
    if not isinstance(value, str):
        raise reject(where, f"expected a string, got {kind_of(value)}")
    if required and not value.strip():
        raise reject(where, "empty")
    if len(value) > max_len:
        raise reject(where, f"{len(value)} characters long (at most {max_len})")
    return value


def optional_text(parent: dict, key: str, path: str, *, max_len: int) -> str | None:
    value = text(parent, key, path, max_len=max_len)
    return value or None


def ident(
    parent: dict, key: str, path: str, *, max_len: int = ID_MAX, required: bool = False
) -> str | None:
    """An id Meta sends as an integer or a string (`message_template_id`, `wa_id`, …)."""
    value = parent.get(key)
    if type(value) is str and 0 < len(value) <= max_len and value == value.strip():
        return value  # the common case, before any path is built
    if value is None and not required:
        return None  # the other common case: an optional id Meta left out
    where = f"{path}.{key}"
    if value is None or value == "":
        if required:
            raise reject(where, "missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise reject(where, f"expected an id (a string or an integer), got {kind_of(value)}")
    if isinstance(value, int) and value < 0:
        raise reject(where, f"{value} is not an id")
    result = str(value)
    if len(result) > max_len:
        raise reject(where, f"{len(result)} characters long (at most {max_len})")
    if result != result.strip():
        raise reject(where, "has surrounding whitespace")
    return result


def integer(
    parent: dict,
    key: str,
    path: str,
    *,
    low: int = -INT_MAX - 1,
    high: int = INT_MAX,
    required: bool = False,
) -> int | None:
    """An integer, or a string of one (Meta is not consistent), within a column's range."""
    value = parent.get(key)
    where = f"{path}.{key}"
    if value is None:
        if required:
            raise reject(where, "missing")
        return None
    number = _as_int(value, where)
    if not low <= number <= high:
        raise reject(where, f"{number} is out of range ({low} to {high})")
    return number


def _as_int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise reject(where, "expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    digits = value.strip().lstrip("-") if isinstance(value, str) else ""
    # ASCII only: str.isdigit() is also true of "²", which int() refuses, and of other scripts'
    # digits, which Meta never sends.
    if digits.isascii() and digits.isdigit() and len(value) <= 20:
        return int(value)
    if isinstance(value, str):
        raise reject(where, f"{value[:40]!r} is not an integer")
    raise reject(where, f"expected an integer, got {kind_of(value)}")


def unix_time(parent: dict, key: str, path: str, *, required: bool = False) -> datetime | None:
    """A unix time (seconds) as an integer or a string of digits, between 2000 and 2100."""
    value = parent.get(key)
    if type(value) is str and len(value) <= 11 and value.isascii() and value.isdigit():
        seconds = int(value)  # the common case (Meta sends digits), before any path is built
        if MIN_UNIX <= seconds <= MAX_UNIX:
            return _at(seconds)
    if value is None and not required:
        return None
    where = f"{path}.{key}"
    if value is None or value == "":
        if required:
            raise reject(where, "missing")
        return None
    seconds = _as_int(value, where)
    if not MIN_UNIX <= seconds <= MAX_UNIX:
        raise reject(where, f"{seconds} is not a time between 2000 and 2100")
    return _at(seconds)


_RECENT_TIMES: dict[int, datetime] = {}


def _at(seconds: int) -> datetime:
    """The aware datetime of a unix time. A burst of statuses states the same few seconds over
    and over: the datetimes (immutable) of the last few thousand are kept."""
    at = _RECENT_TIMES.get(seconds)
    if at is None:
        if len(_RECENT_TIMES) >= 4096:
            _RECENT_TIMES.clear()
        at = _RECENT_TIMES[seconds] = datetime.fromtimestamp(seconds, tz=UTC)
    return at


def token(
    parent: dict,
    key: str,
    path: str,
    enum: type[E],
    *,
    required: bool = False,
    max_len: int = 80,
) -> tuple[E, str]:
    """An enum Meta sends as a string or as a list of strings (its reference shape for
    `ban_info.waba_ban_state` is `["SCHEDULE_FOR_DISABLE"]`). Returns our member (UNKNOWN for
    a token we do not know yet) and Meta's token as sent, upper-cased."""
    value = parent.get(key)
    if type(value) is str and 0 < len(value) <= max_len:
        raw = value.strip().upper()  # the common case, before any path is built
        if raw:  # what from_meta would answer for it
            return enum._aliases().get(raw, enum.UNKNOWN), raw  # type: ignore[attr-defined]
    where = f"{path}.{key}"
    if isinstance(value, list):
        tokens = [v for v in value if v is not None]
        for index, item in enumerate(tokens):
            if not isinstance(item, str):
                raise reject(f"{where}[{index}]", f"expected a string, got {kind_of(item)}")
        tokens = [t for t in tokens if t.strip()]
        if len({t.strip().upper() for t in tokens}) > 1:
            raise reject(where, f"names {len(tokens)} different values; expected one")
        value = tokens[0] if tokens else None
    if value is None or value == "":
        if required:
            raise reject(where, "missing")
        return enum.UNKNOWN, ""  # type: ignore[attr-defined]
    if not isinstance(value, str):
        raise reject(where, f"expected a string, got {kind_of(value)}")
    if len(value) > max_len:
        raise reject(where, f"{len(value)} characters long (at most {max_len})")
    raw = value.strip().upper()
    return enum.from_meta(raw), raw  # type: ignore[attr-defined]
