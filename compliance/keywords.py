"""Opt-out keywords: one normalising function for the policy's keywords and the message text.

A text opts out when, normalised, it *is* one of the client's keywords: "STOP ✋", "Stop." and
" stop! " all read "stop"; "stop by our shop on Friday" does not (a keyword inside a sentence is
a near miss, not an opt-out).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_SPACES = re.compile(r"\s+")


def _edge(ch: str) -> bool:
    """Punctuation, symbols (emoji, ✋), separators, controls and the marks emoji carry
    (variation selectors, keycaps, skin tones, zero-width joiners)."""
    return unicodedata.category(ch)[0] in "PSZCM"


def keyword_normalize(text: str) -> str:
    """NFKC, casefold, inner whitespace collapsed, and emoji, punctuation and whitespace
    stripped at both ends."""
    text = _SPACES.sub(" ", unicodedata.normalize("NFKC", str(text or "")).casefold())
    start, end = 0, len(text)
    while start < end and _edge(text[start]):
        start += 1
    while end > start and _edge(text[end - 1]):
        end -= 1
    return text[start:end]


def keyword_set(keywords: Iterable[str] | dict | None) -> frozenset[str]:
    """The normalised keywords of a policy: a list, or lists per language
    (`{"en": ["STOP"], "de": ["STOPP"]}`); empty ones are dropped."""
    if isinstance(keywords, dict):
        keywords = [k for words in keywords.values() for k in (words or [])]
    return frozenset(filter(None, (keyword_normalize(k) for k in keywords or [])))


def is_opt_out(text: str, keywords: frozenset[str]) -> bool:
    return bool(keywords) and keyword_normalize(text) in keywords
