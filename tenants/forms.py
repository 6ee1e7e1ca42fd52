from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from tenants.choices import ApiScope, ClientRole
from tenants.models import NotificationDelivery
from tenants.selectors import tenant_access_for
from tenants.services import client_validate_slug


class LoginForm(AuthenticationForm):
    """E-mail and password. On a client host, only people with access to it may sign in."""

    username = forms.EmailField(
        label="E-mail", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        tenant = getattr(self.request, "tenant", None)
        on_client_host = tenant is not None and not tenant.is_public
        if on_client_host and tenant_access_for(user=user, client=tenant) is None:
            raise ValidationError(
                "This account has no access to %(client)s.",
                code="no_access",
                params={"client": tenant.name},
            )


class ClientCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.CharField(
        max_length=40,
        label="Address",
        help_text="Lowercase letters, digits and hyphens; the portal is at <address>.<domain>.",
    )
    owner_email = forms.EmailField(label="Owner's e-mail")
    default_region = forms.CharField(max_length=2, initial="US", label="Default country (ISO)")

    def clean_slug(self):
        slug = self.cleaned_data["slug"].strip().lower()
        client_validate_slug(slug)
        return slug

    def clean_default_region(self):
        region = self.cleaned_data["default_region"].strip().upper()
        if len(region) != 2 or not region.isalpha():
            raise ValidationError("Use a two-letter ISO country code, e.g. US or DE.")
        return region


class LinkWabaForm(forms.Form):
    waba_id = forms.RegexField(
        regex=r"^\d{5,20}$",
        label="WABA id",
        error_messages={"invalid": "A WABA id is a number, as shown in Meta's Business Manager."},
    )
    name = forms.CharField(max_length=200, required=False)


# --- Client self-service (keys, members, notifications, activity) ---------------------------


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “CRM sync”.")
    scopes = forms.MultipleChoiceField(
        choices=ApiScope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[ApiScope.READ],
        error_messages={"required": "Choose at least one scope."},
        help_text="Read: look up consent, templates and health. Write: record consent, "
        "draft templates, run the pre-send check.",
    )


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail")
    role = forms.ChoiceField(choices=ClientRole.choices, initial=ClientRole.AGENT)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=ClientRole.choices)


class InvitationAcceptForm(forms.Form):
    """A new person sets a name and a password; an existing account confirms its password."""

    full_name = forms.CharField(max_length=200, required=False, label="Your name")
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}), label="Password"
    )
    password_again = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        label="Password again",
        required=False,
    )

    def __init__(self, *args, existing_account: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.existing_account = existing_account
        if existing_account:
            del self.fields["full_name"]
            del self.fields["password_again"]
            self.fields["password"].label = "Your current password"
            self.fields["password"].widget.attrs["autocomplete"] = "current-password"

    def clean(self):
        data = super().clean()
        if self.existing_account or self.errors:
            return data
        if data.get("password") != data.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        else:
            try:
                password_validation.validate_password(data["password"])
            except ValidationError as exc:
                self.add_error("password", exc)
        return data


class NotificationForm(forms.Form):
    severities = forms.MultipleChoiceField(
        choices=[("critical", "Critical alerts"), ("warning", "Warnings")],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="E-mail me about",
        help_text="Leave both unticked for no alert e-mails (alerts still show in the portal).",
    )
    delivery = forms.ChoiceField(
        choices=NotificationDelivery.choices, widget=forms.RadioSelect, label="When"
    )


class ActivityFilterForm(forms.Form):
    actor = forms.CharField(max_length=254, required=False, label="Who")
    action = forms.CharField(
        max_length=100,
        required=False,
        label="Action",
        widget=forms.TextInput(attrs={"list": "activity-actions"}),
    )
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="Until", widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise ValidationError("“From” must be on or before “Until”.")
        return data


class FleetFilterForm(forms.Form):
    """Fleet health's filters and order, read from the query string (a plain GET form: it works
    without JavaScript). A value outside the choices is a form error, and the list unfiltered."""

    q = forms.CharField(required=False, max_length=100, label="Search")
    client = forms.SlugField(required=False, max_length=50, label="Client (slug)")
    band = forms.ChoiceField(required=False, label="Band")
    status = forms.ChoiceField(required=False, label="Status")
    quality = forms.ChoiceField(required=False, label="Quality")
    sort = forms.ChoiceField(required=False, label="Order")

    def __init__(self, *args, **kwargs):
        from compliance.choices import NUMBER_STATUS_CHOICES, QUALITY_CHOICES, Band
        from tenants.selectors import FLEET_SORTS

        super().__init__(*args, **kwargs)
        self.fields["band"].choices = [("", "All bands"), *Band.choices]
        self.fields["status"].choices = [("", "Any status"), *NUMBER_STATUS_CHOICES]
        self.fields["quality"].choices = [("", "Any quality"), *QUALITY_CHOICES]
        self.fields["sort"].choices = [(s.key, s.label) for s in FLEET_SORTS.values()]

    def filters(self) -> dict:
        """The valid filters (all of them empty when the form is invalid)."""
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "search": data.get("q", "").strip(),
            "client_slug": data.get("client", ""),
            "band": data.get("band", ""),
            "status": data.get("status", ""),
            "quality": data.get("quality", ""),
            "sort": data.get("sort") or "risk",
        }
