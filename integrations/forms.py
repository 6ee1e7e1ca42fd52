from django import forms

from integrations.choices import EVENT_GROUPS, EVENT_TYPES


def event_type_choices():
    groups = [(f"{g}.*", f"Every {g} event") for g in EVENT_GROUPS]
    return groups + [(k, f"{k} — {v}") for k, v in sorted(EVENT_TYPES.items())]


class EndpointForm(forms.Form):
    url = forms.URLField(
        label="Receiver URL",
        max_length=500,
        assume_scheme="https",
        help_text="A public http(s) address. Redirects are not followed.",
    )
    description = forms.CharField(max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        choices=event_type_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked to receive every event.",
    )
