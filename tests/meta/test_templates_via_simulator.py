"""Template writes through GraphClient against the simulator: create, review after a delay,
edit rules and limits, delete, pauses (3 h, 6 h, disabled) and unpause."""

from __future__ import annotations

import pytest

from portal.meta.errors import MetaError, MetaNotFound, MetaTemplateEditRefused
from portal.meta.types import TemplateCategory, TemplateStatus
from tests.meta.conftest import WABA, body

HOUR = 3600
DAY = 24 * HOUR
GOOD_BODY = body("Hello {{1}}, your parcel {{2}} is ready for pickup at the front desk.")


def fields_of(envelopes):
    return [e["entry"][0]["changes"][0]["field"] for e in envelopes]


def values_of(envelopes):
    return [e["entry"][0]["changes"][0]["value"] for e in envelopes]


def create(client, name="parcel_ready", category=TemplateCategory.UTILITY, components=None):
    return client.create_template(
        WABA,
        name=name,
        language="en_US",
        category=category,
        components=components or GOOD_BODY,
    )


def test_create_is_pending_then_approved_after_the_review_delay(sim, client):
    created = create(client)

    assert created.status is TemplateStatus.PENDING
    assert created.category is TemplateCategory.UTILITY
    assert client.get_template(created.id).status is TemplateStatus.PENDING
    assert sim.advance(59) == []

    (envelope,) = sim.advance(1)

    value = envelope["entry"][0]["changes"][0]["value"]
    assert envelope["entry"][0]["id"] == WABA
    assert value["event"] == "APPROVED"
    assert value["message_template_id"] == int(created.id)
    assert value["message_template_name"] == "parcel_ready"
    assert value["message_template_language"] == "en_US"
    assert value["reason"] == "NONE"
    assert client.get_template(created.id).status is TemplateStatus.APPROVED


def test_review_rules_reject_with_a_documented_reason(sim, client):
    created = create(client, name="spring_promo", category=TemplateCategory.MARKETING)
    (value,) = values_of(sim.advance(60))
    assert value["event"] == "REJECTED"
    assert value["reason"] == "PROMOTIONAL"
    template = client.get_template(created.id)
    assert template.status is TemplateStatus.REJECTED
    assert template.rejected_reason == "PROMOTIONAL"


def test_invalid_format_rejection_carries_rejection_info(sim, client):
    created = create(client)
    (value,) = values_of(
        sim.apply(
            {
                "type": "template_review",
                "template_id": created.id,
                "outcome": "REJECTED",
                "reason": "INVALID_FORMAT",
            }
        )
    )
    assert value["rejection_info"]["reason"]
    assert sim.advance(60) == []  # the scheduled review is stale now


def test_template_parameter_format_and_flags_are_sent(sim, client):
    created = client.create_template(
        WABA,
        name="named_params",
        language="pt_BR",
        category=TemplateCategory.UTILITY,
        components=body("Olá {{first_name}}, o seu pedido {{order_id}} foi enviado hoje mesmo."),
        parameter_format="named",
        allow_category_change=True,
    )
    stored = sim.state.templates[created.id]
    assert stored["parameter_format"] == "named"
    assert stored["language"] == "pt_BR"


@pytest.mark.parametrize(
    ("components", "subcode"),
    [
        (body("{{1}} is the code we sent you for the order you placed."), 2388299),
        (body("Your order was shipped and the code you need is {{1}}"), 2388299),
        (body("Hi {{1}} {{2}} {{3}} {{4}} code"), 2388293),
        (body("x" * 1025), 2388040),
        ([{"type": "HEADER", "format": "TEXT", "text": "h" * 61}, *GOOD_BODY], 2388040),
        ([{"type": "HEADER", "format": "HOLOGRAM"}, *GOOD_BODY], 2388047),
        ([{"type": "FOOTER", "text": "Hi"}], 2388072),
        ([*GOOD_BODY, {"type": "FOOTER", "text": "Bye {{1}}"}], 2388073),
    ],
)
def test_create_validation_errors_keep_meta_subcodes(client, components, subcode):
    with pytest.raises(MetaError) as caught:
        create(client, components=components)
    assert caught.value.code == 100
    assert caught.value.subcode == subcode
    assert caught.value.http_status == 400
    assert caught.value.plain_message != caught.value.message


def test_duplicate_name_and_language_is_refused(client):
    with pytest.raises(MetaError) as caught:
        create(client, name="template_1")
    assert caught.value.subcode == 2388024


def test_template_limit_per_waba(scenario, sleeps):
    from portal.meta.client import GraphClient
    from portal.meta.simulator import SimulatorServer
    from tests.meta.conftest import TOKEN

    scenario["template_limit_per_waba"] = 7
    with (
        SimulatorServer(scenario) as sim,
        GraphClient(token=TOKEN, base_url=sim.url, sleep=sleeps.append) as client,
        pytest.raises(MetaError) as caught,
    ):
        create(client)
    assert caught.value.subcode == 2388019
    assert "limit of message templates" in caught.value.plain_message


def test_edit_pending_template_is_refused(client):
    created = create(client)
    with pytest.raises(MetaTemplateEditRefused) as caught:
        client.edit_template(created.id, components=GOOD_BODY)
    assert caught.value.subcode == 2388039
    assert "PENDING" in caught.value.details


def test_edit_approved_template_goes_back_to_review(sim, client):
    new_body = body("Hello {{1}}, parcel {{2}} waits for you at the front desk until 6 pm.")
    client.edit_template("3000000001", components=new_body)
    template = client.get_template("3000000001")
    assert template.status is TemplateStatus.PENDING
    assert template.components == tuple(new_body)
    (value,) = values_of(sim.advance(60))
    assert value["event"] == "APPROVED"


