"""Consent factories (create inside a client's schema, e.g. under `schema_context`)."""

from datetime import UTC, datetime

import factory
from django.core.files.base import ContentFile

from compliance import choices as c
from compliance.models import ConsentEvent, ConsentImport, ConsentState, Contact, MessagingPolicy


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact
        django_get_or_create = ("phone",)

    phone = factory.Sequence(lambda n: f"+4479112{n:05d}")


class ConsentStateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConsentState

    contact = factory.SubFactory(ContactFactory)
    category = c.ConsentCategory.MARKETING
    status = c.ConsentStatus.OPTED_IN


class ConsentEventFactory(factory.django.DjangoModelFactory):
    """A history row only; record through `compliance.consent` when the state must follow."""

    class Meta:
        model = ConsentEvent

    contact = factory.SubFactory(ContactFactory)
    category = c.ConsentCategory.MARKETING
    kind = c.ConsentKind.OPT_IN
    source = c.ConsentSource.WEB_FORM
    wording = "Yes, send me offers on WhatsApp."
    wording_version = "v1"
    occurred_at = factory.LazyFunction(lambda: datetime(2025, 3, 1, 10, 0, tzinfo=UTC))
    dedupe_key = factory.Sequence(lambda n: f"factory-consent-{n}")


class MessagingPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MessagingPolicy
        django_get_or_create = ("singleton",)

    singleton = True
    marketing_cap = 2


class ConsentImportFactory(factory.django.DjangoModelFactory):
    """An uploaded import waiting for its job (the file is stored for real)."""

    class Meta:
        model = ConsentImport

    original_name = "consents.csv"
    file = factory.LazyFunction(
        lambda: ContentFile(b"phone,category,action\n+447911123456,marketing,opt_in\n", "c.csv")
    )
    size_bytes = 52
    sha256 = "0" * 64
