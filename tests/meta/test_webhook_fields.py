"""The typed parser of each webhook field: every shape Meta documents or is known to send, and
a precise reason for anything else (meta-platform §4, §7)."""

from datetime import UTC, datetime

import pytest

from portal.meta import types as meta
from portal.meta.webhooks.contract import WebhookRejected
from portal.meta.webhooks.fields import PARSERS
from portal.meta.webhooks.fields import (
    parse_account_alerts as account_alerts,
)
from portal.meta.webhooks.fields import (
    parse_account_review_update as account_review_update,
)
from portal.meta.webhooks.fields import (
    parse_account_update as account_update,
)
from portal.meta.webhooks.fields import (
    parse_business_capability_update as business_capability_update,
)
from portal.meta.webhooks.fields import parse_messages as messages
from portal.meta.webhooks.fields import (
    parse_phone_number_name_update as phone_number_name_update,
)
from portal.meta.webhooks.fields import (
    parse_phone_number_quality_update as phone_number_quality_update,
)
from portal.meta.webhooks.fields import parse_security as security
from portal.meta.webhooks.fields import (
    parse_template_category_update as template_category_update,
)
from portal.meta.webhooks.fields import (
    parse_template_components_update as template_components_update,
)
from portal.meta.webhooks.fields import (
    parse_template_quality_update as template_quality_update,
)
from portal.meta.webhooks.fields import (
    parse_template_status_update as template_status_update,
)
from portal.meta.webhooks.fields import parse_user_id_update as user_id_update
from portal.meta.webhooks.fields import parse_user_preferences as user_preferences

T = 1_763_000_000
AT = datetime.fromtimestamp(T, tz=UTC)


def rejected(parser, value) -> str:
    with pytest.raises(WebhookRejected) as caught:
        parser(value)
    return caught.value.reason


def test_every_field_of_the_issue_has_a_parser():
    assert set(PARSERS) == {
        "account_update",
        "account_review_update",
        "account_alerts",
        "business_capability_update",
        "phone_number_quality_update",
        "phone_number_name_update",
        "message_template_status_update",
        "message_template_quality_update",
        "message_template_components_update",
        "template_category_update",
        "messages",
        "user_preferences",
        "user_id_update",
        "security",
    }


# --- account_update -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (["SCHEDULE_FOR_DISABLE"], meta.BanState.SCHEDULED_FOR_DISABLE),  # Meta's reference
        ("SCHEDULE_FOR_DISABLE", meta.BanState.SCHEDULED_FOR_DISABLE),
        (["DISABLE"], meta.BanState.DISABLED),
        ("DISABLE", meta.BanState.DISABLED),
        ("REINSTATE", meta.BanState.REINSTATED),
        (["reinstate"], meta.BanState.REINSTATED),
        ("SOMETHING_NEW", meta.BanState.UNKNOWN),
    ],
)
def test_ban_state_as_a_list_or_a_string(state, expected):
    data = account_update(
        {
            "event": "DISABLED_UPDATE",
            "ban_info": {"waba_ban_state": state, "waba_ban_date": "April 17, 2026"},
        }
    )

    assert data.event == meta.AccountEvent.DISABLED_UPDATE
    assert (data.ban.state, data.ban.date) == (expected, "April 17, 2026")


def test_restrictions_with_and_without_expiry_and_remediation():
    data = account_update(
        {
            "event": "ACCOUNT_RESTRICTION",
            "restriction_info": [
                {"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": T},
                {
                    "restriction_type": "RESTRICTED_USER_INITIATED_CALLING_CALL_BUTTON_HIDDEN",
                    "remediation": "Re-enable the button",
                },
                {"restriction_type": "RESTRICTED_UTILITY_TEMPLATES", "expiration": str(T)},
            ],
        }
    )

    assert [(r.type, r.expires_at, r.remediation) for r in data.restrictions] == [
        (meta.RestrictionType.BUSINESS_INITIATED_MESSAGING, AT, ""),
        (meta.RestrictionType.USER_INITIATED_CALLING_BUTTON_HIDDEN, None, "Re-enable the button"),
        (meta.RestrictionType.UTILITY_TEMPLATES, AT, ""),
    ]
    assert data.rejected == ()


