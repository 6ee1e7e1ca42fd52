"""Until every field has a typed parser: the appliers as they were, behind the new contract."""

from __future__ import annotations

from django.utils.module_loading import import_string

from portal.meta.webhooks.contract import Change, handler_for, register

_LEGACY = {
    "account_update": "compliance.meta_updates.apply_account_update",
    "account_review_update": "compliance.meta_updates.apply_account_review_update",
    "phone_number_quality_update": "compliance.meta_updates.apply_phone_number_quality_update",
    "phone_number_name_update": "compliance.meta_updates.apply_phone_number_name_update",
    "business_capability_update": "compliance.meta_updates.apply_business_capability_update",
    "account_alerts": "compliance.meta_updates.apply_account_alerts",
    "messages": "compliance.meta_updates.apply_messages",
    "message_template_status_update": "compliance.meta_updates.apply_template_status_update",
    "message_template_quality_update": "compliance.meta_updates.apply_template_quality_update",
    "template_category_update": "compliance.meta_updates.apply_template_category_update",
    "user_preferences": "compliance.meta_updates.apply_user_preferences",
}


def _applier(path: str):
    def apply(change: Change) -> None:
        import_string(path)(
            value=change.data,
            entry_id=change.entry_id,
            entry_time=change.stated_at,
            change_key=change.key,
        )

    return apply


def register_missing() -> None:
    for field_name, path in _LEGACY.items():
        if handler_for(field_name) is None:
            register(field_name, parser=dict, applier=_applier(path))
