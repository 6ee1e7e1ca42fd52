"""A template as readable lines, and the line diff between two versions of it (difflib)."""

from __future__ import annotations

import difflib
import json
from html import escape
from typing import Any

from django.utils.safestring import SafeString, mark_safe

MAX_DIFF_LINES = 200


def template_lines(
    *, name: str, language: str, category: str, parameter_format: str, components: list[dict]
) -> list[str]:
    """One line per fact, so a diff shows what changed in words a reviewer reads."""
    lines = [
        f"name: {name}",
        f"language: {language}",
        f"category: {str(category).upper()}",
        f"parameters: {parameter_format}",
    ]
    for component in components or []:
        kind = str(component.get("type", "")).upper()
        if kind == "BUTTONS":
            for button in component.get("buttons") or []:
                label = button.get("text", "")
                target = button.get("url") or button.get("phone_number") or ""
                lines.append(
                    f"button {str(button.get('type', '')).upper()}: {label}"
                    + (f" → {target}" if target else "")
                )
            continue
        fmt = str(component.get("format") or "").upper()
        head = f"{kind.lower()}" + (f" ({fmt.lower()})" if fmt and fmt != "TEXT" else "")
        text = str(component.get("text") or "")
        text_lines = text.splitlines() or [""]
        lines.append(f"{head}: {text_lines[0]}")
        lines.extend(f"{head}: {line}" for line in text_lines[1:])
        for key, value in sorted((component.get("example") or {}).items()):
            lines.append(f"{head} example {key}: {_compact(value)}")
    return lines


def revision_lines(revision: Any) -> list[str]:
    return template_lines(
        name=revision.name,
        language=revision.language,
        category=revision.category,
        parameter_format=revision.parameter_format,
        components=revision.components,
    )


def line_diff(old: list[str] | None, new: list[str]) -> list[tuple[str, str]]:
    """(tag, line) pairs: tag is "+", "-" or " " (unchanged context), "@" for a hunk header.
    With no old version every line is an addition."""
    if old is None:
        return [("+", line) for line in new][:MAX_DIFF_LINES]
    out: list[tuple[str, str]] = []
    for line in difflib.unified_diff(old, new, lineterm="", n=2):
        if line.startswith(("---", "+++")):
            continue
        tag = "@" if line.startswith("@@") else line[:1]
        out.append((tag, line[1:] if tag != "@" else line))
        if len(out) >= MAX_DIFF_LINES:
            break
    return out


def diff_html(pairs: list) -> SafeString:
    """`line_diff`'s pairs as the review pages show them (the staff queue, a template's page),
    one `<span data-tag>` a line: the staff queue shows up to 25 diffs a page, and a template
    loop over their lines was a fifth of its render. The markup is the loop's
    (`{{ tag }} {{ line }}`, escaped)."""
    return mark_safe(  # noqa: S308 - every value is escaped
        "".join(
            f'<span data-tag="{escape(str(tag))}">{escape(str(tag))} {escape(str(line))}</span>\n'
            for tag, line in pairs
        )
    )


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