def test_a_null_restriction_item_is_rejected_alone():
    data = account_update(
        {
            "event": "ACCOUNT_RESTRICTION",
            "restriction_info": [
                None,
                {"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": T},
            ],
        }
    )

    assert [r.raw_type for r in data.restrictions] == ["RESTRICTED_BIZ_INITIATED_MESSAGING"]
    (failure,) = data.rejected
    assert (failure.index, failure.kind, failure.rejected) == (0, "restriction", True)
    assert failure.error == "value.restriction_info[0]: expected an object, got null"
    assert failure.value == {"event": "ACCOUNT_RESTRICTION", "restriction_info": [None]}


def test_violation_partner_and_other_events():
    violation = account_update(
        {"event": "ACCOUNT_VIOLATION", "violation_info": {"violation_type": "ADULT"}}
    )
    partner = account_update(
        {
            "event": "PARTNER_REMOVED",
            "disconnection_info": {"reason": "CHANGE_NUMBER", "initiated_by": "USER"},
            "waba_info": {"waba_id": 1110000001, "owner_business_id": "9"},
        }
    )
    country = account_update({"event": "BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE", "country": "DE"})
    future = account_update({"event": "SOMETHING_META_ADDS_LATER"})

    assert violation.violation_type == "ADULT"
    assert partner.partner.reason == "CHANGE_NUMBER"
    assert partner.partner.waba_id == "1110000001"  # an id as an integer
    assert country.country == "DE"
    assert (future.event, future.raw_event) == (
        meta.AccountEvent.UNKNOWN,
        "SOMETHING_META_ADDS_LATER",
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ([], "value: expected an object, got a list"),
        ({}, "value.event: missing"),
        ({"event": 7}, "value.event: expected a string, got an integer"),
        ({"event": "DISABLED_UPDATE"}, "value.ban_info: missing"),
        (
            {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": ["DISABLE", "REINSTATE"]}},
            "value.ban_info.waba_ban_state: names 2 different values; expected one",
        ),
        (
            {"event": "DISABLED_UPDATE", "ban_info": {"waba_ban_state": [3]}},
            "value.ban_info.waba_ban_state[0]: expected a string, got an integer",
        ),
        (
            {"event": "DISABLED_UPDATE", "ban_info": "DISABLE"},
            "value.ban_info: expected an object, got a string",
        ),
        (
            {"event": "ACCOUNT_RESTRICTION", "restriction_info": {"restriction_type": "X"}},
            "value.restriction_info: expected a list, got an object",
        ),
        ({"event": "ACCOUNT_VIOLATION\x00"}, "value.event: contains a NUL character"),
        (
            {"event": "ACCOUNT_VIOLATION", "violation_info": {"violation_type": "\ud800"}},
            "value.violation_info.violation_type: contains a lone surrogate (not valid Unicode)",
        ),
        ({"event": "X", "extra": float("nan")}, "value.extra: nan is not a finite number"),
    ],
)
def test_account_update_bad_shapes(value, reason):
    assert rejected(account_update, value) == reason


def test_a_restriction_expiring_out_of_range_is_rejected_alone():
    data = account_update(
        {
            "event": "ACCOUNT_RESTRICTION",
            "restriction_info": [
                {"restriction_type": "RESTRICTED_UTILITY_TEMPLATES", "expiration": T * 1000}
            ],
        }
    )

    assert data.rejected[0].error == (
        f"value.restriction_info[0].expiration: {T * 1000} is not a time between 2000 and 2100"
    )


def test_deep_nesting_is_refused_without_recursion():
    value: dict = {"event": "X"}
    node = value
    for _ in range(10_000):
        node["n"] = {}
        node = node["n"]

    assert "nested more than 32 levels deep" in rejected(account_update, value)


