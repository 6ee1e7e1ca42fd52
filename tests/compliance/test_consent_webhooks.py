"""Opt-outs arriving from Meta (keyword texts, 131050, user_preferences) and consent violations."""

from datetime import UTC, datetime, timedelta

from django_tenants.utils import schema_context

from compliance.consent import consent_record_opt_in
from compliance.models import ConsentEvent, ConsentState, HealthEvent, MessagingPolicy
from portal.meta.services import webhook_delivery_process, webhook_delivery_store
from tests.assets import ACME_PHONE, ACME_WABA
from tests.webhooks import body_of, envelope

ALICE = "447911123456"  # Alice Archer's WhatsApp id (a UK mobile)
T0 = 1_763_000_000


def deliver(payload: dict, *, replay: bool = False) -> dict:
    if replay:  # the same change in a new delivery (Meta retries with a different batch)
        payload = {**payload, "entry": [{**payload["entry"][0], "time": T0 + 999}]}
    delivery_id = webhook_delivery_store(body=body_of(payload))
    assert delivery_id is not None
    return webhook_delivery_process(delivery_id=delivery_id)


def inbound(text: str, wamid: str = "wamid.IN1") -> dict:
    return envelope(
        ACME_WABA,
        "messages",
        {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550100001", "phone_number_id": ACME_PHONE},
            "contacts": [{"profile": {"name": "Alice Archer"}, "wa_id": ALICE}],
            "messages": [
                {
                    "from": ALICE,
                    "id": wamid,
                    "timestamp": str(T0),
                    "type": "text",
                    "text": {"body": text},
                }
            ],
        },
        time=None,
    )


def statuses(*items: dict) -> dict:
    return envelope(
        ACME_WABA,
        "messages",
        {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550100001", "phone_number_id": ACME_PHONE},
            "statuses": list(items),
        },
        time=None,
    )


def marketing_sent(wamid: str, at: int = T0) -> dict:
    return {
        "id": wamid,
        "status": "sent",
        "timestamp": str(at),
        "recipient_id": ALICE,
        "pricing": {"pricing_model": "PMP", "type": "regular", "category": "marketing"},
    }


def consent(client):
    with schema_context(client.schema_name):
        return (
            dict(
                ConsentState.objects.filter(contact__phone=f"+{ALICE}").values_list(
                    "category", "status"
                )
            ),
            list(ConsentEvent.objects.order_by("id").values_list("kind", "source", "data")),
        )


def test_stop_keyword_opts_out_of_marketing_once(acme, acme_number):
    assert deliver(inbound("  stop "))["applied"] == 1
    deliver(inbound("  stop "), replay=True)  # Meta retries: nothing new

    states, events = consent(acme)
    assert states == {"marketing": "opted_out"}
    assert events == [
        ("opt_out", "whatsapp_keyword", {"wamid": "wamid.IN1", "text": "  stop "}),
    ]


def test_per_language_keyword_and_configured_keywords(acme, acme_number):
    deliver(inbound("Baja", wamid="wamid.ES"))
    assert consent(acme)[0] == {"marketing": "opted_out"}

    with schema_context(acme.schema_name):
        MessagingPolicy.objects.create(opt_out_keywords=["NO MORE"])
    deliver(inbound("stop", wamid="wamid.EN"))  # no longer a keyword for this client
    deliver(inbound("no more", wamid="wamid.NM"))
    assert [e[2]["wamid"] for e in consent(acme)[1]] == ["wamid.ES", "wamid.NM"]


def test_a_keyword_inside_a_sentence_is_not_an_opt_out(acme, acme_number):
    deliver(inbound("Please don't stop sending me offers"))

    assert consent(acme) == ({}, [])


def test_error_131050_opts_out_of_marketing(acme, acme_number):
    failed = {
        "id": "wamid.F1",
        "status": "failed",
        "timestamp": str(T0),
        "recipient_id": ALICE,
        "errors": [{"code": 131050, "title": "User stopped marketing"}],
    }
    deliver(statuses(failed))
    deliver(statuses(failed), replay=True)

    states, events = consent(acme)
    assert states == {"marketing": "opted_out"}
    assert events == [("opt_out", "meta_131050", {"wamid": "wamid.F1", "error_code": 131050})]


