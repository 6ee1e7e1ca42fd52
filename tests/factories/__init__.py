from tests.factories.audit import AuditLogFactory
from tests.factories.tenants import (
    ApiKeyFactory,
    ClientFactory,
    DomainFactory,
    LoginHandoffFactory,
    MembershipFactory,
    UserFactory,
)

__all__ = [
    "ApiKeyFactory",
    "AuditLogFactory",
    "ClientFactory",
    "DomainFactory",
    "LoginHandoffFactory",
    "MembershipFactory",
    "UserFactory",
]
