"""The form renderer: Django's, with the plain widgets written in Python.

Django renders every widget through templates: an `<input>` is `input.html` plus `attrs.html`,
and a `<select>` includes `select_option.html` and `attrs.html` once per option. The template
editor renders some thirty widgets and the new-appeal form selects over every number and
template of the client; those template renders were a third to a half of the pages' time.

`QuickRenderer` writes exactly the markup Django's templates write for the input family,
`<textarea>`, `<select>` and the radio and checkbox lists (`tests/portal/test_forms_renderer.py`
renders every one both ways and compares), and hands every other template (file inputs, the
form and field layouts, anything a widget names itself) to Django's renderer unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

from django.forms.renderers import DjangoTemplates
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

WIDGETS = "django/forms/widgets/"
SELECT_OPTION = WIDGETS + "select_option.html"


def _attrs(attrs: dict) -> str:
    """`attrs.html`: True is a bare attribute, False is left out, the rest `name="value"`."""
    parts = []
    for name, value in attrs.items():
        if value is False:
            continue
        if value is True:
            parts.append(f" {conditional_escape(name)}")
        else:
            parts.append(f' {conditional_escape(name)}="{conditional_escape(str(value))}"')
    return "".join(parts)


def _input(widget: dict) -> str | None:
    """`input.html` (and the templates that only include it)."""
    value = widget["value"]
    shown = "" if value is None else f' value="{conditional_escape(str(value))}"'
    return (
        f'<input type="{conditional_escape(widget["type"])}" '
        f'name="{conditional_escape(widget["name"])}"{shown}{_attrs(widget["attrs"])}>'
    )


def _textarea(widget: dict) -> str | None:
    value = widget["value"]
    text = conditional_escape(value) if value else ""
    return (
        f'<textarea name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>\n'
        f"{text}</textarea>"
    )


def _select(widget: dict) -> str | None:
    """`select.html` with `select_option.html` per option; None (Django renders it) when an
    option names a template of its own."""
    out = [f'<select name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, group_choices, _index in widget["optgroups"]:
        if group_name:
            out.append(f'\n  <optgroup label="{conditional_escape(group_name)}">')
        for option in group_choices:
            if option["template_name"] != SELECT_OPTION:
                return None
            # The option template's own line end follows each option.
            out.append(
                f'\n  <option value="{conditional_escape(str(option["value"]))}"'
                f"{_attrs(option['attrs'])}>{conditional_escape(option['label'])}</option>\n"
            )
        if group_name:
            out.append("\n  </optgroup>")
    out.append("\n</select>")
    return "".join(out)


# An option template and the line ends its files add when included (each file ends in one).
_CHOICE_OPTIONS = {WIDGETS + "radio_option.html": "\n", WIDGETS + "checkbox_option.html": "\n",
                   WIDGETS + "input_option.html": ""}  # fmt: skip


def _input_option(option: dict) -> str:
    """`input_option.html`: the input, wrapped in its label; `input.html`'s line end inside."""
    html = _input(option) + "\n"
    if not option["wrap_label"]:
        return html
    target = option["attrs"].get("id")
    for_ = f' for="{conditional_escape(target)}"' if target else ""
    return f"<label{for_}>{html} {conditional_escape(option['label'])}</label>"


def _multiple_input(widget: dict) -> str | None:
    """`multiple_input.html` (radio buttons, checkboxes): None when an option names a template
    of its own."""
    attrs = widget["attrs"]
    id_ = f' id="{conditional_escape(attrs["id"])}"' if attrs.get("id") else ""
    css = f' class="{conditional_escape(attrs["class"])}"' if attrs.get("class") else ""
    out = [f"<div{id_}{css}>"]
    for group, options, _index in widget["optgroups"]:
        if group:
            out.append(f"\n  <div><label>{conditional_escape(group)}</label>")
        for option in options:
            line_end = _CHOICE_OPTIONS.get(option["template_name"])
            if line_end is None:
                return None
            out.append(f"<div>\n    {_input_option(option)}\n{line_end}</div>")
        if group:
            out.append("\n  </div>")
    out.append("\n</div>")
    return "".join(out)


_INPUTS = ("input", "text", "email", "number", "password", "hidden", "url", "tel", "search",
           "date", "datetime", "time", "color", "checkbox")  # fmt: skip
WRITERS: dict[str, Callable[[dict], str | None]] = {
    **{f"{WIDGETS}{name}.html": _input for name in _INPUTS},
    WIDGETS + "textarea.html": _textarea,
    WIDGETS + "select.html": _select,
    WIDGETS + "radio.html": _multiple_input,
    WIDGETS + "checkbox_select.html": _multiple_input,
    WIDGETS + "multiple_input.html": _multiple_input,
}


class QuickRenderer(DjangoTemplates):
    """Django's template renderer, except for the widgets in WRITERS."""

    def render(self, template_name, context, request=None):
        write = WRITERS.get(template_name)
        widget = context.get("widget") if write is not None else None
        if widget is not None:
            html = write(widget)
            if html is not None:
                return mark_safe(html.strip())  # noqa: S308 - every value above is escaped
        return super().render(template_name, context, request)
