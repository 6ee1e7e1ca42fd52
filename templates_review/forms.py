"""The template editor for Meta's component set (meta-platform.md §3.4-3.5): a header (text,
image, video, document or location), the body with positional or named parameters and their
examples, a footer, buttons (quick reply, URL static or dynamic, phone number, copy code) and,
for the authentication category, Meta's fixed body with its security line, the code expiry and
the one-time-password button (copy code, one-tap or zero-tap autofill).

The editor's fields are one flat mapping (a POST, or `fields_from_revision`'s initial values);
`components_from_fields` turns it into Meta's components and `fields_from_revision` back. The
rules about what Meta accepts live in the linter, not here: the form only refuses what cannot
be stored (an example file of the wrong kind or size)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from django import forms

from templates_review.choices import ReviewReason

_PARAM_RE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")

CATEGORY_CHOICES = [
    ("UTILITY", "Utility"),
    ("MARKETING", "Marketing"),
    ("AUTHENTICATION", "Authentication (one-time passwords)"),
]
FORMAT_CHOICES = [("positional", "Positional ({{1}}, {{2}})"), ("named", "Named ({{first_name}})")]
HEADER_CHOICES = [
    ("", "No header"),
    ("TEXT", "Text"),
    ("IMAGE", "Image"),
    ("VIDEO", "Video"),
    ("DOCUMENT", "Document"),
    ("LOCATION", "Location"),
]
MEDIA_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT")
BUTTON_CHOICES = [
    ("", "— no button —"),
    ("QUICK_REPLY", "Quick reply"),
    ("URL", "Link (URL)"),
    ("PHONE_NUMBER", "Call a phone number"),
    ("COPY_CODE", "Copy an offer code"),
]
EDITOR_BUTTON_TYPES = frozenset(value for value, _ in BUTTON_CHOICES if value)
OTP_CHOICES = [
    ("COPY_CODE", "Copy code"),
    ("ONE_TAP", "One-tap autofill (Android)"),
    ("ZERO_TAP", "Zero-tap autofill (Android)"),
]
BUTTONS_PREFIX = "buttons"
BUTTONS_MAX = 10

# What Meta takes as a template header's example (WhatsApp Cloud API media types and sizes):
# checked on the file's first bytes, not on the name or the browser's word for it.
MEDIA_RULES = {
    "IMAGE": {"types": ("image/jpeg", "image/png"), "max_bytes": 5 * 1024 * 1024},
    "VIDEO": {"types": ("video/mp4", "video/3gpp"), "max_bytes": 16 * 1024 * 1024},
    "DOCUMENT": {"types": ("application/pdf",), "max_bytes": 100 * 1024 * 1024},
}
MEDIA_KIND_WORDS = {
    "IMAGE": "a JPEG or PNG image",
    "VIDEO": "an MP4 or 3GP video",
    "DOCUMENT": "a PDF",
}


def sniff_media_type(head: bytes) -> str:
    """The media type of a file from its first bytes ("" if not one Meta takes)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head[4:8] == b"ftyp":
        return "video/3gpp" if head[8:11] == b"3gp" else "video/mp4"
    return ""


def _flag(value) -> bool:
    if isinstance(value, list | tuple):
        value = value[-1] if value else ""
    return value is True or str(value).lower() in ("on", "true", "1", "yes")


