"""The webhook appliers compliance owns: account, number and message fields (and the consent
effects of messages and `user_preferences`). Each takes a routed `Change` whose `data` is the
field parser's typed result (`portal.meta.webhooks.fields`), runs inside the client's schema and
a savepoint the pipeline opened, and is idempotent: state is set, not incremented, and events
carry keys derived from the change key. Registered from `ComplianceConfig.ready()`.
"""

from __future__ import annotations

from portal.meta.webhooks import contract
from portal.meta.webhooks import fields as f


def register() -> None:
    from compliance import services
    from compliance.appliers import account, common, messages, numbers

    # A client group's accounts are read once, and its health events (every app's appliers
    # record them here) fan out at once.
    contract.group_scope_register(common.accounts_kept_for_group)
    contract.group_scope_register(services.health_events_fanned_out_together)

    contract.register(
        "account_update", parser=f.parse_account_update, applier=account.apply_account_update
    )
    contract.register(
        "account_review_update",
        parser=f.parse_account_review_update,
        applier=account.apply_account_review_update,
    )
    contract.register(
        "account_alerts", parser=f.parse_account_alerts, applier=account.apply_account_alerts
    )
    contract.register(
        "business_capability_update",
        parser=f.parse_business_capability_update,
        applier=account.apply_business_capability_update,
    )
    contract.register("security", parser=f.parse_security, applier=account.apply_security)
    contract.register(
        "phone_number_quality_update",
        parser=f.parse_phone_number_quality_update,
        applier=numbers.apply_phone_number_quality_update,
    )
    contract.register(
        "phone_number_name_update",
        parser=f.parse_phone_number_name_update,
        applier=numbers.apply_phone_number_name_update,
    )
    contract.register(
        "messages",
        parser=f.parse_messages,
        applier=messages.apply_messages,
        batch_applier=messages.apply_messages_batch,
    )
    contract.register(
        "user_preferences",
        parser=f.parse_user_preferences,
        applier=messages.apply_user_preferences,
    )
    contract.register(
        "user_id_update", parser=f.parse_user_id_update, applier=messages.apply_user_id_update
    )