def test_other_errors_do_not_opt_out(acme, acme_number):
    deliver(
        statuses(
            {
                "id": "wamid.F2",
                "status": "failed",
                "timestamp": str(T0),
                "recipient_id": ALICE,
                "errors": [{"code": 131049, "title": "Per-user limit"}],
            }
        )
    )
    assert consent(acme) == ({}, [])


def user_preferences(value: str, timestamp: int = T0) -> dict:
    return envelope(
        ACME_WABA,
        "user_preferences",
        {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550100001", "phone_number_id": ACME_PHONE},
            "contacts": [{"wa_id": ALICE, "profile": {"name": "Alice Archer"}}],
            "user_preferences": [
                {
                    "wa_id": ALICE,
                    "detail": f"User requested to {value} marketing messages",
                    "category": "marketing_messages",
                    "value": value,
                    "timestamp": timestamp,
                }
            ],
        },
        time=None,
    )


def test_user_preferences_stop_then_resume(acme, acme_number):
    assert deliver(user_preferences("stop"))["applied"] == 1
    assert consent(acme)[0] == {"marketing": "opted_out"}

    deliver(user_preferences("resume", timestamp=T0 + 60))
    deliver(user_preferences("resume", timestamp=T0 + 60), replay=True)

    states, events = consent(acme)
    assert states == {"marketing": "opted_in"}
    assert [(kind, source) for kind, source, _ in events] == [
        ("opt_out", "meta_user_preferences"),
        ("opt_in", "meta_user_preferences"),
    ]


def test_user_preferences_for_other_categories_are_ignored(acme, acme_number):
    payload = user_preferences("stop")
    payload["entry"][0]["changes"][0]["value"]["user_preferences"][0]["category"] = "calls"
    deliver(payload)

    assert consent(acme) == ({}, [])


def violations(client):
    with schema_context(client.schema_name):
        return list(
            HealthEvent.objects.filter(kind="consent_violation").values_list(
                "severity", "data", "number_id"
            )
        )


def test_marketing_without_opt_in_is_a_violation_once_per_message(acme, acme_number):
    deliver(statuses(marketing_sent("wamid.M1")))
    deliver(statuses(marketing_sent("wamid.M1")), replay=True)

    assert violations(acme) == [
        (
            "warning",
            {"wamid": "wamid.M1", "recipient": f"+{ALICE}", "consent": "none"},
            acme_number.pk,
        )
    ]
    with schema_context(acme.schema_name):
        assert HealthEvent.objects.get(kind="consent_violation").alert is not None


def test_marketing_after_opt_in_is_fine_and_after_opt_out_is_not(acme, acme_number):
    opted_in = datetime.fromtimestamp(T0 - 3600, tz=UTC)
    with schema_context(acme.schema_name):
        consent_record_opt_in(
            phone=f"+{ALICE}", category="marketing", source="web_form", occurred_at=opted_in
        )
    deliver(statuses(marketing_sent("wamid.OK")))
    deliver(inbound("STOP"))  # at T0
    deliver(statuses(marketing_sent("wamid.LATE", at=T0 + 60)))

    assert [data["wamid"] for _, data, _ in violations(acme)] == ["wamid.LATE"]
    assert violations(acme)[0][1]["consent"] == "opt_out"


def test_utility_sends_and_other_statuses_are_not_checked(acme, acme_number):
    utility = marketing_sent("wamid.U1")
    utility["pricing"]["category"] = "utility"
    delivered = marketing_sent("wamid.D1")
    delivered["status"] = "delivered"
    deliver(statuses(utility, delivered))

    assert violations(acme) == []


def test_an_opt_in_recorded_after_the_send_does_not_excuse_it(acme, acme_number):
    with schema_context(acme.schema_name):
        consent_record_opt_in(
            phone=f"+{ALICE}",
            category="marketing",
            source="web_form",
            occurred_at=datetime.fromtimestamp(T0, tz=UTC) + timedelta(hours=1),
        )
    deliver(statuses(marketing_sent("wamid.EARLY")))

    assert [data["consent"] for _, data, _ in violations(acme)] == ["none"]