def _get(data: Mapping, key: str) -> str:
    value = data.get(key, "")
    if isinstance(value, list | tuple):  # a dict of lists (QueryDict.lists())
        value = value[-1] if value else ""
    return "" if value is None else str(value)


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
    header_format = forms.ChoiceField(choices=HEADER_CHOICES, required=False, label="Header")
    header_text = forms.CharField(max_length=200, required=False, label="Header text")
    header_example = forms.CharField(
        max_length=200,
        required=False,
        label="Header example",
        help_text="The value of the header's parameter in an example (named: name=value).",
    )
    header_file = forms.FileField(
        required=False,
        label="Example image, video or document",
        help_text="JPEG or PNG up to 5 MB, MP4 or 3GP up to 16 MB, PDF up to 100 MB. Meta "
        "reviews the template with it.",
    )
    header_handle = forms.CharField(required=False, widget=forms.HiddenInput)
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=4000,
        required=False,
        help_text="Authentication templates use Meta's fixed text instead.",
    )
    examples = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        label="Example values",
        help_text="One per parameter, one per line, in order (named: name=value).",
    )
    footer = forms.CharField(max_length=200, required=False, label="Footer (optional)")
    # Authentication (category AUTHENTICATION): Meta writes the body and the footer.
    auth_security = forms.BooleanField(
        required=False,
        label="Add “For your security, do not share this code.”",
        initial=True,
    )
    auth_expiry = forms.IntegerField(
        required=False,
        label="Code expires after (minutes)",
        help_text="1 to 90; shown as “This code expires in N minutes.” Leave empty for none.",
    )
    otp_type = forms.ChoiceField(choices=OTP_CHOICES, required=False, label="Code button")
    otp_text = forms.CharField(
        max_length=100, required=False, label="Button label", initial="Copy code"
    )
    otp_autofill = forms.CharField(
        max_length=100, required=False, label="Autofill label", initial="Autofill"
    )
    otp_package = forms.CharField(max_length=300, required=False, label="Android app package")
    otp_signature = forms.CharField(max_length=50, required=False, label="App signature hash")
    otp_zero_tap_terms = forms.BooleanField(
        required=False, label="I accept Meta's zero-tap terms of service"
    )

    def __init__(self, *args, accounts=(), at_meta: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].choices = [(str(a.pk), a.name or a.meta_id) for a in accounts]
        if len(self.fields["account"].choices) <= 1 or at_meta:
            self.fields["account"].widget = forms.HiddenInput()
        if at_meta:  # Meta edits change only the category and the components
            for name in ("name", "language", "parameter_format"):
                self.fields[name].disabled = True

    def clean_header_file(self):
        upload = self.cleaned_data.get("header_file")
        fmt = self.data.get("header_format", "")
        if not upload or fmt not in MEDIA_FORMATS:
            return None
        rules = MEDIA_RULES[fmt]
        upload.seek(0)
        media_type = sniff_media_type(upload.read(16))
        upload.seek(0)
        if media_type not in rules["types"]:
            raise forms.ValidationError(
                f"A {fmt.lower()} header needs {MEDIA_KIND_WORDS[fmt]} as its example; this "
                "file is not one."
            )
        if upload.size > rules["max_bytes"]:
            raise forms.ValidationError(
                f"The example is {upload.size / (1024 * 1024):.1f} MB; a {fmt.lower()} header "
                f"takes at most {rules['max_bytes'] // (1024 * 1024)} MB."
            )
        upload.media_type = media_type
        return upload

    def clean_auth_expiry(self):
        # Any whole number is kept: the linter says what Meta accepts (1 to 90).
        return self.cleaned_data.get("auth_expiry")


class ButtonForm(forms.Form):
    """One button; a row left at "no button" is skipped."""

    type = forms.ChoiceField(choices=BUTTON_CHOICES, required=False, label="Kind")
    text = forms.CharField(max_length=100, required=False, label="Label")
    url = forms.CharField(
        max_length=2100,
        required=False,
        label="Web address",
        help_text="One variable allowed, at the end: https://example.com/track/{{1}}",
    )
    phone_number = forms.CharField(max_length=40, required=False, label="Phone number")
    example = forms.CharField(
        max_length=2100,
        required=False,
        label="Example",
        help_text="The full address with the variable filled in, or the offer code.",
    )


ButtonFormSet = forms.formset_factory(
    ButtonForm, extra=0, max_num=BUTTONS_MAX, validate_max=True, absolute_max=BUTTONS_MAX
)


def button_formset(data: Mapping | None, *, initial: list[dict] | None = None, add: int = 0):
    """The buttons' formset. POSTs that carry no button rows at all (an API-like client, an
    old form) count as no buttons; `add` appends blank rows (the editor's "Add a button")."""
    if data is not None:
        data = data.copy() if hasattr(data, "copy") else dict(data)
        total_key = f"{BUTTONS_PREFIX}-TOTAL_FORMS"
        if total_key not in data:
            data[total_key] = "0"
            data[f"{BUTTONS_PREFIX}-INITIAL_FORMS"] = "0"
        if add:
            data[total_key] = str(min(BUTTONS_MAX, int(_get(data, total_key) or 0) + add))
        return ButtonFormSet(data, prefix=BUTTONS_PREFIX)
    rows = list(initial or [])
    rows += [{}] * max(0, min(BUTTONS_MAX - len(rows), add))
    formset = ButtonFormSet(initial=rows, prefix=BUTTONS_PREFIX)
    formset.extra = 0
    return formset