# --- other account fields -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "expected"),
    [
        ("APPROVED", meta.ReviewStatus.APPROVED),
        ("REJECTED", meta.ReviewStatus.REJECTED),
        ("PENDING", meta.ReviewStatus.PENDING),
        ("DEFERRED", meta.ReviewStatus.DEFERRED),
        (["APPROVED"], meta.ReviewStatus.APPROVED),
    ],
)
def test_account_review_decisions(decision, expected):
    assert account_review_update({"decision": decision}).decision == expected


def test_account_review_without_a_decision_is_rejected():
    assert rejected(account_review_update, {"decision": None}) == "value.decision: missing"


def test_account_alert_fields():
    data = account_alerts(
        {
            "entity_type": "BUSINESS",
            "entity_id": 506914307656634,
            "alert_info": {
                "alert_severity": "INFORMATIONAL",
                "alert_status": "ACTIVE",
                "alert_type": "OBA_APPROVED",
                "alert_description": "Approved",
            },
        }
    )

    assert (data.severity, data.alert_type, data.entity_id, data.status) == (
        meta.AlertSeverity.INFORMATIONAL,
        "OBA_APPROVED",
        "506914307656634",
        "ACTIVE",
    )
    assert data.info == {
        "alert_type": "OBA_APPROVED",
        "alert_severity": "informational",
        "alert_description": "Approved",
        "alert_status": "ACTIVE",
        "entity_type": "BUSINESS",
        "entity_id": "506914307656634",
    }
    assert rejected(account_alerts, {"entity_type": "BUSINESS"}) == "value.alert_info: missing"


def test_account_update_owner_business_of_any_event():
    data = account_update(
        {"event": "VERIFIED_ACCOUNT", "waba_info": {"waba_id": "1", "owner_business_id": 5}}
    )
    assert (data.event, data.owner_business_id) == (meta.AccountEvent.VERIFIED_ACCOUNT, "5")
    assert account_update({"event": "ACCOUNT_OFFBOARDED"}).owner_business_id is None
    assert (
        rejected(account_update, {"event": "X", "waba_info": {"owner_business_id": [1]}})
        == "value.waba_info.owner_business_id: expected an id (a string or an integer), got a list"
    )


def test_number_quality_tells_the_portfolio_limit_from_the_legacy_one():
    current = phone_number_quality_update(
        {
            "display_phone_number": "15550100001",
            "event": "ONBOARDING",
            "max_daily_conversations_per_business": "TIER_2K",
        }
    )
    legacy = phone_number_quality_update(
        {"display_phone_number": "15550100001", "event": "UPGRADE", "current_limit": "TIER_10K"}
    )
    assert (current.limit, current.business_limit) == (meta.MessagingLimit.TIER_2K,) * 2
    assert (legacy.limit, legacy.business_limit) == (meta.MessagingLimit.TIER_10K, None)


@pytest.mark.parametrize(
    ("value", "limit"),
    [
        ({"max_daily_conversations_per_business": "TIER_2K"}, meta.MessagingLimit.TIER_2K),  # v24+
        ({"max_daily_conversations_per_business": "TIER_UNLIMITED"}, meta.MessagingLimit.UNLIMITED),
        ({"max_daily_conversations_per_business": 10000}, meta.MessagingLimit.TIER_10K),
        ({"max_daily_conversation_per_phone": 100000}, meta.MessagingLimit.TIER_100K),  # v23
        ({"max_daily_conversation_per_phone": "250"}, meta.MessagingLimit.TIER_250),
        ({"max_daily_conversation_per_phone": -1}, meta.MessagingLimit.UNLIMITED),
        ({"max_daily_conversation_per_phone": 1234}, None),  # no level we know: left alone
        ({"max_phone_numbers_per_business": 20}, None),
    ],
)
def test_capability_limit_in_v23_and_v24_forms(value, limit):
    assert business_capability_update(value).limit == limit


