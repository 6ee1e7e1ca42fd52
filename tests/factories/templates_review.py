import factory
from django.utils import timezone

from compliance.models import WhatsAppAccount
from templates_review.choices import ReviewState
from templates_review.models import MessageTemplate, ReviewComment, TemplateRevision

BODY = {
    "type": "BODY",
    "text": "Hello {{1}}, your order has shipped. Thank you.",
    "example": {"body_text": [["Ana"]]},
}


def _account() -> WhatsAppAccount:
    """The current schema's first WABA (tests link one with `account_link` first)."""
    account = WhatsAppAccount.objects.order_by("pk").first()
    if account is None:
        account = WhatsAppAccount.objects.create(meta_id="1110000001", name="Test WABA")
    return account


class MessageTemplateFactory(factory.django.DjangoModelFactory):
    """A draft in the current schema with its first revision."""

    class Meta:
        model = MessageTemplate
        skip_postgeneration_save = True

    account = factory.LazyFunction(_account)
    name = factory.Sequence(lambda n: f"order_update_{n}")
    language = "en_US"
    category = "utility"
    parameter_format = "positional"
    components = factory.LazyFunction(lambda: [dict(BODY)])
    review_state = ReviewState.DRAFT

    @factory.post_generation
    def with_revision(obj, create, extracted, **kwargs):
        if create and extracted is not False and obj.revision_count == 0:
            TemplateRevisionFactory(template=obj, number=1)
            obj.revision_count = 1
            obj.save(update_fields=["revision_count"])


class TemplateRevisionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TemplateRevision

    template = factory.SubFactory(MessageTemplateFactory, with_revision=False)
    number = factory.Sequence(lambda n: n + 1)
    name = factory.LazyAttribute(lambda o: o.template.name)
    language = factory.LazyAttribute(lambda o: o.template.language)
    category = factory.LazyAttribute(lambda o: o.template.category)
    parameter_format = factory.LazyAttribute(lambda o: o.template.parameter_format)
    components = factory.LazyAttribute(lambda o: list(o.template.components))
    author_label = "factory"
    created_at = factory.LazyFunction(timezone.now)


class ReviewCommentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReviewComment

    template = factory.SubFactory(MessageTemplateFactory)
    body = "Please add an opt-out line."
    author_label = "factory"