def test_approved_template_edit_limits_one_per_day_ten_per_thirty_days(sim, client):
    template_id = "3000000002"
    for edit in range(10):
        client.edit_template(template_id, components=GOOD_BODY)
        sim.advance(60)  # reviewed → APPROVED again
        if edit == 0:
            with pytest.raises(MetaTemplateEditRefused) as caught:
                client.edit_template(template_id, components=GOOD_BODY)
            assert "24 hours" in caught.value.details
        sim.advance(DAY)
    with pytest.raises(MetaTemplateEditRefused) as caught:
        client.edit_template(template_id, components=GOOD_BODY)
    assert "30 days" in caught.value.details
    assert caught.value.subcode == 2388039
    assert "10 times per 30 days" in caught.value.plain_message
    sim.advance(20 * DAY)  # the oldest edits leave the 30-day window
    client.edit_template(template_id, components=GOOD_BODY)


def test_rejected_template_has_no_edit_limit(sim, client):
    created = create(client, name="flash_promo")
    sim.advance(60)
    for _ in range(3):
        assert client.get_template(created.id).status is TemplateStatus.REJECTED
        client.edit_template(created.id, components=GOOD_BODY)
        sim.apply({"type": "template_review", "template_id": created.id, "outcome": "REJECTED"})


def test_category_of_an_approved_template_cannot_change(client):
    with pytest.raises(MetaTemplateEditRefused):
        client.edit_template("3000000001", category=TemplateCategory.MARKETING)


def test_delete_by_name_and_by_id(sim, client):
    client.create_template(
        WABA,
        name="template_1",
        language="fr",
        category=TemplateCategory.UTILITY,
        components=body("Bonjour {{1}}, votre colis est prêt à être retiré aujourd'hui."),
    )
    client.delete_template(WABA, name="template_2", template_id="3000000002")
    assert "3000000002" not in sim.state.templates
    client.delete_template(WABA, name="template_1")
    assert [t.name for t in client.list_templates(WABA)] == [f"template_{i}" for i in range(3, 8)]
    with pytest.raises(MetaNotFound):
        client.delete_template(WABA, name="template_1")


def test_disabled_template_cannot_be_deleted(sim, client):
    sim.apply({"type": "template_status", "template_id": "3000000003", "status": "DISABLED"})
    with pytest.raises(MetaError) as caught:
        client.delete_template(WABA, name="template_3")
    assert caught.value.subcode == 2388039


def test_pauses_first_three_hours_then_six_then_disabled(sim, client):
    template_id = "3000000004"

    envelopes = sim.apply(
        {"type": "template_quality", "template_id": template_id, "quality": "RED"}
    )
    assert fields_of(envelopes) == [
        "message_template_quality_update",
        "message_template_status_update",
    ]
    quality, status = values_of(envelopes)
    assert (quality["previous_quality_score"], quality["new_quality_score"]) == ("GREEN", "RED")
    assert status["event"] == "PAUSED"
    assert status["other_info"]["title"] == "FIRST_PAUSE"
    assert client.get_template(template_id).status is TemplateStatus.PAUSED

    assert sim.advance(3 * HOUR - 1) == []
    (unpause,) = values_of(sim.advance(1))
    assert unpause["event"] == "APPROVED"
    assert unpause["other_info"]["title"] == "UNPAUSE"
    assert client.get_template(template_id).status is TemplateStatus.APPROVED

    (status,) = values_of(
        sim.apply({"type": "template_quality", "template_id": template_id, "quality": "RED"})
    )
    assert status["other_info"]["title"] == "SECOND_PAUSE"
    assert sim.advance(6 * HOUR - 1) == []
    (unpause,) = values_of(sim.advance(1))
    assert unpause["other_info"]["title"] == "UNPAUSE"

    (status,) = values_of(
        sim.apply({"type": "template_quality", "template_id": template_id, "quality": "RED"})
    )
    assert status["event"] == "DISABLED"
    assert status["other_info"]["title"] == "DISABLED"
    assert status["disable_info"]["disable_date"]
    assert client.get_template(template_id).status is TemplateStatus.DISABLED
    assert sim.advance(30 * DAY) == []


def test_unpause_through_the_api_ends_the_pause_early(sim, client):
    template_id = "3000000005"
    sim.apply({"type": "template_quality", "template_id": template_id, "quality": "RED"})
    client.unpause_template(template_id)
    assert client.get_template(template_id).status is TemplateStatus.APPROVED
    assert sim.advance(3 * HOUR) == []  # the pause timer is void
    with pytest.raises(MetaError) as caught:
        client.unpause_template(template_id)
    assert caught.value.subcode == 2388039


def test_paused_template_can_be_edited(sim, client):
    template_id = "3000000006"
    sim.apply({"type": "template_quality", "template_id": template_id, "quality": "RED"})
    client.edit_template(template_id, components=GOOD_BODY)
    assert client.get_template(template_id).status is TemplateStatus.PENDING
    assert values_of(sim.advance(3 * HOUR))[0]["event"] == "APPROVED"  # the review, not unpause


def test_quality_change_without_red_does_not_pause(sim, client):
    envelopes = sim.apply(
        {"type": "template_quality", "template_id": "3000000007", "quality": "YELLOW"}
    )
    assert fields_of(envelopes) == ["message_template_quality_update"]
    template = client.get_template("3000000007")
    assert template.status is TemplateStatus.APPROVED
    assert template.quality.value == "medium"
