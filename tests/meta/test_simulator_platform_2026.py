"""The simulator speaks Meta's 2026 platform: owner portfolios on WABAs, BSUIDs and usernames in
messages webhooks, user-id changes, pacing pauses with 132015, message bursts, new events."""

from portal.meta.simulator.engine import Simulator


def value_of(envelope):
    return envelope["entry"][0]["changes"][0]["value"]


def test_wabas_name_their_owner_portfolio():
    sim = Simulator("demo")
    status, _, body, _, _ = sim.handle(
        "GET",
        "/v24.0/1110000001",
        {"fields": "id,owner_business_info"},
        None,
        token="dev-system-user-token",
    )
    assert status == 200
    assert body["owner_business_info"] == {
        "id": "5110000001",
        "name": "Acme Retail Group",
        "verification_status": "verified",
    }


def test_statuses_carry_the_bsuid_and_failed_ones_no_contacts():
    sim = Simulator("demo")
    [sent] = sim.apply(
        {
            "type": "message_status",
            "phone_number_id": "2110000001",
            "status": "delivered",
            "recipient_id": None,
            "recipient_user_id": "US.13491208655302741918",
            "username": "ana",
        }
    )
    value = value_of(sent)
    assert "recipient_id" not in value["statuses"][0]
    assert value["statuses"][0]["recipient_user_id"] == "US.13491208655302741918"
    assert value["contacts"] == [
        {"user_id": "US.13491208655302741918", "profile": {"username": "@ana"}}
    ]
    [failed] = sim.apply(
        {
            "type": "message_status",
            "phone_number_id": "2110000001",
            "status": "failed",
            "recipient_id": "447911123456",
            "recipient_user_id": "US.1",
            "error_codes": [131062],
        }
    )
    value = value_of(failed)
    assert "contacts" not in value
    assert "recipient_user_id" not in value["statuses"][0]  # sent by phone: no user id on failed
    assert value["statuses"][0]["errors"][0]["code"] == 131062


def test_inbound_without_a_phone_and_user_id_changes():
    sim = Simulator("demo")
    [inbound] = sim.apply(
        {
            "type": "inbound_message",
            "phone_number_id": "2110000001",
            "from": None,
            "user_id": "US.134",
            "username": "ana",
            "text": "STOP",
        }
    )
    value = value_of(inbound)
    assert "from" not in value["messages"][0]
    assert value["messages"][0]["from_user_id"] == "US.134"
    assert value["contacts"][0] == {
        "profile": {"name": "", "username": "@ana"},
        "user_id": "US.134",
    }
    [change] = sim.apply(
        {
            "type": "user_id_change",
            "phone_number_id": "2110000001",
            "previous_user_id": "US.134",
            "user_id": "US.208",
            "wa_id": "16505559876",
        }
    )
    system = value_of(change)["messages"][0]["system"]
    assert (system["type"], system["previous_user_id"], system["user_id"]) == (
        "user_changed_number",
        "US.134",
        "US.208",
    )
    assert "contacts" not in value_of(change)


def test_a_pacing_pause_needs_an_unpause_and_drops_held_messages():
    sim = Simulator("demo")
    produced = sim.apply(
        {
            "type": "template_pacing",
            "template_id": "3120000002",
            "held": 3,
            "phone_number_id": "2120000001",
        }
    )
    pause, dropped = (value_of(e) for e in produced)
    assert (pause["event"], pause["other_info"]["title"]) == ("PAUSED", "RATE_LIMITING_PAUSE")
    assert [s["errors"][0]["code"] for s in dropped["statuses"]] == [132015] * 3
    sim.advance(7 * 3600)
    assert sim.templates["3120000002"]["status"] == "PAUSED"  # no timer ends a pacing pause


def test_a_message_burst_is_one_delivery_of_unique_recipients():
    sim = Simulator("demo")
    [burst] = sim.apply(
        {
            "type": "message_burst",
            "phone_number_id": "2110000001",
            "count": 5,
            "category": "utility",
        }
    )
    statuses = value_of(burst)["statuses"]
    assert len({s["recipient_id"] for s in statuses}) == 5
    assert {s["pricing"]["category"] for s in statuses} == {"utility"}


def test_new_account_events_are_sent_as_meta_does():
    sim = Simulator("demo")
    [offboarded] = sim.apply(
        {"type": "account_update", "waba_id": "1110000001", "event": "ACCOUNT_OFFBOARDED"}
    )
    assert value_of(offboarded)["event"] == "ACCOUNT_OFFBOARDED"
