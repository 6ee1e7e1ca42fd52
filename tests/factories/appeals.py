"""Appeal factories. Build them inside the client's schema (`schema_context`)."""

from datetime import timedelta

import factory
from django.utils import timezone

from appeals import choices as c
from appeals.models import (
    APPEAL_WINDOW,
    AppealAttachment,
    AppealMessage,
    AppealTicket,
    RecoveryItem,
)


class AppealTicketFactory(factory.django.DjangoModelFactory):
    """A draft appeal of a WABA with complete guided answers; pass `account`."""

    class Meta:
        model = AppealTicket

    title = factory.Sequence(lambda n: f"Messaging block {n}")
    subject_kind = c.SubjectKind.WABA
    block_type = c.BlockType.MESSAGING_BLOCK
    violation_type = "spam"
    blocked_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=2))
    appeal_deadline = factory.LazyAttribute(lambda o: o.blocked_at + APPEAL_WINDOW)
    api_uses = "Order confirmations and delivery updates after a purchase."
    consent_process = "Checkbox at checkout naming Acme Retail and WhatsApp order updates."
    improvement_plan = "Removed the promotional footer from utility templates on 1 March."


class AppealMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AppealMessage

    ticket = factory.SubFactory(AppealTicketFactory)
    side = c.Side.CLIENT
    body = factory.Sequence(lambda n: f"Message {n}")


class AppealAttachmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AppealAttachment

    ticket = factory.SubFactory(AppealTicketFactory)
    file = factory.django.FileField(filename="note.txt", data=b"hello")
    original_name = "note.txt"
    content_type = "text/plain"
    size = 5


class RecoveryItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RecoveryItem

    ticket = factory.SubFactory(AppealTicketFactory)
    kind = c.RecoveryKind.PROCESS_REVIEW
    title = factory.Sequence(lambda n: f"Step {n}")