def test_capability_counts_and_bad_counts():
    data = business_capability_update(
        {"max_phone_numbers_per_business": "20", "max_phone_numbers_per_waba": 25}
    )

    assert (data.max_phone_numbers_per_business, data.max_phone_numbers_per_waba) == (20, 25)
    assert (
        rejected(business_capability_update, {"max_phone_numbers_per_waba": 2**40})
        == f"value.max_phone_numbers_per_waba: {2**40} is out of range (0 to 2147483647)"
    )
    assert (
        rejected(business_capability_update, {"max_daily_conversation_per_phone": True})
        == "value.max_daily_conversation_per_phone: expected an integer, got a boolean"
    )


def test_security_event():
    data = security({"display_phone_number": "15550100001", "event": "PIN_CHANGED"})

    assert (data.display_phone_number, data.event) == (
        "15550100001",
        meta.SecurityEvent.PIN_CHANGED,
    )
    assert rejected(security, {"event": "PIN_CHANGED"}) == "value.display_phone_number: missing"


# --- numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "event", "limit"),
    [
        (  # current
            {
                "display_phone_number": "15550100001",
                "event": "ONBOARDING",
                "max_daily_conversations_per_business": "TIER_2K",
            },
            meta.NumberEvent.ONBOARDING,
            meta.MessagingLimit.TIER_2K,
        ),
        (
            {
                "display_phone_number": "15550100001",
                "event": "THROUGHPUT_UPGRADE",
                "max_daily_conversations_per_business": "TIER_UNLIMITED",
            },
            meta.NumberEvent.THROUGHPUT_UPGRADE,
            meta.MessagingLimit.UNLIMITED,
        ),
        (  # legacy, removed Feb 2026
            {
                "display_phone_number": 15550100001,
                "event": "DOWNGRADE",
                "current_limit": "TIER_1K",
                "old_limit": "TIER_10K",
            },
            meta.NumberEvent.DOWNGRADE,
            meta.MessagingLimit.TIER_1K,
        ),
        (
            {"display_phone_number": "15550100001", "event": "FLAGGED"},
            meta.NumberEvent.FLAGGED,
            None,
        ),
        (
            {"display_phone_number": "15550100001", "event": "UNFLAGGED"},
            meta.NumberEvent.UNFLAGGED,
            None,
        ),
    ],
)
def test_number_quality_update_current_and_legacy(value, event, limit):
    data = phone_number_quality_update(value)

    assert (data.display_phone_number, data.event, data.limit) == ("15550100001", event, limit)


def test_number_quality_update_bad_shapes():
    long = "1" * 40
    assert rejected(phone_number_quality_update, {"display_phone_number": "1"}) == (
        "value.event: missing"
    )
    assert rejected(
        phone_number_quality_update, {"display_phone_number": long, "event": "FLAGGED"}
    ) == ("value.display_phone_number: 40 characters long (at most 32)")


@pytest.mark.parametrize(
    ("decision", "name_status"),
    [
        ("APPROVED", meta.NameStatus.APPROVED),
        ("REJECTED", meta.NameStatus.DECLINED),
        ("PENDING", meta.NameStatus.PENDING_REVIEW),
        ("DEFERRED", meta.NameStatus.PENDING_REVIEW),
    ],
)
def test_display_name_decisions(decision, name_status):
    data = phone_number_name_update(
        {
            "display_phone_number": "15550100001",
            "decision": decision,
            "requested_verified_name": "Acme",
            "rejection_reason": None,  # Meta sends null
        }
    )

    assert (data.decision.name_status, data.requested_name, data.rejection_reason) == (
        name_status,
        "Acme",
        None,
    )


# --- templates ----------------------------------------------------------------------------


def template(**extra):
    return {
        "message_template_id": 7001,
        "message_template_name": "spring_sale",
        "message_template_language": "en-US",
        **extra,
    }


