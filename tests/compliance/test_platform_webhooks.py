"""The 2026 platform services driven from real webhooks (issue 13 wired into the issue 12 spine):
each payload is stored and processed by the pipeline (`webhook_delivery_store` +
`webhook_delivery_process`), and the other client's state stays untouched."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance.consent import consent_record_opt_in
from compliance.identity import contact_resolve
from compliance.models import (
    Alert,
    BusinessPortfolio,
    ConsentEvent,
    Contact,
    ContactIdentityChange,
    HealthEvent,
    InboundMessage,
    MessageStatus,
    PhoneNumber,
    PortfolioLimitChange,
    WhatsAppAccount,
)
from compliance.portfolio import account_portfolio_set
from compliance.presend import presend_check
from compliance.services import number_routes_ensure
from portal.meta.services import webhook_delivery_process, webhook_delivery_store
from tests.assets import ACME_PHONE, ACME_WABA
from tests.webhooks import body_of, envelope

GLOBEX_PHONE = "2120000001"
ALICE = "+447911123456"
ALICE_ID = "GB.13491208655302741918"
ALICE_NEW_ID = "GB.20800000000000000001"


def deliver(payload: dict) -> dict:
    delivery_id = webhook_delivery_store(body=body_of(payload))
    assert delivery_id is not None
    return webhook_delivery_process(delivery_id=delivery_id)


def in_schema(client, fn):
    with schema_context(client.schema_name):
        return fn()


def unix(moment) -> int:
    return int(moment.timestamp())


@pytest.fixture
def portfolios(acme, globex, acme_number, globex_waba):
    """Acme's WABA owned by portfolio 501 (limit 1K), Globex's by 502 (limit 1K)."""

    def own(business_id):
        account = WhatsAppAccount.objects.get()
        portfolio = account_portfolio_set(account=account, business_id=business_id)
        BusinessPortfolio.objects.filter(pk=portfolio.pk).update(messaging_limit="tier_1k")
        return portfolio

    return in_schema(acme, lambda: own("501")), in_schema(globex, lambda: own("502"))


@pytest.fixture
def globex_number(globex, globex_waba):
    with schema_context(globex.schema_name):
        number = PhoneNumber.objects.create(
            account=globex_waba,
            meta_id=GLOBEX_PHONE,
            display_phone_number="+1 555-020-0001",
            verified_name="Globex",
            status="connected",
            quality="high",
            messaging_limit="tier_1k",
        )
    number_routes_ensure(numbers=[number], client=globex)
    return number


def portfolio_state(client):
    def read():
        portfolio = BusinessPortfolio.objects.get()
        return (
            portfolio.messaging_limit,
            portfolio.max_phone_numbers,
            PortfolioLimitChange.objects.count(),
        )

    return in_schema(client, read)


# --- portfolio limit --------------------------------------------------------------------------


def test_portfolio_limit_from_the_current_payload_is_the_portfolios(acme, globex, portfolios):
    now = timezone.now()
    deliver(
        envelope(
            ACME_WABA,
            "business_capability_update",
            {
                "max_daily_conversations_per_business": "TIER_10K",
                "max_phone_numbers_per_business": 20,
            },
            time=unix(now),
        )
    )

    assert portfolio_state(acme) == ("tier_10k", 20, 1)
    # the shared limit is not copied onto the number any more
    assert in_schema(acme, lambda: PhoneNumber.objects.get().messaging_limit) == "tier_10k"
    assert in_schema(acme, lambda: PhoneNumber.objects.get().messaging_limit_at) is None
    event = in_schema(acme, lambda: HealthEvent.objects.get(kind="portfolio_limit"))
    assert event.title == (
        "Messaging limit of 501 raised: 1,000 recipients a day → 10,000 recipients a day"
    )
    assert portfolio_state(globex) == ("tier_1k", None, 0)


def test_portfolio_limit_from_the_legacy_payload(acme, globex, portfolios):
    now = timezone.now()
    deliver(
        envelope(
            ACME_WABA,
            "business_capability_update",
            {"max_daily_conversation_per_phone": 100000},
            time=unix(now),
        )
    )

    assert portfolio_state(acme) == ("tier_100k", None, 1)
    assert portfolio_state(globex) == ("tier_1k", None, 0)


def test_a_late_capability_update_is_history_only(acme, portfolios):
    now = timezone.now()
    for limit, moment in (("TIER_10K", now), ("TIER_2K", now - timedelta(hours=1))):
        deliver(
            envelope(
                ACME_WABA,
                "business_capability_update",
                {"max_daily_conversations_per_business": limit},
                time=unix(moment),
            )
        )

    assert portfolio_state(acme) == ("tier_10k", None, 2)
    superseded = in_schema(
        acme, lambda: list(PortfolioLimitChange.objects.values_list("limit", "superseded"))
    )
    assert sorted(superseded) == [("tier_10k", False), ("tier_2k", True)]


def test_number_quality_update_states_the_portfolio_limit(acme, globex, portfolios):
    deliver(
        envelope(
            ACME_WABA,
            "phone_number_quality_update",
            {
                "display_phone_number": "15550100001",
                "event": "ONBOARDING",
                "max_daily_conversations_per_business": "TIER_2K",
            },
            time=unix(timezone.now()),
        )
    )

    assert portfolio_state(acme) == ("tier_2k", None, 1)
    assert in_schema(acme, lambda: PhoneNumber.objects.get().messaging_limit) == "tier_10k"
    assert portfolio_state(globex) == ("tier_1k", None, 0)


def test_without_a_portfolio_the_legacy_per_number_limit_stays(acme, acme_number):
    deliver(
        envelope(
            ACME_WABA,
            "phone_number_quality_update",
            {
                "display_phone_number": "15550100001",
                "event": "UPGRADE",
                "current_limit": "TIER_100K",
            },
            time=unix(timezone.now()),
        )
    )

    assert in_schema(acme, lambda: PhoneNumber.objects.get().messaging_limit) == "tier_100k"
    assert in_schema(acme, lambda: BusinessPortfolio.objects.count()) == 0


# --- account events ---------------------------------------------------------------------------


def test_an_unknown_account_event_is_a_visible_warning(acme, globex, acme_waba, globex_waba):
    deliver(
        envelope(
            ACME_WABA,
            "account_update",
            {"event": "BRAND_NEW_THING", "waba_info": {"owner_business_id": "777"}},
            time=unix(timezone.now()),
        )
    )

    event = in_schema(acme, lambda: HealthEvent.objects.get())
    assert (event.kind, event.severity, event.title) == (
        "unknown_event",
        "warning",
        "Meta sent an account event the portal does not know: BRAND_NEW_THING",
    )
    assert event.data["event"] == "BRAND_NEW_THING"
    assert in_schema(acme, lambda: Alert.objects.filter(event=event).count()) == 1
    owner = in_schema(acme, lambda: WhatsAppAccount.objects.get().portfolio.meta_id)
    assert owner == "777"
    assert in_schema(globex, lambda: HealthEvent.objects.count()) == 0
    assert in_schema(globex, lambda: WhatsAppAccount.objects.get().portfolio_id) is None


def test_an_offboarded_account_stops_syncing(acme, globex, acme_waba, globex_waba):
    deliver(
        envelope(
            ACME_WABA,
            "account_update",
            {"event": "ACCOUNT_DELETED"},
            time=unix(timezone.now()),
        )
    )

    assert in_schema(acme, lambda: WhatsAppAccount.objects.get().connection_state) == "deleted"
    assert in_schema(globex, lambda: WhatsAppAccount.objects.get().connection_state) == "active"


# --- messages: error actions, BSUIDs, identity changes ----------------------------------------


def _messages(phone_id: str, display: str, **parts) -> dict:
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": display, "phone_number_id": phone_id},
        **parts,
    }


def _failed(wamid: str, recipient: str, code: int, at) -> dict:
    return {
        "id": wamid,
        "status": "failed",
        "timestamp": str(unix(at)),
        "recipient_id": recipient,
        "errors": [{"code": code, "title": "failed"}],
    }


def test_131026_and_131056_act_on_the_contact(acme, globex, acme_number, globex_number):
    at = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    deliver(
        envelope(
            ACME_WABA,
            "messages",
            _messages(
                ACME_PHONE,
                "15550100001",
                statuses=[
                    _failed("wamid.U1", "447911123456", 131026, at),
                    _failed("wamid.P1", "447911123457", 131056, at),
                ],
            ),
            time=None,
        )
    )

    unreachable = in_schema(acme, lambda: Contact.objects.get(phone="+447911123456"))
    assert unreachable.unreachable_at == at
    paired = in_schema(acme, lambda: Contact.objects.get(phone="+447911123457"))
    assert (paired.backoff_count, paired.backoff_until) == (1, at + timedelta(seconds=4))
    assert in_schema(globex, lambda: Contact.objects.count()) == 0


def test_a_failed_status_to_a_bsuid_is_in_the_ledger_and_acts(acme, acme_number):
    at = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    status = _failed("wamid.B1", "", 131026, at)
    del status["recipient_id"]
    status["recipient_user_id"] = ALICE_ID
    deliver(
        envelope(ACME_WABA, "messages", _messages(ACME_PHONE, "15550100001", statuses=[status]))
    )

    assert in_schema(acme, lambda: MessageStatus.objects.get().recipient) == ALICE_ID
    assert in_schema(acme, lambda: Contact.objects.get(bsuid=ALICE_ID).unreachable_at) == at


def _inbound(wamid: str, at, *, text: str, phone: str | None, bsuid: str | None) -> dict:
    message = {"id": wamid, "timestamp": str(unix(at)), "type": "text", "text": {"body": text}}
    contact = {"profile": {"name": "Alice", "username": "@alice"}}
    if phone:
        message["from"], contact["wa_id"] = phone, phone
    if bsuid:
        message["from_user_id"], contact["user_id"] = bsuid, bsuid
    return {"contacts": [contact], "messages": [message]}


def test_a_bsuid_only_opt_out_through_a_webhook_suppresses_the_phone(
    acme, globex, acme_number, globex_number
):
    now = timezone.now().replace(microsecond=0)
    for client in (acme, globex):
        in_schema(
            client,
            lambda: consent_record_opt_in(
                phone=ALICE,
                category="marketing",
                source="web_form",
                occurred_at=now - timedelta(days=3),
            ),
        )
    # Alice writes with phone and BSUID: one identity holds both
    hello = _inbound(
        "wamid.H1", now - timedelta(hours=2), text="Hi", phone="447911123456", bsuid=ALICE_ID
    )
    deliver(envelope(ACME_WABA, "messages", _messages(ACME_PHONE, "15550100001", **hello)))
    # then she says STOP from a username-only device: Meta names her by BSUID alone
    stop = _inbound("wamid.S1", now - timedelta(hours=1), text="Stop.", phone=None, bsuid=ALICE_ID)
    deliver(envelope(ACME_WABA, "messages", _messages(ACME_PHONE, "15550100001", **stop)))

    inbound = in_schema(
        acme,
        lambda: list(
            InboundMessage.objects.order_by("wamid").values_list(
                "wamid", "sender", "sender_bsuid", "sender_username"
            )
        ),
    )
    assert inbound == [
        ("wamid.H1", "447911123456", ALICE_ID, "@alice"),
        ("wamid.S1", ALICE_ID, ALICE_ID, "@alice"),
    ]
    contact = in_schema(acme, lambda: Contact.objects.get())
    assert (contact.phone, contact.bsuid) == (ALICE, ALICE_ID)
    decision = in_schema(
        acme,
        lambda: presend_check(recipient=ALICE, phone_number_id=ACME_PHONE, category="marketing"),
    )
    assert (decision.allowed, [r.code for r in decision.reasons]) == (False, ["opted_out"])
    # Globex's Alice is another client's contact: still opted in
    other = in_schema(
        globex,
        lambda: presend_check(recipient=ALICE, phone_number_id=GLOBEX_PHONE, category="marketing"),
    )
    assert other.allowed is True


def test_a_bsuid_only_user_preferences_stop_suppresses_the_phone(acme, acme_number):
    now = timezone.now().replace(microsecond=0)
    in_schema(
        acme,
        lambda: consent_record_opt_in(
            phone=ALICE,
            category="marketing",
            source="web_form",
            occurred_at=now - timedelta(days=3),
        ),
    )
    in_schema(acme, lambda: contact_resolve(phone=ALICE, bsuid=ALICE_ID))
    deliver(
        envelope(
            ACME_WABA,
            "user_preferences",
            {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550100001", "phone_number_id": ACME_PHONE},
                "user_preferences": [
                    {
                        "user_id": ALICE_ID,
                        "category": "marketing_messages",
                        "value": "stop",
                        "timestamp": unix(now - timedelta(minutes=1)),
                    }
                ],
            },
            time=None,
        )
    )

    decision = in_schema(
        acme,
        lambda: presend_check(recipient=ALICE, phone_number_id=ACME_PHONE, category="marketing"),
    )
    assert [r.code for r in decision.reasons] == ["opted_out"]
    sources = in_schema(
        acme,
        lambda: list(ConsentEvent.objects.order_by("occurred_at").values_list("source", flat=True)),
    )
    assert sources == ["web_form", "meta_user_preferences"]


def test_a_user_id_change_merges_identities(acme, globex, acme_number, globex_number):
    now = timezone.now().replace(microsecond=0)
    in_schema(
        acme,
        lambda: consent_record_opt_in(
            phone=ALICE,
            category="marketing",
            source="web_form",
            occurred_at=now - timedelta(days=3),
        ),
    )
    old = in_schema(acme, lambda: contact_resolve(phone=ALICE, bsuid=ALICE_ID))
    stray = in_schema(acme, lambda: contact_resolve(bsuid=ALICE_NEW_ID, create=True))
    in_schema(globex, lambda: contact_resolve(bsuid=ALICE_ID, create=True))
    notice = {
        "from": "447911123456",
        "id": "wamid.SYS1",
        "timestamp": str(unix(now - timedelta(minutes=1))),
        "type": "system",
        "system": {
            "body": "User changed",
            "type": "user_changed_user_id",
            "user_id": ALICE_NEW_ID,
            "previous_user_id": ALICE_ID,
        },
    }
    payload = envelope(
        ACME_WABA, "messages", _messages(ACME_PHONE, "15550100001", messages=[notice])
    )
    deliver(payload)

    contact = in_schema(acme, lambda: Contact.objects.get())
    assert (contact.pk, contact.phone, contact.bsuid) == (old.pk, ALICE, ALICE_NEW_ID)
    assert stray.pk != old.pk
    change = in_schema(acme, lambda: ContactIdentityChange.objects.get())
    assert (change.previous_bsuid, change.bsuid) == (ALICE_ID, ALICE_NEW_ID)
    assert in_schema(acme, lambda: ConsentEvent.objects.filter(contact=contact).count()) == 1
    # globex's contact with the old BSUID is another client's person: untouched
    assert in_schema(globex, lambda: list(Contact.objects.values_list("bsuid", flat=True))) == [
        ALICE_ID
    ]
    assert in_schema(globex, lambda: ContactIdentityChange.objects.count()) == 0


def test_a_forwarded_user_id_update_merges_too(acme, globex, acme_number, globex_number):
    old = in_schema(acme, lambda: contact_resolve(phone=ALICE, bsuid=ALICE_ID, create=True))
    in_schema(acme, lambda: contact_resolve(bsuid=ALICE_NEW_ID, create=True))
    in_schema(globex, lambda: contact_resolve(bsuid=ALICE_ID, create=True))
    update = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100001", "phone_number_id": ACME_PHONE},
        "user_id_update": [
            {
                "detail": "changed",
                "user_id": {"previous": ALICE_ID, "current": ALICE_NEW_ID},
                "timestamp": str(unix(timezone.now())),
            }
        ],
    }
    sent = unix(timezone.now())
    deliver(envelope(ACME_WABA, "user_id_update", update, time=sent))
    # the same change again in another delivery (a BSP's retry batches anew)
    deliver(envelope(ACME_WABA, "user_id_update", update, time=sent + 1))

    contact = in_schema(acme, lambda: Contact.objects.get())
    assert (contact.pk, contact.phone, contact.bsuid) == (old.pk, ALICE, ALICE_NEW_ID)
    assert in_schema(acme, lambda: ContactIdentityChange.objects.count()) == 1
    assert in_schema(globex, lambda: list(Contact.objects.values_list("bsuid", flat=True))) == [
        ALICE_ID
    ]
