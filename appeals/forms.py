from __future__ import annotations

from functools import cache

from django import forms
from django.utils.safestring import SafeString
from django.utils.translation import get_language

from appeals import choices as c
from appeals.models import AppealTicket
from compliance.models import PhoneNumber, WhatsAppAccount


class ListedChoices(forms.models.ModelChoiceIterator):
    """A select's options from one ordinary query (the appeal form's selects, the staff assign
    form's staff members). Django's iterator() reads them through a server-side cursor, which
    outside a transaction is DECLARE ... WITH HOLD, FETCH and CLOSE: three round trips a
    select, for lists of a few hundred rows at most here."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset.all():  # a copy: the field's own queryset keeps no rows
            yield self.choice(obj)


class AppealOpenForm(forms.ModelForm):
    """The guided form: what the appeal is about, then what Meta's review needs."""

    class Meta:
        model = AppealTicket
        fields = [
            "title",
            "subject_kind",
            "account",
            "number",
            "template",
            "block_type",
            "violation_type",
            "blocked_at",
            "block_ends_at",
            "api_uses",
            "consent_process",
            "improvement_plan",
            "priority",
        ]
        labels = {
            "subject_kind": "The appeal is about",
            "account": "WhatsApp Business Account",
            "number": "Phone number",
            "template": "Template",
            "blocked_at": "Blocked since",
            "block_ends_at": "Block ends",
            "api_uses": "How you use the WhatsApp API",
            "consent_process": "How people agree to your messages",
            "improvement_plan": "Improvement plan",
        }
        widgets = {
            "blocked_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "block_ends_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "api_uses": forms.Textarea(attrs={"rows": 4}),
            "consent_process": forms.Textarea(attrs={"rows": 4}),
            "improvement_plan": forms.Textarea(attrs={"rows": 4}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from templates_review.models import MessageTemplate

        # Only what the option labels show (`__str__`); the chosen row's other fields load when
        # the service reads them. The iterator first: the widget takes its choices from the
        # field when the queryset is set.
        for name in ("account", "number", "template"):
            self.fields[name].iterator = ListedChoices
        self.fields["account"].queryset = WhatsAppAccount.objects.order_by("name", "meta_id").only(
            "pk", "name", "meta_id"
        )
        self.fields["account"].required = False
        self.fields["number"].queryset = PhoneNumber.objects.order_by("display_phone_number").only(
            "pk", "display_phone_number"
        )
        self.fields["template"].queryset = MessageTemplate.objects.order_by(
            "name", "language"
        ).only("pk", "name", "language")
        self.fields["blocked_at"].input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
        self.fields["block_ends_at"].input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
        for name in ("api_uses", "consent_process", "improvement_plan"):
            self.fields[name].help_text += " Required before you submit."


class AnswersForm(forms.ModelForm):
    class Meta:
        model = AppealTicket
        fields = ["title", "api_uses", "consent_process", "improvement_plan", "priority"]
        labels = AppealOpenForm.Meta.labels
        widgets = AppealOpenForm.Meta.widgets


class MessageForm(forms.Form):
    body = forms.CharField(label="Message", widget=forms.Textarea(attrs={"rows": 3}))
    file = forms.FileField(label="Attach a file (PDF, PNG, JPEG, TXT or CSV)", required=False)


class StaffMessageForm(MessageForm):
    internal = forms.BooleanField(label="Internal note (staff only)", required=False)


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(queryset=None, required=False, label="Assignee")
    priority = forms.ChoiceField(choices=c.Priority.choices)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from tenants.models import User

        self.fields["assignee"].iterator = ListedChoices
        self.fields["assignee"].queryset = User.objects.filter(
            is_staff=True, is_active=True
        ).order_by("email")


class OutcomeForm(forms.Form):
    outcome = forms.ChoiceField(choices=c.Outcome.choices)
    note = forms.CharField(
        label="Note for the client (shown in the thread)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


@cache
def _blank_as_p(form_class: type[forms.BaseForm], language: str | None) -> SafeString:
    return form_class().as_p()


def form_as_p(form: forms.BaseForm) -> SafeString:
    """`form.as_p()`. A form of a class with fixed fields (no `__init__` of its own) made with
    no data, initial values or prefix, and not changed since (the staff appeal page's message
    and outcome forms, on every view of it), is the same markup on every page: that of its
    class, written once per language. Writing them was an eighth of the page's time."""
    fixed = type(form).__init__ is forms.BaseForm.__init__
    if form.is_bound or form.initial or form.prefix or not fixed:
        return form.as_p()
    return _blank_as_p(type(form), get_language())