def test_template_status_with_pause_and_no_reason():
    data = template_status_update(
        template(
            event="PAUSED",
            reason="NONE",
            message_template_category="MARKETING",
            other_info={"title": "FIRST_PAUSE", "description": "low quality"},
        )
    )

    assert data.template == type(data.template)(
        meta_id="7001",
        name="spring_sale",
        language="en_US",
        category=meta.TemplateCategory.MARKETING,
    )
    assert (data.status, data.reason, data.pause_title) == (
        meta.TemplateStatus.PAUSED,
        None,  # "NONE" is no reason
        meta.PauseTitle.FIRST_PAUSE,
    )


@pytest.mark.parametrize(
    "event",
    [
        "APPROVED",
        "ARCHIVED",
        "DELETED",
        "DISABLED",
        "FLAGGED",
        "IN_APPEAL",
        "LIMIT_EXCEEDED",
        "LOCKED",
        "PAUSED",
        "PENDING",
        "REINSTATED",
        "PENDING_DELETION",
        "REJECTED",
    ],
)
def test_every_documented_template_event(event):
    assert template_status_update(template(event=event)).status.name == event


def test_template_rejection_info_and_disable_date():
    data = template_status_update(
        template(
            event="REJECTED",
            reason="INVALID_FORMAT",
            rejection_info={"reason": "bad", "recommendation": "fix"},
            disable_info={"disable_date": "January 1, 2027"},
        )
    )

    assert (data.reason, data.rejection_info, data.disable_date) == (
        "INVALID_FORMAT",
        {"reason": "bad", "recommendation": "fix"},
        "January 1, 2027",
    )


def test_quality_payload_under_the_status_field_is_read_as_quality():
    data = template_status_update(template(previous_quality_score="GREEN", new_quality_score="RED"))

    assert type(data).__name__ == "TemplateQualityUpdate"
    assert (data.previous, data.quality) == (meta.Quality.HIGH, meta.Quality.LOW)


def test_template_quality_and_category_shapes():
    quality = template_quality_update(template(new_quality_score="UNKNOWN"))
    impending = template_category_update(
        template(
            new_category="UTILITY",
            correct_category="MARKETING",
            category_update_timestamp=str(T),
        )
    )
    completed = template_category_update(
        template(previous_category="UTILITY", new_category="MARKETING")
    )

    assert (quality.quality, quality.previous) == (meta.Quality.UNKNOWN, None)
    assert (impending.new, impending.correct, impending.effective_unix) == (
        meta.TemplateCategory.UTILITY,
        meta.TemplateCategory.MARKETING,
        T,
    )
    assert (completed.previous, completed.new, completed.correct) == (
        meta.TemplateCategory.UTILITY,
        meta.TemplateCategory.MARKETING,
        None,
    )


def test_template_components_update():
    data = template_components_update(
        template(
            message_template_element="Hello {{1}}",
            message_template_title="Sale",
            message_template_footer="Reply STOP to opt out",
            message_template_buttons=[
                {
                    "message_template_button_type": "URL",
                    "message_template_button_text": "Shop",
                    "message_template_button_url": "https://example.com",
                }
            ],
        )
    )

    assert (data.body, data.header, data.footer) == ("Hello {{1}}", "Sale", "Reply STOP to opt out")
    assert [(b.type, b.text, b.url) for b in data.buttons] == [
        ("URL", "Shop", "https://example.com")
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"event": "APPROVED"}, "value: names no template (message_template_id or _name)"),
        (
            template(event="APPROVED", message_template_id=1.5),
            "value.message_template_id: expected an id (a string or an integer), got a number",
        ),
        (
            template(event="APPROVED", message_template_id="9" * 65),
            "value.message_template_id: 65 characters long (at most 64)",
        ),
        (
            template(event="APPROVED", message_template_name="x" * 513),
            "value.message_template_name: 513 characters long (at most 512)",
        ),
        (
            template(event="REJECTED", reason="R" * 61),
            "value.reason: 61 characters long (at most 60)",
        ),
        (template(), "value.event: missing"),
    ],
)
def test_template_bad_shapes(value, reason):
    assert rejected(template_status_update, value) == reason


