"""Meta's side after submission: the simulator's quality-driven pause ladder reaches the
template through webhooks; the client's page shows the time left of each pause, then
"disabled" on the third, and every step raises a client alert."""

from __future__ import annotations

from django.db import connection
from django_tenants.utils import schema_context

from compliance.models import Alert
from portal.meta.services import webhook_delivery_process, webhook_delivery_store
from templates_review import services
from templates_review.models import MessageTemplate
from templates_review.services import Actor
from tests.factories import MessageTemplateFactory
from tests.templates_review.conftest import approve_and_send
from tests.webhooks import body_of


def deliver_all(envelopes):
    connection.set_schema_to_public()
    for payload in envelopes:
        webhook_delivery_process(delivery_id=webhook_delivery_store(body=body_of(payload)))


def test_pauses_show_time_left_then_disabled_and_alert_the_client(
    web, acme, acme_waba, acme_viewer, staff_reviewer, sim, graph
):
    author = Actor(principal=None, role="agent", label="test")
    reviewer = Actor(principal=staff_reviewer, role="template_reviewer")
    with schema_context(acme.schema_name):
        template = MessageTemplateFactory(name="low_quality_one")
        services.template_submit(template=template, actor=author, client=acme)
        template = approve_and_send(template=template, actor=reviewer, graph=graph, client=acme)
    deliver_all(sim.advance(60))  # Meta approves it
    http = web(acme, acme_viewer)
    page = f"/templates/{template.pk}/"

    deliver_all(
        sim.apply({"type": "template_quality", "template_id": template.meta_id, "quality": "RED"})
    )
    first = http.get(page).content.decode()
    assert "Quality pause</dt><dd>2\xa0hours, 59\xa0minutes left (pause 1 of 2" in first or (
        "Quality pause</dt><dd>3\xa0hours left (pause 1 of 2" in first
    )

    deliver_all(sim.advance(3 * 3600 + 1))  # the pause ends on Meta's clock
    deliver_all(
        sim.apply({"type": "template_quality", "template_id": template.meta_id, "quality": "RED"})
    )
    second = http.get(page).content.decode()
    assert "(pause 2 of 2" in second

    deliver_all(sim.advance(6 * 3600 + 1))
    deliver_all(
        sim.apply({"type": "template_quality", "template_id": template.meta_id, "quality": "RED"})
    )
    third = http.get(page).content.decode()
    assert "after 3 pauses for low quality" in third
    assert "Quality pause</dt>" not in third
    with schema_context(acme.schema_name):
        stored = MessageTemplate.objects.get(pk=template.pk)
        assert (stored.meta_status, stored.pause_count) == ("disabled", 3)
        titles = list(
            Alert.objects.order_by("event__occurred_at", "id").values_list(
                "event__title", flat=True
            )
        )
    assert [t for t in titles if "paused" in t or "disabled" in t] == [
        "Template low_quality_one paused for 3 hours because of low quality",
        "Template low_quality_one paused for 6 hours because of low quality",
        "Template low_quality_one disabled after repeated low quality",
    ]
    assert "Template low_quality_one quality: low" in titles
