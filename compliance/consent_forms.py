"""Forms of the consent pages: the import upload, the messaging policy and one opt-in or
opt-out recorded by hand."""

from __future__ import annotations

from datetime import UTC, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.utils import timezone

from compliance.choices import ConsentCategory, ConsentKind, ConsentSource
from compliance.consent import ALL_CATEGORIES, POLICY_FIELDS, Evidence, contact_normalize
from compliance.imports import COLUMNS_HELP
from compliance.models import MessagingPolicy


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=COLUMNS_HELP,
    )


class KeywordsField(forms.CharField):
    """Opt-out keywords as one comma-separated line."""

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return ", ".join(str(v) for v in value)
        return value

    def to_python(self, value):
        text = super().to_python(value)
        words = [w.strip() for w in text.split(",") if w.strip()]
        seen: dict[str, str] = {}
        for word in words:
            seen.setdefault(word.casefold(), word)
        return list(seen.values())


class MessagingPolicyForm(forms.ModelForm):
    opt_out_keywords = KeywordsField(
        required=False,
        help_text="An inbound WhatsApp message that is exactly one of these words (any case) "
        "opts the sender out of marketing messages (utility and authentication messages still "
        "go). Separate them with commas.",
    )

    class Meta:
        model = MessagingPolicy
        fields = list(POLICY_FIELDS)
        labels = {
            "marketing_cap": "Marketing messages per contact",
            "utility_cap": "Utility messages per contact",
            "window_days": "Rolling window (days)",
            "quiet_hours_start": "Quiet hours from",
            "quiet_hours_end": "Quiet hours until",
            "time_zone": "Time zone for quiet hours",
        }
        help_texts = {
            "window_days": "The caps count the messages sent in this many days; 1 to 90.",
            "quiet_hours_start": "HH:MM. Leave both quiet-hour times empty for none.",
            "time_zone": "An IANA name, e.g. Europe/London.",
        }
        widgets = {
            "quiet_hours_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "quiet_hours_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }

    def clean_window_days(self):
        days = self.cleaned_data["window_days"]
        if not 1 <= days <= 90:
            raise forms.ValidationError("Choose a window of 1 to 90 days.")
        return days

    def clean_time_zone(self):
        name = self.cleaned_data["time_zone"].strip()
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError(
                f"{name!r} is not a time zone; use a name like Europe/London."
            ) from None
        return name

    def clean(self):
        data = super().clean()
        start, end = data.get("quiet_hours_start"), data.get("quiet_hours_end")
        if (start is None) != (end is None):
            raise forms.ValidationError("Give both quiet-hour times, or neither.")
        if start is not None and start == end:
            raise forms.ValidationError("Quiet hours must start and end at different times.")
        return data


# Sources a person can record by hand (Meta's and the bulk channels record themselves).
MANUAL_SOURCES = [
    (ConsentSource.WEB_FORM, "Web form"),
    (ConsentSource.CHECKOUT, "Checkout"),
    (ConsentSource.SMS_KEYWORD, "SMS keyword"),
    (ConsentSource.STAFF, "In person or by phone (recorded by hand)"),
]
FUTURE_SLACK = timedelta(minutes=5)


class ConsentRecordForm(forms.Form):
    """One opt-in or opt-out with its evidence, recorded by hand from the contact pages."""

    phone = forms.CharField(max_length=40, label="Phone number")
    kind = forms.ChoiceField(
        choices=[(ConsentKind.OPT_IN, "Opt-in"), (ConsentKind.OPT_OUT, "Opt-out")],
        widget=forms.RadioSelect,
        label="Record",
        initial=ConsentKind.OPT_IN,
    )
    category = forms.ChoiceField(
        choices=[*ConsentCategory.choices, (ALL_CATEGORIES, "All categories (opt-out only)")],
        initial=ConsentCategory.MARKETING,
    )
    source = forms.ChoiceField(choices=MANUAL_SOURCES, label="How it was given")
    occurred_at = forms.DateTimeField(
        required=False,
        label="When (UTC)",
        help_text="Leave empty for now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )
    wording = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=2000,
        label="Wording shown",
        help_text="What the person agreed to, word for word. Required for an opt-in.",
    )
    wording_version = forms.CharField(max_length=50, required=False, label="Wording version")
    page_url = forms.URLField(
        max_length=500, required=False, label="Page address", assume_scheme="https"
    )
    ip_address = forms.GenericIPAddressField(required=False, label="IP address")
    channel = forms.CharField(max_length=50, required=False)

    def __init__(self, *args, default_region: str | None = None, fixed_phone: str = "", **kw):
        super().__init__(*args, **kw)
        self.default_region = default_region
        if fixed_phone:
            self.fields["phone"].widget = forms.HiddenInput()
            self.fields["phone"].initial = fixed_phone

    def clean_phone(self):
        try:
            return contact_normalize(self.cleaned_data["phone"], default_region=self.default_region)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_occurred_at(self):
        when = self.cleaned_data.get("occurred_at")
        if when is None:
            return None
        when = when.replace(tzinfo=UTC) if timezone.is_naive(when) else when.astimezone(UTC)
        if when > timezone.now() + FUTURE_SLACK:
            raise forms.ValidationError("That time is in the future.")
        return when

    def clean(self):
        data = super().clean()
        kind, category = data.get("kind"), data.get("category")
        if kind == ConsentKind.OPT_IN and category == ALL_CATEGORIES:
            self.add_error("category", "Consent is given per category: choose one for an opt-in.")
        if kind == ConsentKind.OPT_IN and not (data.get("wording") or "").strip():
            self.add_error("wording", "Give the wording the person agreed to.")
        return data

    def evidence(self) -> Evidence:
        data = self.cleaned_data
        return Evidence(
            wording=data["wording"].strip(),
            wording_version=data["wording_version"].strip(),
            page_url=data["page_url"],
            ip_address=data["ip_address"] or None,
            channel=data["channel"].strip(),
        )
