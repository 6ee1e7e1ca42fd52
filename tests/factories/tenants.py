from datetime import timedelta

import factory
from django.utils import timezone

from tenants import services
from tenants.choices import ClientRole
from tenants.models import ApiKey, Client, Domain, LoginHandoff, Membership, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    full_name = factory.Faker("name")
    password = factory.django.Password("test-pass")


class ClientFactory(factory.django.DjangoModelFactory):
    """Provisions through the real service, so the client has its schema, domain and owner."""

    class Meta:
        model = Client

    name = factory.Sequence(lambda n: f"Client {n}")
    slug = factory.Sequence(lambda n: f"client-{n}")
    owner_email = factory.LazyAttribute(lambda o: f"owner@{o.slug}.example")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return services.client_create(**kwargs)


class DomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Domain

    tenant = factory.SubFactory(ClientFactory)
    domain = factory.Sequence(lambda n: f"alias{n}.localhost")
    is_primary = False


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    client = factory.SubFactory(ClientFactory)
    role = ClientRole.AGENT


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """Creates through the service; the raw key is on the instance as `raw_key` (shown once)."""

    class Meta:
        model = ApiKey

    client = factory.SubFactory(ClientFactory)
    name = "Integration"
    scopes = factory.LazyFunction(lambda: ["read", "write"])

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        key, raw = services.api_key_create(**kwargs)
        key.raw_key = raw
        return key


class LoginHandoffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LoginHandoff

    jti = factory.Sequence(lambda n: f"jti-{n}")
    user = factory.SubFactory(UserFactory)
    client = factory.SubFactory(ClientFactory)
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(seconds=60))
