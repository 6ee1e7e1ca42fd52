from tests.factories.audit import AuditLogFactory
from tests.factories.consent import (
    ConsentEventFactory,
    ConsentImportFactory,
    ConsentStateFactory,
    ContactFactory,
    MessagingPolicyFactory,
)
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
    "ConsentEventFactory",
    "ConsentImportFactory",
    "ConsentStateFactory",
    "ContactFactory",
    "DomainFactory",
    "LoginHandoffFactory",
    "MembershipFactory",
    "MessageTemplateFactory",
    "MessagingPolicyFactory",
    "ReviewCommentFactory",
    "TemplateRevisionFactory",
    "UserFactory",
]
