"""A WhatsApp-style preview of a template, filled with its example values (pure, no database).

`render_preview(...)` reads components in Meta's shape, as the linter does, and returns what
the phone would show: the header (text or the kind of media), the body and footer with the
parameters replaced by the examples, and the buttons. A parameter without an example stays
visible as `{{1}}` so the author sees what is missing. `*bold*`, `_italic_`, `~strike~` and
```` ```monospace``` ```` are rendered as WhatsApp does, in `*_html` fields that are escaped first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# More than this many buttons: WhatsApp shows the first 2 and "See all options" (§3.4).
BUTTONS_SHOWN_IN_FULL = 3
BUTTONS_SHOWN_WHEN_MORE = 2

_PARAM_RE = re.compile(r"\{\{([^{}]*)\}\}")
_MONO_RE = re.compile(r"```(.+?)```", re.S)
_FORMAT_RES = [
    (re.compile(rf"(?<![\w{m}]){m}(?=\S)(.+?)(?<=\S){m}(?![\w{m}])"), tag)
    for m, tag in ((r"\*", "strong"), ("_", "em"), ("~", "s"))
]
_MEDIA_LABELS = {
    "IMAGE": "Image",
    "VIDEO": "Video",
    "GIF": "GIF",
    "DOCUMENT": "Document",
    "LOCATION": "Location",
}
_BUTTON_KINDS = {
    "QUICK_REPLY": "quick_reply",
    "URL": "url",
    "PHONE_NUMBER": "phone",
    "VOICE_CALL": "phone",
    "COPY_CODE": "copy_code",
    "OTP": "copy_code",
}
_DEFAULT_LABELS = {"COPY_CODE": "Copy offer code", "OTP": "Copy code"}
# Authentication templates carry no body text: Meta writes it (§3.4, library templates).
_AUTH_BODY = "*{{1}}* is your verification code."
_AUTH_SECURITY = "For your security, do not share this code."
_AUTH_EXAMPLE_CODE = "123456"


@dataclass(frozen=True)
class PreviewButton:
    label: str
    kind: str  # quick_reply, url, phone, copy_code, or the lowercased Meta type


@dataclass(frozen=True)
class Preview:
    header_text: str | None
    header_media: str | None  # IMAGE, VIDEO, GIF, DOCUMENT or LOCATION
    body: str
    footer: str | None
    buttons: tuple[PreviewButton, ...]

    @property
    def header_html(self) -> SafeString:
        return whatsapp_html(self.header_text or "")

    @property
    def body_html(self) -> SafeString:
        return whatsapp_html(self.body)

    @property
    def header_media_label(self) -> str:
        return _MEDIA_LABELS.get(self.header_media or "", "")

    @property
    def shown_buttons(self) -> tuple[PreviewButton, ...]:
        if len(self.buttons) > BUTTONS_SHOWN_IN_FULL:
            return self.buttons[:BUTTONS_SHOWN_WHEN_MORE]
        return self.buttons

    @property
    def has_more_buttons(self) -> bool:
        return len(self.buttons) > BUTTONS_SHOWN_IN_FULL


def render_preview(*, components: list[dict], parameter_format: str = "positional") -> Preview:
    """What the recipient sees, with the example values in place of the parameters."""
    del parameter_format  # values are looked up by what each parameter says, number or name
    header_text = header_media = footer = None
    body = ""
    buttons: list[PreviewButton] = []
    seen: set[str] = set()
    for component in components if isinstance(components, list) else []:
        if not isinstance(component, dict):
            continue
        kind = _upper(component.get("type"))
        if kind in seen:
            continue
        seen.add(kind)
        example = component.get("example") if isinstance(component.get("example"), dict) else {}
        if kind == "HEADER":
            fmt = _upper(component.get("format")) or "TEXT"
            if fmt == "TEXT":
                header_text = _fill(
                    _text(component.get("text")),
                    example.get("header_text"),
                    example.get("header_text_named_params"),
                )
            else:
                header_media = fmt
        elif kind == "BODY":
            text = _text(component.get("text"))
            if not text.strip() and "add_security_recommendation" in component:
                text = _AUTH_BODY
                if component.get("add_security_recommendation"):
                    text += f"\n{_AUTH_SECURITY}"
                example = {"body_text": [[_AUTH_EXAMPLE_CODE]]}
            values = example.get("body_text")
            if isinstance(values, list) and values and isinstance(values[0], list):
                values = values[0]
            body = _fill(text, values, example.get("body_text_named_params"))
        elif kind == "FOOTER":
            footer = _text(component.get("text")) or None
            minutes = component.get("code_expiration_minutes")
            if footer is None and isinstance(minutes, int) and not isinstance(minutes, bool):
                footer = f"This code expires in {minutes} minutes."
        elif kind == "BUTTONS":
            raw = component.get("buttons")
            for button in raw if isinstance(raw, list) else []:
                if isinstance(button, dict):
                    buttons.append(_button(button))
    return Preview(header_text, header_media, body, footer, tuple(buttons))


def whatsapp_html(text: str) -> SafeString:
    """Escaped text with WhatsApp's formatting marks as HTML and line breaks as <br>."""
    html = escape(text)
    html = _MONO_RE.sub(r"<code>\1</code>", html)
    for pattern, tag in _FORMAT_RES:
        html = pattern.sub(rf"<{tag}>\1</{tag}>", html)
    return mark_safe(html.replace("\n", "<br>"))  # noqa: S308 - escaped above


def _fill(text: str, positional: Any, named: Any) -> str:
    values: dict[str, str] = {}
    if isinstance(positional, list):
        for index, value in enumerate(positional, start=1):
            if isinstance(value, str) and value:
                values[str(index)] = value
    if isinstance(named, list):
        for pair in named:
            if isinstance(pair, dict) and _text(pair.get("example")):
                values[_text(pair.get("param_name"))] = pair["example"]
    return _PARAM_RE.sub(lambda m: values.get(m.group(1).strip(), m.group(0)), text)


def _button(button: dict) -> PreviewButton:
    kind = _upper(button.get("type"))
    label = _text(button.get("text")) or _DEFAULT_LABELS.get(kind, "")
    return PreviewButton(label=label, kind=_BUTTON_KINDS.get(kind, kind.lower() or "other"))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _upper(value: Any) -> str:
    return value.strip().upper() if isinstance(value, str) else ""