def _examples(raw: str, params: list[str], named: bool, key: str, nested: bool) -> dict:
    lines = [line.strip() for line in (raw or "").splitlines() if line.strip()]
    if named:
        given = {}
        for line in lines:
            name, _, value = line.partition("=")
            given[name.strip()] = value.strip()
        pairs = [{"param_name": p, "example": given[p]} for p in params if p in given]
        return {f"{key}_named_params": pairs} if pairs else {}
    if not lines:
        return {}
    return {key: [lines] if nested else lines}


def _buttons(data: Mapping) -> list[dict]:
    try:
        total = min(BUTTONS_MAX * 2, int(_get(data, f"{BUTTONS_PREFIX}-TOTAL_FORMS") or 0))
    except ValueError:
        total = 0
    buttons = []
    for i in range(total):
        field = lambda name, i=i: _get(data, f"{BUTTONS_PREFIX}-{i}-{name}").strip()  # noqa: E731
        kind = field("type").upper()
        if not kind:
            continue
        button: dict = {"type": kind, "text": field("text")}
        if kind == "URL":
            button["url"] = field("url")
            if _PARAM_RE.search(button["url"]) and field("example"):
                button["example"] = [field("example")]
        elif kind == "PHONE_NUMBER":
            button["phone_number"] = field("phone_number")
        elif kind == "COPY_CODE":
            button.pop("text")
            button["example"] = field("example")
        buttons.append(button)
    return buttons


AUTH_DEFAULT_BUTTON_TEXT = "Copy code"


def _auth_components(data: Mapping) -> list[dict]:
    """Meta's authentication template: the library body, the expiry footer, the OTP button."""
    components: list[dict] = [
        {"type": "BODY", "add_security_recommendation": _flag(data.get("auth_security"))}
    ]
    expiry = _get(data, "auth_expiry").strip()
    if expiry:
        try:
            minutes: int | str = int(expiry)
        except ValueError:
            minutes = expiry  # the linter explains what is wrong with it
        components.append({"type": "FOOTER", "code_expiration_minutes": minutes})
    otp_type = _get(data, "otp_type").strip().upper() or "COPY_CODE"
    button: dict = {
        "type": "OTP",
        "otp_type": otp_type,
        "text": _get(data, "otp_text").strip() or AUTH_DEFAULT_BUTTON_TEXT,
    }
    if otp_type in ("ONE_TAP", "ZERO_TAP"):
        button["autofill_text"] = _get(data, "otp_autofill").strip() or "Autofill"
        button["supported_apps"] = [
            {
                "package_name": _get(data, "otp_package").strip(),
                "signature_hash": _get(data, "otp_signature").strip(),
            }
        ]
    if otp_type == "ZERO_TAP":
        button["zero_tap_terms_accepted"] = _flag(data.get("otp_zero_tap_terms"))
    components.append({"type": "BUTTONS", "buttons": [button]})
    return components


def components_from_fields(data: Mapping) -> list[dict]:
    """Meta's components from the editor's fields (blank parts left out)."""
    if _get(data, "category").upper() == "AUTHENTICATION":
        return _auth_components(data)
    named = _get(data, "parameter_format") == "named"
    components: list[dict] = []
    fmt = _get(data, "header_format").upper()
    header_text = _get(data, "header_text").strip()
    if not fmt and header_text:  # a header typed without choosing its kind is text
        fmt = "TEXT"
    if fmt == "TEXT":
        header: dict = {"type": "HEADER", "format": "TEXT", "text": header_text}
        params = list(dict.fromkeys(_PARAM_RE.findall(header_text)))
        if params:
            example = _examples(_get(data, "header_example"), params, named, "header_text", False)
            if example:
                header["example"] = example
        components.append(header)
    elif fmt in MEDIA_FORMATS:
        header = {"type": "HEADER", "format": fmt}
        handle = _get(data, "header_handle").strip()
        if handle:  # the handle Meta gave the example (kept until a new file replaces it)
            header["example"] = {"header_handle": [handle]}
        components.append(header)
    elif fmt == "LOCATION":
        components.append({"type": "HEADER", "format": "LOCATION"})
    body_text = _get(data, "body")
    body: dict = {"type": "BODY", "text": body_text}
    params = list(dict.fromkeys(_PARAM_RE.findall(body_text)))
    if params:
        example = _examples(_get(data, "examples"), params, named, "body_text", True)
        if example:
            body["example"] = example
    components.append(body)
    footer = _get(data, "footer").strip()
    if footer:
        components.append({"type": "FOOTER", "text": footer})
    buttons = _buttons(data)
    if buttons:
        components.append({"type": "BUTTONS", "buttons": buttons})
    return components


