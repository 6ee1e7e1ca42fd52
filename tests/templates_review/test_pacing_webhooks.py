"""Template pacing from real webhooks: a `RATE_LIMITING_PAUSE` is a pacing pause (state and
words), a `FIRST_PAUSE` a quality pause; the unpause clears the kind and releases held
messages. The other client's template of the same Meta id stays as it was."""

from django.utils import timezone
from django_tenants.utils import schema_context

from compliance.models import HealthEvent
from portal.meta.services import webhook_delivery_process, webhook_delivery_store
from templates_review.choices import PAUSE_KIND_TEXT, PauseKind
from templates_review.models import MessageTemplate
from templates_review.pacing import template_held_set
from tests.assets import ACME_WABA, GLOBEX_WABA
from tests.webhooks import body_of, envelope


def deliver(payload: dict) -> dict:
    delivery_id = webhook_delivery_store(body=body_of(payload))
    assert delivery_id is not None
    return webhook_delivery_process(delivery_id=delivery_id)


def in_schema(client, fn):
    with schema_context(client.schema_name):
        return fn()


def status(waba: str, event: str, title: str, at: int) -> dict:
    return envelope(
        waba,
        "message_template_status_update",
        {
            "event": event,
            "message_template_id": 7001,
            "message_template_name": "spring_sale",
            "message_template_language": "en_US",
            "reason": "NONE",
            "other_info": {"title": title, "description": "Meta's words"},
        },
        time=at,
    )


def test_a_pacing_pause_is_worded_as_pacing_and_the_unpause_releases_holds(
    acme, globex, acme_waba, globex_waba
):
    now = int(timezone.now().timestamp())
    deliver(status(GLOBEX_WABA, "PAUSED", "FIRST_PAUSE", now - 30))
    deliver(status(ACME_WABA, "PAUSED", "RATE_LIMITING_PAUSE", now - 20))

    template = in_schema(acme, lambda: MessageTemplate.objects.get())
    assert (template.meta_status, template.pause_kind, template.paused_until) == (
        "paused",
        PauseKind.PACING,
        None,
    )
    assert template.needs_unpause is True
    assert template.pause_text == PAUSE_KIND_TEXT[PauseKind.PACING]
    event = in_schema(acme, lambda: HealthEvent.objects.get())
    assert (event.kind, event.title, event.detail) == (
        "template_paused",
        "Template spring_sale paused by template pacing",
        PAUSE_KIND_TEXT[PauseKind.PACING],
    )
    quality = in_schema(globex, lambda: HealthEvent.objects.get())
    assert (quality.title, quality.detail) == (
        "Template spring_sale paused for 3 hours because of low quality",
        PAUSE_KIND_TEXT[PauseKind.QUALITY],
    )

    in_schema(
        acme,
        lambda: template_held_set(template=template, held=12, at=timezone.now()),
    )
    deliver(status(ACME_WABA, "APPROVED", "UNPAUSE", now - 10))

    template = in_schema(acme, lambda: MessageTemplate.objects.get())
    assert (template.meta_status, template.pause_kind, template.held_count) == (
        "approved",
        "",
        0,
    )
    assert template.held_since is None
    titles = in_schema(
        acme, lambda: list(HealthEvent.objects.order_by("id").values_list("title", flat=True))
    )
    assert titles[-1] == "Template spring_sale unpaused"
    other = in_schema(globex, lambda: MessageTemplate.objects.get())
    assert (other.meta_status, other.pause_kind, other.pause_count) == (
        "paused",
        PauseKind.QUALITY,
        1,
    )
