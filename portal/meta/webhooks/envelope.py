"""The envelope of a delivery: `{"object", "entry": [{"id", "time", "changes": [...]}]}`.

The first parse stage. It turns a verified body into change records, or rejects the body (or one
change of it) with a precise reason, so that nothing Meta sends can raise later: bodies that are
not JSON, too deeply nested, not an object of `whatsapp_business_account`, ids too long for their
columns, times out of range, strings PostgreSQL cannot store (NUL, lone surrogates), numbers
its JSON cannot (NaN, Infinity).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from portal import fastjson
from portal.meta.webhooks.contract import WebhookRejected
from portal.meta.webhooks.fields._read import MAX_NODES

OBJECT = "whatsapp_business_account"
MAX_DEPTH = 32  # Meta's deepest documented value is about 6 levels
MAX_ID_LENGTH = 64  # the entry id column; Meta's ids are 15-20 digits
MAX_FIELD_LENGTH = 64
# Unix times Meta could state: 2004 (before WhatsApp) to 2100.
MIN_UNIX, MAX_UNIX = 1_072_915_200, 4_102_444_800


@dataclass(frozen=True)
class EnvelopeChange:
    """One `entry[].changes[]` item, ready to store. `rejected` holds the reason when the item
    cannot be applied (its value is then kept only in the delivery's raw body)."""

    field: str
    entry_id: str
    entry_time: datetime | None
    value: dict
    dedupe_key: str
    rejected: str = ""
    # `value` as canonical JSON text (the dedupe key's own serialisation), so it is stored
    # without being serialised again; "" where it was not computed.
    value_json: str = ""

    @property
    def routing_ids(self) -> tuple[str, ...]:
        """Meta ids this change may be routed by, best first: the entry's WABA id, the WABA named
        in `waba_info` (PARTNER_* events whose entry id is the partner's portfolio), then the
        phone number of a `messages` change."""
        ids = [self.entry_id]
        waba_info = self.value.get("waba_info")
        if isinstance(waba_info, dict) and _is_id(waba_info.get("waba_id")):
            ids.append(str(waba_info["waba_id"]))
        return tuple(ids)

    @property
    def phone_number_id(self) -> str | None:
        metadata = self.value.get("metadata")
        if isinstance(metadata, dict) and _is_id(metadata.get("phone_number_id")):
            return str(metadata["phone_number_id"])
        return None


def _is_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0 and len(str(value)) <= MAX_ID_LENGTH
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH and value.isprintable()


def decode(body: bytes) -> dict:
    """The body as a JSON object, or WebhookRejected."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookRejected(f"The body is not UTF-8 ({exc.reason} at byte {exc.start}).") from exc
    try:
        payload = fastjson.loads(text)
    except RecursionError as exc:
        raise WebhookRejected("The body is nested too deeply to be a Meta webhook.") from exc
    except ValueError as exc:
        raise WebhookRejected(f"The body is not JSON: {exc}.") from exc
    if not isinstance(payload, dict):
        raise WebhookRejected(f"The body is a JSON {type(payload).__name__}, not an object.")
    return payload


def split(payload: dict, *, strings_checked: bool = False) -> list[EnvelopeChange]:
    """Every change of a decoded delivery. Raises WebhookRejected when the envelope itself is
    not Meta's; a bad entry or change is returned with its reason instead, so the good ones go on.
    `strings_checked`: as `storable` takes it, from the body (`strings_storable`).
    """
    obj = payload.get("object")
    if obj != OBJECT:
        shown = "missing" if obj is None else repr(obj)[:80]
        raise WebhookRejected(f"`object` is {shown}, not {OBJECT!r}.")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise WebhookRejected(f"`entry` is {_kind(entries)}, not a list.")
    changes: list[EnvelopeChange] = []
    for e_index, entry in enumerate(entries):
        changes.extend(_entry_changes(entry, f"entry[{e_index}]", strings_checked))
    return changes


def _entry_changes(entry: Any, where: str, strings_checked: bool) -> list[EnvelopeChange]:
    if not isinstance(entry, dict):
        return [_rejected(entry, where, f"{where} is {_kind(entry)}, not an object.")]
    raw_id = entry.get("id")
    raw_time = entry.get("time")
    problem = ""
    if not _is_id(raw_id):
        problem = (
            f"{where}.id is {_shown(raw_id)}: not an id of at most {MAX_ID_LENGTH} characters."
        )
    entry_time = None
    if raw_time is not None and not problem:
        try:
            entry_time = unix_time(raw_time)
        except WebhookRejected as exc:
            problem = f"{where}.time: {exc.reason}"
    items = entry.get("changes")
    if not isinstance(items, list):
        return [
            _rejected(entry, where, problem or f"{where}.changes is {_kind(items)}, not a list.")
        ]
    entry_id = str(raw_id) if not problem else ""
    result = []
    for c_index, item in enumerate(items):
        at = f"{where}.changes[{c_index}]"
        if problem:
            result.append(_rejected(item, at, problem))
            continue
        if not isinstance(item, dict):
            result.append(_rejected(item, at, f"{at} is {_kind(item)}, not an object."))
            continue
        field, value = item.get("field"), item.get("value")
        good_field = isinstance(field, str) and 0 < len(field) <= MAX_FIELD_LENGTH
        if not good_field:
            reason = f"{at}.field is {_shown(field)}: not a field name."
        elif not isinstance(value, dict):
            reason = f"{at}.value is {_kind(value)}, not an object."
        else:
            reason, plain = _screen(value, f"{at}.value", strings_checked)
        if reason:
            value_json = _canonical(_safe(value))
        else:
            value_json = _canonical_fast(value) if plain else _canonical(value)
        result.append(
            EnvelopeChange(
                field=field if good_field else "",
                entry_id=entry_id,
                entry_time=entry_time,
                value=value if not reason else {},
                dedupe_key=_dedupe_key_of(field, entry_id, raw_time, value_json),
                rejected=reason,
                value_json=value_json if not reason else "{}",
            )
        )
    return result


def _rejected(item: Any, where: str, reason: str) -> EnvelopeChange:
    return EnvelopeChange(
        field="",
        entry_id="",
        entry_time=None,
        value={},
        dedupe_key=_dedupe_key("", where, None, _safe(item)),
        rejected=reason,
    )


def unix_time(raw: Any) -> datetime:
    """A unix time Meta stated (int, or digits as a string) as an aware datetime."""
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise WebhookRejected(f"{_shown(raw)} is not a unix time.")
    if isinstance(raw, str):
        if not raw.isdigit() or len(raw) > 12:
            raise WebhookRejected(f"{_shown(raw)} is not a unix time.")
        raw = int(raw)
    if not MIN_UNIX <= raw <= MAX_UNIX:
        raise WebhookRejected(f"{raw} is out of range for a unix time Meta could state.")
    return datetime.fromtimestamp(raw, tz=UTC)


def storable(value: Any, where: str, *, strings_checked: bool = False) -> str:
    """Why `value` cannot be stored as JSONB (too deep, too big, NUL, a lone surrogate), or "".

    What it lets through the field parsers' `check_tree` would too (so the pipeline's parsers
    need not walk a stored value again: `values_screened`). `strings_checked`: the body's text
    says no string in it holds a NUL or a lone surrogate (`strings_storable`), so keys and
    strings are not looked at one by one."""
    return _screen(value, where, strings_checked)[0]


def _screen(value: Any, where: str, strings_checked: bool) -> tuple[str, bool]:
    """`storable`'s answer, and whether the value holds only strings, integers, booleans, nulls,
    objects and lists (no float, nothing else: what `_canonical_fast` can serialise).

    Containers are walked; their scalars are checked in place (a stack entry per scalar was
    most of the walk). Parts are counted as `check_tree` counts them, the root included."""
    if not isinstance(value, dict | list):
        return _scalar_problem(value, where), False
    stack: list[tuple[Any, int]] = [(value, 1)]
    nodes = 1
    plain = True
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if not strings_checked:
                for key in node:
                    if problem := _text_problem(key):
                        return f"{where} has a key with {problem}.", plain
            children = node.values()
        else:
            children = node
        if not children:
            continue
        nodes += len(children)
        if nodes > MAX_NODES:
            return f"{where} has more than {MAX_NODES} parts.", plain
        if depth + 1 > MAX_DEPTH:
            return f"{where} is nested deeper than {MAX_DEPTH} levels.", plain
        for child in children:
            kind = type(child)
            if kind is str:
                if not strings_checked and (problem := _text_problem(child)):
                    return f"{where} has a string with {problem}.", plain
            elif kind is dict or kind is list:
                stack.append((child, depth + 1))
            elif kind is bool or child is None or (kind is int and abs(child) < 10**30):
                continue
            else:  # a float, a too-large integer, or a subclass (never from JSON)
                plain = False
                if isinstance(child, dict | list):
                    stack.append((child, depth + 1))
                elif problem := _scalar_problem(child, where):
                    return problem, plain
    return "", plain


def _scalar_problem(node: Any, where: str) -> str:
    if isinstance(node, str):  # a subclass of str (never from JSON)
        problem = _text_problem(node)
        return f"{where} has a string with {problem}." if problem else ""
    if isinstance(node, int) and not isinstance(node, bool) and abs(node) >= 10**30:
        return f"{where} has a number too large to be one of Meta's."
    if isinstance(node, float) and not math.isfinite(node):
        return f"{where} has {node}, not a number JSON can store."
    return ""


# Only an escape can put a NUL or a surrogate into a string JSON decodes: raw control
# characters are not JSON, and UTF-8 cannot encode a surrogate.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def strings_storable(body: bytes) -> bool:
    """Whether no string (or key) in the body can hold a NUL or a lone surrogate: true of
    nearly every delivery, so their values need not be checked string by string. A surrogate
    pair, or an escaped backslash before `u0000`, answers False: the strings are checked."""
    return b"\\u" not in body or _UNSTORABLE_ESCAPE.search(body) is None


def _text_problem(text: str) -> str:
    if "\x00" in text:
        return "a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone surrogate"
    return ""


def _canonical(item: Any) -> str:
    return json.dumps(item, sort_keys=True, separators=(",", ":"), default=str)


def _canonical_fast(value: dict) -> str:
    """`_canonical(value)` for a value of strings, integers, booleans, nulls, objects and lists
    (`_screen` says which): orjson writes the very same text whenever its output is printable
    ASCII (json escapes everything else as \\uXXXX; orjson writes it as itself). A tenth of
    the time of json's, for the text every change's dedupe key is the hash of."""
    try:
        text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # past 64 bits, or nested past orjson's limit
        return _canonical(value)
    if text.isascii() and b"\x7f" not in text:
        return text.decode("ascii")
    return _canonical(value)


def _dedupe_key(field: Any, entry_id: str, raw_time: Any, value: Any) -> str:
    return _dedupe_key_of(field, entry_id, raw_time, _canonical(value))


def _dedupe_key_of(field: Any, entry_id: str, raw_time: Any, value_json: str) -> str:
    """The hash of `[field, entry_id, raw_time, value]` as canonical JSON; the value's text is
    given already serialised. A JSON list is its items' texts joined by commas, so this is the
    same text (and key) as serialising the whole list."""
    source = f"[{_canonical(field)},{_canonical(entry_id)},{_canonical(raw_time)},{value_json}]"
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()


def _safe(item: Any) -> Any:
    """Something json.dumps can always hash (a rejected item may hold anything)."""
    try:
        json.dumps(item)
    except (TypeError, ValueError, RecursionError):
        try:
            return repr(item)[:1000]
        except RecursionError:
            return f"<{type(item).__name__} nested too deeply>"
    return item


def _kind(value: Any) -> str:
    return "missing" if value is None else f"a {type(value).__name__}"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