def _example_lines(example: dict, key: str) -> str:
    if example.get(f"{key}_named_params"):
        return "\n".join(
            f"{p.get('param_name')}={p.get('example')}" for p in example[f"{key}_named_params"]
        )
    values = example.get(key) or []
    if values and isinstance(values[0], list):
        values = values[0]
    return "\n".join(str(v) for v in values)


def fields_from_revision(revision) -> dict:
    """The editor's values for a revision, flat as a POST (the reverse of
    components_from_fields)."""
    data: dict = {
        "name": revision.name,
        "language": revision.language,
        "category": str(revision.category).upper(),
        "parameter_format": revision.parameter_format,
        "header_format": "",
        f"{BUTTONS_PREFIX}-TOTAL_FORMS": "0",
        f"{BUTTONS_PREFIX}-INITIAL_FORMS": "0",
    }
    is_auth = data["category"] == "AUTHENTICATION"
    buttons: list[dict] = []
    for component in revision.components or []:
        kind = str(component.get("type", "")).upper()
        example = component.get("example") or {}
        if kind == "HEADER":
            fmt = str(component.get("format") or "TEXT").upper()
            data["header_format"] = fmt
            if fmt == "TEXT":
                data["header_text"] = component.get("text", "")
                data["header_example"] = _example_lines(example, "header_text")
            elif example.get("header_handle"):
                data["header_handle"] = str(example["header_handle"][0])
        elif kind == "BODY":
            data["body"] = component.get("text", "")
            data["examples"] = _example_lines(example, "body_text")
            if is_auth:
                data["auth_security"] = bool(component.get("add_security_recommendation"))
        elif kind == "FOOTER":
            if is_auth:
                minutes = component.get("code_expiration_minutes")
                data["auth_expiry"] = "" if minutes is None else str(minutes)
            else:
                data["footer"] = component.get("text", "")
        elif kind == "BUTTONS":
            for button in component.get("buttons") or []:
                btype = str(button.get("type", "")).upper()
                if btype == "OTP":
                    data["otp_type"] = str(button.get("otp_type", "")).upper()
                    data["otp_text"] = button.get("text", "")
                    data["otp_autofill"] = button.get("autofill_text", "")
                    apps = button.get("supported_apps") or []
                    first = apps[0] if apps and isinstance(apps[0], dict) else button
                    data["otp_package"] = first.get("package_name", "") or ""
                    data["otp_signature"] = first.get("signature_hash", "") or ""
                    data["otp_zero_tap_terms"] = bool(button.get("zero_tap_terms_accepted"))
                    continue
                if btype not in EDITOR_BUTTON_TYPES:
                    continue  # a kind the editor cannot show (the page says it would be lost)
                example = button.get("example")
                if isinstance(example, list):
                    example = example[0] if example else ""
                buttons.append(
                    {
                        "type": btype,
                        "text": button.get("text", ""),
                        "url": button.get("url", ""),
                        "phone_number": button.get("phone_number", ""),
                        "example": example or "",
                    }
                )
    for i, button in enumerate(buttons):
        for key, value in button.items():
            data[f"{BUTTONS_PREFIX}-{i}-{key}"] = value
    data[f"{BUTTONS_PREFIX}-TOTAL_FORMS"] = str(len(buttons))
    return data


def buttons_initial(data: Mapping) -> list[dict]:
    """The button rows of a flat mapping, as the formset's initial values."""
    try:
        total = int(_get(data, f"{BUTTONS_PREFIX}-TOTAL_FORMS") or 0)
    except ValueError:
        total = 0
    names = ("type", "text", "url", "phone_number", "example")
    return [
        {name: _get(data, f"{BUTTONS_PREFIX}-{i}-{name}") for name in names}
        for i in range(min(total, BUTTONS_MAX))
    ]


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
