"""The appliers the owning apps register, driven without the pipeline (parser, then applier in
the client's schema): what each field changes, and the items that fail alone."""

from django_tenants.utils import schema_context

from compliance.models import AccountRestriction, ConsentState, HealthEvent, WhatsAppAccount
from portal.meta.webhooks.contract import handled_fields, handler_for
from templates_review.models import MessageTemplate
from tests.webhooks import apply_change


def in_schema(client, fn):
    with schema_context(client.schema_name):
        return fn()


def test_each_app_registers_its_fields_with_plain_imports():
    from compliance.appliers import account, messages, numbers
    from portal.meta.webhooks.fields import PARSERS
    from templates_review import meta_sync

    # Every field with a parser (the list is tests/meta/test_webhook_fields.py's) has an
    # applier; probe_effect is a test-only field.
    assert handled_fields() - {"probe_effect"} == set(PARSERS)
    assert handler_for("account_update").applier is account.apply_account_update
    assert handler_for("phone_number_quality_update").applier is (
        numbers.apply_phone_number_quality_update
    )
    assert handler_for("messages").batch_applier is messages.apply_messages_batch
    assert handler_for("message_template_status_update").applier is (
        meta_sync.apply_template_status_update
    )


def test_a_null_restriction_item_fails_alone(acme, globex, acme_waba):
    applied = apply_change(
        acme,
        "account_update",
        {
            "event": "ACCOUNT_RESTRICTION",
            "restriction_info": [
                None,
                {
                    "restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING",
                    "expiration": 1_893_456_000,
                },
            ],
        },
    )

    (failure,) = applied.failures
    assert (failure.index, failure.kind, failure.rejected) == (0, "restriction", True)
    assert in_schema(
        acme, lambda: list(AccountRestriction.objects.values_list("raw_type", flat=True))
    ) == ["RESTRICTED_BIZ_INITIATED_MESSAGING"]
    assert in_schema(globex, lambda: AccountRestriction.objects.count()) == 0


def test_a_partner_event_names_the_waba_in_waba_info(acme, acme_waba):
    apply_change(
        acme,
        "account_update",
        {
            "event": "PARTNER_REMOVED",
            "disconnection_info": {"reason": "CHANGE_NUMBER", "initiated_by": "USER"},
            "waba_info": {"waba_id": acme_waba.meta_id, "owner_business_id": "5"},
        },
        entry_id="9990000001",  # the partner's portfolio
    )

    event = in_schema(acme, lambda: HealthEvent.objects.select_related("account").get())
    assert (event.kind, event.severity, event.title, event.account.meta_id) == (
        "account_event",
        "critical",
        "The BSP was removed as partner of the account (change number)",
        acme_waba.meta_id,
    )
    account = in_schema(acme, lambda: WhatsAppAccount.objects.select_related("portfolio").get())
    assert (account.connection_state, account.portfolio.meta_id) == ("partner_removed", "5")


def test_security_changes_warn_the_client(acme, acme_number):
    apply_change(acme, "security", {"display_phone_number": "15550100001", "event": "PIN_CHANGED"})

    event = in_schema(acme, lambda: HealthEvent.objects.get())
    assert (event.title, event.severity, event.number_id) == (
        "15550100001: two-step verification PIN changed",
        "warning",
        acme_number.pk,
    )


def test_a_template_components_update_is_kept_in_the_history(acme, acme_waba):
    apply_change(
        acme,
        "message_template_components_update",
        {
            "message_template_id": 7001,
            "message_template_name": "spring_sale",
            "message_template_language": "en_US",
            "message_template_element": "New body",
        },
    )

    template = in_schema(acme, lambda: MessageTemplate.objects.get())
    history = in_schema(acme, lambda: template.history.get())
    assert history.data["components"]["body"] == "New body"


def test_user_preferences_bad_item_fails_alone_and_the_good_one_opts_out(acme, acme_number):
    applied = apply_change(
        acme,
        "user_preferences",
        {
            "user_preferences": [
                None,
                {
                    "wa_id": "447911123456",
                    "category": "marketing_messages",
                    "value": "stop",
                    "timestamp": 1_763_000_000,
                },
                {"wa_id": "12", "value": "stop", "timestamp": 1_763_000_000},  # not a number
            ]
        },
    )

    assert [(f.index, f.rejected) for f in applied.failures] == [(0, True), (2, True)]
    state = in_schema(
        acme,
        lambda: ConsentState.objects.get(contact__phone="+447911123456", category="marketing"),
    )
    assert state.status == "opted_out"


def test_a_change_for_one_client_leaves_another_alone(acme, globex, acme_waba, globex_waba):
    apply_change(acme, "account_review_update", {"decision": "REJECTED"})

    assert in_schema(acme, lambda: WhatsAppAccount.objects.get().review_status) == "rejected"
    assert in_schema(globex, lambda: WhatsAppAccount.objects.get().review_status) == "unknown"
    assert in_schema(globex, lambda: HealthEvent.objects.count()) == 0
