"""Factories for portfolios and the delivery ledger (create inside a client's schema)."""

import factory
from django.utils import timezone

from compliance.models import BusinessPortfolio, MessageStatus


class PortfolioFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BusinessPortfolio
        django_get_or_create = ("meta_id",)

    meta_id = factory.Sequence(lambda n: f"51900{n:05d}")
    name = factory.Sequence(lambda n: f"Portfolio {n}")
    messaging_limit = "tier_250"


class SentFactory(factory.django.DjangoModelFactory):
    """A `sent` ledger row of a business-initiated (marketing, regular) message."""

    class Meta:
        model = MessageStatus

    phone_number_meta_id = factory.LazyAttribute(lambda o: o.number.meta_id if o.number else "")
    wamid = factory.Sequence(lambda n: f"wamid.factory.{n}")
    recipient = factory.Sequence(lambda n: f"4479113{n:05d}")
    status = "sent"
    occurred_at = factory.LazyFunction(timezone.now)
    pricing_category = "marketing"
    pricing_type = "regular"
