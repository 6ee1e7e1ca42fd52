import factory

from portal.audit.models import AuditLog


class AuditLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditLog

    action = "test.action"
    actor_label = "system"
