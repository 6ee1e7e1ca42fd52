"""Forms of the consent pages: the import upload and the messaging policy."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms

from compliance.consent import POLICY_FIELDS
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
