from tests.factories.audit import AuditLogFactory
from tests.factories.templates_review import (
    MessageTemplateFactory,
    ReviewCommentFactory,
    TemplateRevisionFactory,
)
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
    "MessageTemplateFactory",
    "ReviewCommentFactory",
    "TemplateRevisionFactory",
    "UserFactory",
]
