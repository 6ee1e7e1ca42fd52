"""Simulator webhooks: envelopes per meta-platform.md §4.4, signed X-Hub-Signature-256,
delivered synchronously from apply()/advance(), in the background otherwise."""

from __future__ import annotations

import json
import threading

import pytest

from portal.meta import signatures
from portal.meta.client import GraphClient
from portal.meta.simulator import SimulatorServer, payloads
from portal.meta.types import CanSend, NumberStatus, Quality
from tests.meta.conftest import START, TOKEN, WABA

SECRET = "test-app-secret"
DAY = 86400


@pytest.fixture
def hooked(scenario, receiver):
    with SimulatorServer(scenario, webhook_url=receiver.url, app_secret=SECRET) as sim:
        yield sim


def change(envelope):
    (entry,) = envelope["entry"]
    (item,) = entry["changes"]
    return entry, item["field"], item["value"]


def test_apply_delivers_signed_envelopes_synchronously(hooked, receiver):
    envelopes = hooked.apply(
        {
            "type": "account_restriction",
            "waba_id": WABA,
            "restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING",
            "days": 7,
        }
    )

    ((raw, headers),) = receiver.requests
    assert signatures.verify(raw, headers[signatures.HEADER], [SECRET])
    assert not signatures.verify(raw, headers[signatures.HEADER], ["another-secret"])
    assert headers["Content-Type"] == "application/json"
    assert json.loads(raw) == envelopes[0]
    assert envelopes[0] == {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA,
                "time": START,
                "changes": [
                    {
                        "field": "account_update",
                        "value": {
                            "event": "ACCOUNT_RESTRICTION",
                            "restriction_info": [
                                {
                                    "restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING",
                                    "expiration": START + 7 * DAY,
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    assert hooked.deliveries[0]["status"] == 200
    assert hooked.deliveries[0]["attempts"] == 1


def test_non_200_is_retried(hooked, receiver):
    receiver.statuses = [500, 503]
    hooked.apply({"type": "account_review", "waba_id": WABA, "decision": "DEFERRED"})
    assert len(receiver.requests) == 3
    assert hooked.deliveries[-1]["attempts"] == 3
    assert hooked.deliveries[-1]["status"] == 200


def test_non_ascii_bodies_are_signed_over_the_raw_bytes(hooked, receiver):
    hooked.apply(
        {
            "type": "inbound_message",
            "phone_number_id": "2000000001",
            "text": "PARE ✋ já",
            "name": "Zoë",
        }
    )
    ((raw, headers),) = receiver.requests
    assert "✋".encode() in raw
    assert signatures.verify(raw, headers[signatures.HEADER], [SECRET])


def test_restriction_is_lifted_when_it_expires(hooked):
    hooked.apply(
        {
            "type": "account_restriction",
            "waba_id": WABA,
            "restriction_types": [
                "RESTRICTED_ADD_PHONE_NUMBER_ACTION",
                "RESTRICTED_UTILITY_TEMPLATES",
            ],
            "days": 1,
        }
    )
    with GraphClient(token=TOKEN, base_url=hooked.url) as client:
        assert client.get_waba(WABA).health.can_send is CanSend.LIMITED
        assert hooked.advance(DAY) == []
        assert hooked.state.wabas[WABA]["restrictions"] == []
        assert client.get_waba(WABA).health.can_send is CanSend.AVAILABLE


@pytest.mark.parametrize("state", ["SCHEDULE_FOR_DISABLE", "DISABLE", "REINSTATE"])
def test_ban_states(hooked, state):
    (envelope,) = hooked.apply(
        {"type": "ban", "waba_id": WABA, "state": state, "date": "May 1, 2026"}
    )
    _, field, value = change(envelope)
    assert field == "account_update"
    assert value == {
        "event": "DISABLED_UPDATE",
        "ban_info": {"waba_ban_state": state, "waba_ban_date": "May 1, 2026"},
    }


def test_ban_state_in_meta_s_reference_shape_a_one_item_list(hooked):
    (envelope,) = hooked.apply(
        {"type": "ban", "waba_id": WABA, "state": "SCHEDULE_FOR_DISABLE", "as_list": True}
    )
    assert change(envelope)[2]["ban_info"]["waba_ban_state"] == ["SCHEDULE_FOR_DISABLE"]


def test_scheduled_ban_date_defaults_to_a_readable_date(hooked):
    (envelope,) = hooked.apply({"type": "ban", "waba_id": WABA, "state": "SCHEDULE_FOR_DISABLE"})
    assert change(envelope)[2]["ban_info"]["waba_ban_date"] == "January 31, 2026"


def test_violation_review_alert_capability_and_other_account_events(hooked):
    fired = [
        hooked.apply({"type": "account_violation", "waba_id": WABA, "violation_type": "ADULT"}),
        hooked.apply({"type": "account_review", "waba_id": WABA, "decision": "REJECTED"}),
        hooked.apply(
            {
                "type": "account_alert",
                "waba_id": WABA,
                "alert_type": "INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED",
                "alert_severity": "WARNING",
                "alert_description": "Not yet.",
            }
        ),
        hooked.apply(
            {
                "type": "business_capability",
                "waba_id": WABA,
                "max_daily_conversations_per_business": "TIER_100K",
                "max_phone_numbers_per_business": 20,
            }
        ),
        hooked.apply(
            {
                "type": "account_update",
                "waba_id": WABA,
                "event": "PARTNER_REMOVED",
                "disconnection_info": {"reason": "CHANGE_NUMBER", "initiated_by": "USER"},
            }
        ),
    ]
    values = [change(e[0]) for e in fired]
    assert [field for _, field, _ in values] == [
        "account_update",
        "account_review_update",
        "account_alerts",
        "business_capability_update",
        "account_update",
    ]
    assert values[0][2] == {
        "event": "ACCOUNT_VIOLATION",
        "violation_info": {"violation_type": "ADULT"},
    }
    assert values[1][2] == {"decision": "REJECTED"}
    assert values[2][2] == {
        "entity_type": "BUSINESS",
        "entity_id": "9000000001",
        "alert_info": {
            "alert_severity": "WARNING",
            "alert_status": "ACTIVE",
            "alert_type": "INCREASED_CAPABILITIES_ELIGIBILITY_DEFERRED",
            "alert_description": "Not yet.",
        },
    }
    assert values[3][2] == {
        "max_daily_conversations_per_business": "TIER_100K",
        "max_phone_numbers_per_business": 20,
    }
    assert values[4][2]["disconnection_info"]["reason"] == "CHANGE_NUMBER"
    assert hooked.state.wabas[WABA]["account_review_status"] == "REJECTED"
    assert hooked.state.numbers["2000000001"]["whatsapp_business_manager_messaging_limit"] == (
        "TIER_100K"
    )


def test_number_quality_drift_flags_red_numbers(hooked):
    with GraphClient(token=TOKEN, base_url=hooked.url) as client:
        assert (
            hooked.apply(
                {"type": "number_quality", "phone_number_id": "2000000001", "quality": "YELLOW"}
            )
            == []
        )
        number = client.get_phone_number("2000000001")
        assert (number.quality, number.status) == (Quality.MEDIUM, NumberStatus.CONNECTED)

        (envelope,) = hooked.apply(
            {
                "type": "number_quality",
                "phone_number_id": "2000000001",
                "quality": "RED",
                "legacy": True,
            }
        )
        assert change(envelope)[1:] == (
            "phone_number_quality_update",
            {
                "display_phone_number": "15550000001",
                "event": "FLAGGED",
                "current_limit": "TIER_10K",
            },
        )
        number = client.get_phone_number("2000000001")
        assert (number.quality, number.status) == (Quality.LOW, NumberStatus.FLAGGED)

        (envelope,) = hooked.apply(
            {
                "type": "number_quality",
                "phone_number_id": "2000000001",
                "quality": "GREEN",
                "legacy": True,
            }
        )
        assert change(envelope)[2]["event"] == "UNFLAGGED"
        assert client.get_phone_number("2000000001").status is NumberStatus.CONNECTED


def test_messaging_limit_changes_current_and_legacy_forms(hooked):
    (current,) = hooked.apply(
        {"type": "messaging_limit", "phone_number_id": "2000000002", "limit": "TIER_100K"}
    )
    assert change(current)[1:] == (
        "phone_number_quality_update",
        {
            "display_phone_number": "15550000002",
            "event": "UPGRADE",
            "max_daily_conversations_per_business": "TIER_100K",
        },
    )
    legacy = hooked.apply(
        {"type": "messaging_limit", "waba_id": WABA, "limit": "TIER_2K", "legacy": True}
    )
    assert len(legacy) == 5  # portfolio level: every number of the WABA
    assert change(legacy[1])[2] == {
        "display_phone_number": "15550000002",
        "event": "DOWNGRADE",
        "current_limit": "TIER_2K",
    }
    assert hooked.state.numbers["2000000003"]["messaging_limit_tier"] == "TIER_2K"


def test_display_name_decisions(hooked):
    (envelope,) = hooked.apply(
        {
            "type": "name_update",
            "phone_number_id": "2000000003",
            "decision": "REJECTED",
            "requested_verified_name": "Best Co Ever",
            "rejection_reason": "NAME_FORMAT_UNACCEPTABLE",
        }
    )
    assert change(envelope)[1:] == (
        "phone_number_name_update",
        {
            "display_phone_number": "15550000003",
            "decision": "REJECTED",
            "requested_verified_name": "Best Co Ever",
            "rejection_reason": "NAME_FORMAT_UNACCEPTABLE",
        },
    )
    assert hooked.state.numbers["2000000003"]["new_name_status"] == "DECLINED"


def test_template_category_update_impending_then_completed(hooked):
    (impending,) = hooked.apply(
        {
            "type": "template_category",
            "template_id": "3000000001",
            "correct_category": "MARKETING",
            "impending": True,
        }
    )
    _, field, value = change(impending)
    assert field == "template_category_update"
    assert value["new_category"] == "UTILITY"
    assert value["correct_category"] == "MARKETING"
    assert value["category_update_timestamp"] == START + DAY
    (completed,) = hooked.advance(DAY)
    assert change(completed)[2]["previous_category"] == "UTILITY"
    assert change(completed)[2]["new_category"] == "MARKETING"


def test_message_statuses_with_pricing_and_errors(hooked):
    (delivered,) = hooked.apply(
        {
            "type": "message_status",
            "phone_number_id": "2000000001",
            "status": "delivered",
            "recipient_id": "15551234567",
            "category": "marketing",
            "wamid": "wamid.ABC",
        }
    )
    entry, field, value = change(delivered)
    assert field == "messages"
    assert "time" not in entry
    assert value["metadata"] == {
        "display_phone_number": "15550000001",
        "phone_number_id": "2000000001",
    }
    assert value["statuses"] == [
        {
            "id": "wamid.ABC",
            "status": "delivered",
            "timestamp": str(START),
            "recipient_id": "15551234567",
            "pricing": {
                "billable": True,
                "pricing_model": "PMP",
                "type": "regular",
                "category": "marketing",
            },
        }
    ]
    for code in (131049, 131050, 131048, 131026):
        (failed,) = hooked.apply(
            {
                "type": "message_status",
                "phone_number_id": "2000000001",
                "status": "failed",
                "error_code": code,
            }
        )
        (status,) = change(failed)[2]["statuses"]
        assert status["status"] == "failed"
        assert "pricing" not in status
        assert status["errors"][0]["code"] == code
        assert status["errors"][0]["title"] == payloads.ERROR_TITLES[code]
        assert status["errors"][0]["error_data"]["details"]


def test_inbound_stop_message(hooked):
    (envelope,) = hooked.apply(
        {
            "type": "inbound_message",
            "phone_number_id": "2000000002",
            "from": "15557654321",
            "text": "STOP",
            "name": "Ana",
        }
    )
    value = change(envelope)[2]
    assert value["contacts"] == [{"profile": {"name": "Ana"}, "wa_id": "15557654321"}]
    (message,) = value["messages"]
    assert (message["from"], message["type"], message["text"]) == (
        "15557654321",
        "text",
        {"body": "STOP"},
    )
    assert message["id"].startswith("wamid.")


def test_raw_webhook_event(hooked):
    (envelope,) = hooked.apply(
        {"type": "webhook", "waba_id": WABA, "field": "user_preferences", "value": {"x": 1}}
    )
    assert change(envelope)[1:] == ("user_preferences", {"x": 1})


def test_timeline_events_fire_on_the_clock(scenario):
    scenario["events"] = [
        {"at": 30, "type": "number_quality", "phone_number_id": "2000000001", "quality": "YELLOW"},
        {"at": 10, "type": "ban", "waba_id": WABA, "state": "SCHEDULE_FOR_DISABLE"},
    ]
    with SimulatorServer(scenario) as sim:
        assert sim.advance(9) == []
        (ban,) = sim.advance(1)
        assert change(ban)[2]["ban_info"]["waba_ban_state"] == "SCHEDULE_FOR_DISABLE"
        assert sim.state.numbers["2000000001"]["quality_rating"] == "GREEN"
        sim.advance(20)
        assert sim.state.numbers["2000000001"]["quality_rating"] == "YELLOW"
        assert sim.now == START + 30


def test_webhooks_from_api_calls_are_delivered_in_the_background(hooked, receiver):
    arrived = threading.Event()
    original = receiver.server.RequestHandlerClass.do_POST

    def do_post(handler):
        original(handler)
        arrived.set()

    receiver.server.RequestHandlerClass.do_POST = do_post
    with GraphClient(token=TOKEN, base_url=hooked.url) as client:
        client.delete_template(WABA, name="template_1")
    assert arrived.wait(10)
    (raw, headers) = receiver.requests[0]
    assert signatures.verify(raw, headers[signatures.HEADER], [SECRET])
    assert change(json.loads(raw))[2]["event"] == "DELETED"


def test_unknown_events_are_refused(sim):
    with pytest.raises(ValueError, match="unknown event type"):
        sim.apply({"type": "meteor_strike"})
    with pytest.raises(ValueError, match="unknown WABA"):
        sim.apply({"type": "ban", "waba_id": "nope", "state": "DISABLE"})


def test_payload_builders_are_usable_without_the_simulator():
    envelope = payloads.message_template_status_update(
        WABA,
        template_id="123",
        name="order_update",
        language="en_US",
        event="PAUSED",
        other_info_title="FIRST_PAUSE",
        time=START,
    )
    body = payloads.encode(envelope)
    assert signatures.verify(body, signatures.sign(body, SECRET), [SECRET])
    assert change(envelope)[2]["other_info"] == {"title": "FIRST_PAUSE", "description": ""}
    assert change(envelope)[2]["message_template_id"] == 123
