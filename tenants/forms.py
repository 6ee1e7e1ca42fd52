from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

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