# --- messages -----------------------------------------------------------------------------

METADATA = {"display_phone_number": "15550100001", "phone_number_id": "2110000001"}


def value(**parts):
    return {"messaging_product": "whatsapp", "metadata": METADATA, **parts}


def test_statuses_with_pricing_errors_and_identity_fields():
    data = messages(
        value(
            contacts=[{"profile": {"name": "P", "username": "@p"}, "user_id": "US.134"}],
            statuses=[
                {
                    "id": "wamid.A",
                    "status": "sent",
                    "timestamp": str(T),
                    "recipient_id": "4915112345",
                    "recipient_user_id": "US.134",
                    "recipient_parent_user_id": "US.ENT.1",
                    "pricing": {
                        "billable": True,
                        "pricing_model": "PMP",
                        "type": "regular",
                        "category": "marketing",
                    },
                },
                {
                    "id": "wamid.B",
                    "status": "failed",
                    "timestamp": T,
                    "recipient_id": 4915100000,
                    "errors": [
                        {
                            "code": 131050,
                            "title": "User stopped marketing",
                            "message": "x",
                            "error_data": {"details": "opted out"},
                            "href": "https://developers.facebook.com/",
                        }
                    ],
                },
                {"id": "wamid.C", "status": "read", "timestamp": T, "recipient_user_id": "US.9"},
            ],
        )
    )

    sent, failed, read = data.statuses
    assert (sent.state, sent.at, sent.recipient_id, sent.pricing.category) == (
        meta.DeliveryState.SENT,
        AT,
        "4915112345",
        "marketing",
    )
    assert (sent.recipient_user_id, sent.recipient_parent_user_id) == ("US.134", "US.ENT.1")
    assert (failed.recipient_id, failed.error.code, failed.error.details) == (
        "4915100000",
        131050,
        "opted out",
    )
    assert (read.recipient_id, read.recipient_user_id) == ("", "US.9")  # sent to a BSUID
    assert data.contacts[0].username == "@p"
    assert data.rejected == ()


@pytest.mark.parametrize(
    "key", ["recipient_parent_user_id", "parent_recipient_user_id", "parent_user_id"]
)
def test_the_three_spellings_of_the_parent_recipient(key):
    data = messages(
        value(statuses=[{"id": "wamid.A", "status": "delivered", "timestamp": T, key: "US.ENT.7"}])
    )

    assert data.statuses[0].recipient_parent_user_id == "US.ENT.7"


def test_inbound_messages_with_bsuids_usernames_and_replies():
    data = messages(
        value(
            contacts=[
                {"profile": {"name": "Kim"}, "wa_id": "4915112345", "user_id": "DE.1"},
                {"profile": {"name": "S", "username": "@s"}, "user_id": "US.134"},
            ],
            messages=[
                {
                    "from": "4915112345",
                    "from_user_id": "DE.1",
                    "id": "wamid.1",
                    "timestamp": str(T),
                    "type": "text",
                    "text": {"body": "STOP"},
                },
                {
                    "from_user_id": "US.134",
                    "from_parent_user_id": "US.ENT.2",
                    "id": "wamid.2",
                    "timestamp": T,
                    "type": "button",
                    "button": {"text": "Unsubscribe", "payload": "x"},
                },
                {
                    "from": "4915112345",
                    "id": "wamid.3",
                    "timestamp": T,
                    "type": "interactive",
                    "interactive": {"type": "list_reply", "list_reply": {"id": "1", "title": "No"}},
                },
            ],
        )
    )

    text, button, reply = data.inbound
    assert (text.sender, text.sender_name, text.text, text.at) == ("4915112345", "Kim", "STOP", AT)
    assert (button.sender, button.from_user_id, button.username, button.text) == (
        "",
        "US.134",
        "@s",
        "Unsubscribe",
    )
    assert button.from_parent_user_id == "US.ENT.2"
    assert reply.text == "No"


