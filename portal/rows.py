"""Helpers for list rows a view writes in Python instead of a template loop (the templates list,
an endpoint's delivery log): a row's tags and filters in a template cost ~100 µs a row."""

from __future__ import annotations

import html


def escape(value: object) -> str:
    """What Django's `escape` (and so the template's autoescape) writes for a value: html.escape
    with quotes, without Django's lazy-string check, which was a third of a row's cost."""
    return html.escape(str(value))
