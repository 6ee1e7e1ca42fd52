"""The template editor: plain fields for the parts most templates have (header text, body with
its example values, footer, quick replies, one URL button), turned into Meta's components and
back."""

from __future__ import annotations

import re

from django import forms

from templates_review.choices import ReviewReason

_PARAM_RE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")

CATEGORY_CHOICES = [("UTILITY", "Utility"), ("MARKETING", "Marketing")]
FORMAT_CHOICES = [("positional", "Positional ({{1}}, {{2}})"), ("named", "Named ({{first_name}})")]


class TemplateEditorForm(forms.Form):
    account = forms.ChoiceField(label="WhatsApp account", required=False)
    name = forms.CharField(
        max_length=512, help_text="Lowercase letters, digits and underscores, e.g. order_update."
    )
    language = forms.CharField(max_length=15, initial="en_US")
    category = forms.ChoiceField(choices=CATEGORY_CHOICES, initial="UTILITY")
    parameter_format = forms.ChoiceField(
        choices=FORMAT_CHOICES, initial="positional", label="Parameters"
    )
    header_text = forms.CharField(max_length=200, required=False, label="Header (optional)")
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), max_length=4000)
    examples = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        label="Example values",
        help_text="One per parameter, one per line, in order (named: name=value).",
    )
    footer = forms.CharField(max_length=200, required=False, label="Footer (optional)")
    quick_replies = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        label="Quick-reply buttons",
        help_text="One label per line.",
    )
    url_button_text = forms.CharField(max_length=100, required=False, label="Link button label")
    url_button_url = forms.CharField(max_length=2000, required=False, label="Link button URL")

    def __init__(self, *args, accounts=(), at_meta: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].choices = [(str(a.pk), a.name or a.meta_id) for a in accounts]
        if len(self.fields["account"].choices) <= 1 or at_meta:
            self.fields["account"].widget = forms.HiddenInput()
        if at_meta:  # Meta edits change only the category and the components
            for name in ("name", "language", "parameter_format"):
                self.fields[name].disabled = True

    def components(self) -> list[dict]:
        return components_from_fields(self.cleaned_data)


def _examples(raw: str, params: list[str], named: bool) -> dict:
    lines = [line.strip() for line in (raw or "").splitlines() if line.strip()]
    if named:
        given = {}
        for line in lines:
            key, _, value = line.partition("=")
            given[key.strip()] = value.strip()
        return {
            "body_text_named_params": [
                {"param_name": p, "example": given[p]} for p in params if p in given
            ]
        }
    return {"body_text": [lines]} if lines else {}


def components_from_fields(data: dict) -> list[dict]:
    """Meta's components from the editor's fields (blank parts left out)."""
    named = data.get("parameter_format") == "named"
    components: list[dict] = []
    header = (data.get("header_text") or "").strip()
    if header:
        components.append({"type": "HEADER", "format": "TEXT", "text": header})
    body_text = data.get("body") or ""
    body: dict = {"type": "BODY", "text": body_text}
    params = list(dict.fromkeys(_PARAM_RE.findall(body_text)))
    if params:
        example = _examples(data.get("examples") or "", params, named)
        if example:
            body["example"] = example
    components.append(body)
    footer = (data.get("footer") or "").strip()
    if footer:
        components.append({"type": "FOOTER", "text": footer})
    buttons = [
        {"type": "QUICK_REPLY", "text": line.strip()}
        for line in (data.get("quick_replies") or "").splitlines()
        if line.strip()
    ]
    if (data.get("url_button_text") or "").strip():
        buttons.append(
            {
                "type": "URL",
                "text": data["url_button_text"].strip(),
                "url": (data.get("url_button_url") or "").strip(),
            }
        )
    if buttons:
        components.append({"type": "BUTTONS", "buttons": buttons})
    return components


def fields_from_revision(revision) -> dict:
    """The editor's initial values for a revision (the reverse of components_from_fields)."""
    data = {
        "name": revision.name,
        "language": revision.language,
        "category": str(revision.category).upper(),
        "parameter_format": revision.parameter_format,
    }
    for component in revision.components or []:
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER":
            data["header_text"] = component.get("text", "")
        elif kind == "BODY":
            data["body"] = component.get("text", "")
            example = component.get("example") or {}
            if example.get("body_text"):
                data["examples"] = "\n".join(str(v) for v in example["body_text"][0])
            elif example.get("body_text_named_params"):
                data["examples"] = "\n".join(
                    f"{p.get('param_name')}={p.get('example')}"
                    for p in example["body_text_named_params"]
                )
        elif kind == "FOOTER":
            data["footer"] = component.get("text", "")
        elif kind == "BUTTONS":
            replies = []
            for button in component.get("buttons") or []:
                if str(button.get("type")).upper() == "QUICK_REPLY":
                    replies.append(button.get("text", ""))
                elif str(button.get("type")).upper() == "URL":
                    data["url_button_text"] = button.get("text", "")
                    data["url_button_url"] = button.get("url", "")
            data["quick_replies"] = "\n".join(replies)
    return data


class CommentForm(forms.Form):
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), max_length=5000, label="Comment"
    )


class DecisionForm(forms.Form):
    reason = forms.ChoiceField(choices=ReviewReason.choices)
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=5000
    )


class QueueFilterForm(forms.Form):
    """The staff review queue's filters, from the query string (a plain GET form). A value
    outside the choices is a form error, and the queue unfiltered."""

    client = forms.SlugField(required=False, max_length=50, label="Client (slug)")
    category = forms.ChoiceField(required=False, label="Category")

    def __init__(self, *args, **kwargs):
        from templates_review.models import CATEGORY_CHOICES as ALL_CATEGORIES

        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [
            ("", "Any category"),
            *((str(value).lower(), label) for value, label in ALL_CATEGORIES),
        ]

    def filters(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
        return {"client_slug": data.get("client", ""), "category": data.get("category", "")}