@pytest.mark.parametrize("kind", ["user_changed_number", "user_changed_user_id"])
def test_system_messages_about_identity_changes(kind):
    data = messages(
        value(
            messages=[
                {
                    "from": "16505551234",
                    "id": "wamid.S",
                    "type": "system",
                    "system": {
                        "body": "changed",
                        "wa_id": "16505559876",
                        "user_id": "US.208",
                        "previous_user_id": "US.134",
                        "parent_user_id": "US.ENT.3",
                        "previous_parent_user_id": "US.ENT.2",
                        "type": kind,
                    },
                }
            ]
        )
    )

    system = data.inbound[0].system
    assert (system.kind.value, system.wa_id, system.user_id, system.previous_user_id) == (
        kind,
        "16505559876",
        "US.208",
        "US.134",
    )
    assert (system.parent_user_id, system.previous_parent_user_id) == ("US.ENT.3", "US.ENT.2")


def test_top_level_errors():
    data = messages(
        value(errors=[{"code": 131051, "title": "Unsupported message type", "message": "x"}])
    )

    assert [(e.code, e.title) for e in data.errors] == [(131051, "Unsupported message type")]


def test_unknown_status_tokens_stay_open():
    data = messages(value(statuses=[{"id": "w", "status": "deleted", "timestamp": T}]))

    assert (data.statuses[0].state, data.statuses[0].raw_state) == (
        meta.DeliveryState.UNKNOWN,
        "DELETED",
    )


def test_bad_items_fail_alone_and_the_good_ones_are_kept():
    good = {"id": "wamid.G", "status": "delivered", "timestamp": T, "recipient_id": "1"}
    huge = {
        "id": "wamid.H",
        "status": "failed",
        "timestamp": T,
        "errors": [{"code": 2**40, "title": "x"}],
    }
    data = messages(value(statuses=[None, good, huge, {"status": "sent"}]))

    assert [s.wamid for s in data.statuses] == ["wamid.G"]
    assert [(f.index, f.kind, f.rejected, f.error) for f in data.rejected] == [
        (0, "status", True, "value.statuses[0]: expected an object, got null"),
        (
            2,
            "status",
            True,
            f"value.statuses[2].errors[0].code: {2**40} is out of range (0 to 2147483647)",
        ),
        (3, "status", True, "value.statuses[3].id: missing"),
    ]
    assert data.rejected[0].value == {
        "messaging_product": "whatsapp",
        "metadata": METADATA,
        "statuses": [None],
    }


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"statuses": []}, "value.metadata: missing"),
        ({"metadata": {}}, "value.metadata.phone_number_id: missing"),
        (value(statuses={"id": "x"}), "value.statuses: expected a list, got an object"),
        (value(messages="hi"), "value.messages: expected a list, got a string"),
    ],
)
def test_messages_bad_shapes(value, reason):
    assert rejected(messages, value) == reason


def test_over_long_wamid_and_bad_times_are_item_failures():
    data = messages(
        value(
            statuses=[
                {"id": "w" * 201, "status": "sent", "timestamp": T},
                {"id": "wamid.T", "status": "sent", "timestamp": "soon"},
                {"id": "wamid.U", "status": "sent", "timestamp": "99999999999"},
                # digits to str.isdigit(), not to int() ("²"), and another script's digits
                {"id": "wamid.V", "status": "sent", "timestamp": "176300000²"},
                {"id": "wamid.W", "status": "sent", "timestamp": "١٧٦٣٠٠٠٠٠٠"},
            ]
        )
    )

    assert [f.error for f in data.rejected] == [
        "value.statuses[0].id: 201 characters long (at most 200)",
        "value.statuses[1].timestamp: 'soon' is not an integer",
        "value.statuses[2].timestamp: 99999999999 is not a time between 2000 and 2100",
        "value.statuses[3].timestamp: '176300000²' is not an integer",
        "value.statuses[4].timestamp: '١٧٦٣٠٠٠٠٠٠' is not an integer",
    ]


