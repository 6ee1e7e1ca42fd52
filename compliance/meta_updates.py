"""Legacy entry points for the old webhook pipeline's dotted `APPLIERS` table
(`portal/meta/services.py`), kept only until the new pipeline (`contract.handler_for`) replaces
it: each parses the value with the parser registered for its field and calls the applier the
owning app registered. Delete this module together with `APPLIERS`.

The old pipeline knows nothing of item failures or lateness: failures are logged here (the
good items stand), and a late change counts as applied.
"""

from __future__ import annotations

import logging

from portal.meta.webhooks.contract import Change, handler_for

logger = logging.getLogger(__name__)


def _legacy(field_name: str):
    def apply(*, value: dict, entry_id: str, entry_time, change_key: str):
        handler = handler_for(field_name)
        result = handler.applier(
            Change(
                field=field_name,
                entry_id=entry_id,
                entry_time=entry_time,
                key=change_key,
                data=handler.parser(value),
                received_at=entry_time,
            )
        )
        for failure in result.failures if result else ():
            logger.warning(
                "Webhook %s item %s failed: %s", change_key, failure.index, failure.error
            )
        return result

    apply.__name__ = f"apply_{field_name}"
    return apply


apply_account_update = _legacy("account_update")
apply_account_review_update = _legacy("account_review_update")
apply_phone_number_quality_update = _legacy("phone_number_quality_update")
apply_phone_number_name_update = _legacy("phone_number_name_update")
apply_business_capability_update = _legacy("business_capability_update")
apply_account_alerts = _legacy("account_alerts")
apply_messages = _legacy("messages")
apply_template_status_update = _legacy("message_template_status_update")
apply_template_quality_update = _legacy("message_template_quality_update")
apply_template_category_update = _legacy("template_category_update")
apply_user_preferences = _legacy("user_preferences")
