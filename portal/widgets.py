"""A select that renders its options in Python.

Django renders a `<select>` through a template per option (`select_option.html` and
`attrs.html` included for each one). On the pages with long lists (the new-appeal form offers
every number and template of the client) that was a third of the page's time. `QuickSelect`
writes exactly the markup Django's templates write, so forms, tests and browsers see no
difference; `tests/portal/test_widgets.py` holds the two side by side.
"""

from __future__ import annotations

from django import forms
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe


def _attrs(attrs: dict) -> str:
    """`django/forms/widgets/attrs.html`: True is a bare attribute, False leaves it out."""
    parts = []
    for name, value in attrs.items():
        if value is False:
            continue
        if value is True:
            parts.append(f" {conditional_escape(name)}")
        else:
            parts.append(f' {conditional_escape(name)}="{conditional_escape(str(value))}"')
    return "".join(parts)


class QuickSelect(forms.Select):
    """`forms.Select` with the same markup, rendered without a template per option."""

    def render(self, name, value, attrs=None, renderer=None) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        out = [f'<select name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>']
        for group_name, group_choices, _index in widget["optgroups"]:
            if group_name:
                out.append(f'\n  <optgroup label="{conditional_escape(group_name)}">')
            for option in group_choices:
                out.append(
                    f'\n  <option value="{conditional_escape(str(option["value"]))}"'
                    f"{_attrs(option['attrs'])}>{conditional_escape(option['label'])}</option>\n"
                )  # the option template's own line end
            if group_name:
                out.append("\n  </optgroup>")
        out.append("\n</select>")
        return mark_safe("".join(out))  # noqa: S308 - every part above is escaped