# --- user_preferences ---------------------------------------------------------------------


def test_user_preferences_documented_shape():
    data = user_preferences(
        {
            "contacts": [{"profile": {"name": "Alice"}, "wa_id": "16505551234"}],
            "user_preferences": [
                {
                    "wa_id": "16505551234",
                    "user_id": "US.134",
                    "category": "marketing_messages",
                    "value": "stop",
                    "detail": "User requested to stop marketing messages",
                    "timestamp": T,
                }
            ],
        }
    )

    (item,) = data.items
    assert (item.wa_id, item.user_id, item.choice, item.at, item.stated_unix, item.name) == (
        "16505551234",
        "US.134",
        meta.PreferenceChoice.STOP,
        AT,
        T,
        "Alice",
    )
    assert item.is_marketing


def test_user_preferences_forwarded_shapes():
    single = user_preferences({"wa_id": "1", "preference": "resume", "timestamp": str(T)})
    under_preferences = user_preferences(
        {"contacts": [{"wa_id": "2"}], "preferences": {"action": "opt-out"}}
    )

    assert [(i.wa_id, i.choice, i.category) for i in single.items] == [
        ("1", meta.PreferenceChoice.RESUME, "marketing_messages")
    ]
    assert [(i.wa_id, i.choice) for i in under_preferences.items] == [
        ("2", meta.PreferenceChoice.STOP)
    ]


def test_a_bad_preference_item_fails_alone():
    data = user_preferences(
        {"user_preferences": [7, {"wa_id": "1", "value": "stop", "timestamp": T}]}
    )

    assert [i.wa_id for i in data.items] == ["1"]
    assert [(f.index, f.error) for f in data.rejected] == [
        (0, "value.user_preferences[0]: expected an object, got an integer")
    ]


def test_the_ids_a_value_names_for_routing():
    from portal.meta.webhooks.fields import routed_ids

    partner = account_update(
        {"event": "PARTNER_APP_INSTALLED", "waba_info": {"waba_id": "1110000001"}}
    )

    assert routed_ids(messages(value(statuses=[]))) == (None, "2110000001")
    assert routed_ids(partner) == ("1110000001", None)
    assert routed_ids(account_review_update({"decision": "APPROVED"})) == (None, None)


def test_user_id_update_items_and_a_bad_one_alone():
    data = user_id_update(
        {
            "messaging_product": "whatsapp",
            "user_id_update": [
                {
                    "wa_id": "447911123456",
                    "detail": "changed",
                    "user_id": {"previous": "GB.1", "current": "GB.2"},
                    "timestamp": "1763000000",
                },
                {"user_id": {"previous": "GB.1"}},
            ],
        }
    )

    (item,) = data.items
    assert (item.previous, item.current, item.wa_id, item.at) == (
        "GB.1",
        "GB.2",
        "447911123456",
        datetime(2025, 11, 13, 2, 13, 20, tzinfo=UTC),
    )
    (bad,) = data.rejected
    assert (bad.index, bad.kind, bad.error) == (
        1,
        "user_id_update",
        "value.user_id_update[1].user_id: needs both previous and current",
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"a": [1, {"b": "x\x00"}]}, "value.a[1].b: contains a NUL character"),
        (
            {"a": [{"\ud800": 1}]},
            "value.a[0] (a key): contains a lone surrogate (not valid Unicode)",
        ),
        ({"a": {"b": [0.5, float("nan")]}}, "value.a.b[1]: nan is not a finite number"),
    ],
)
def test_the_tree_check_names_the_exact_place_it_refuses(value, reason):
    from portal.meta.webhooks.contract import WebhookRejected
    from portal.meta.webhooks.fields._read import check_tree

    with pytest.raises(WebhookRejected) as refused:
        check_tree(value)
    assert refused.value.reason == reason
