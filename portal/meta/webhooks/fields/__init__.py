"""One typed parser per webhook field: Meta's payload in, our dataclasses and enums out.

Meta's key names end here. Each parser accepts every shape `meta-platform.md` documents or says
Meta is known to send, and raises `WebhookRejected` with a precise reason for anything else.
The owning apps register these parsers with their appliers (`contract.register`).
"""

from portal.meta.webhooks.fields.account import (
    AccountAlert,
    AccountReview,
    AccountUpdate,
    BanInfo,
    CapabilityUpdate,
    NameUpdate,
    NumberQualityUpdate,
    PartnerInfo,
    Restriction,
    SecurityUpdate,
    parse_account_alerts,
    parse_account_review_update,
    parse_account_update,
    parse_business_capability_update,
    parse_phone_number_name_update,
    parse_phone_number_quality_update,
    parse_security,
)
from portal.meta.webhooks.fields.messages import (
    Contact,
    DeliveryError,
    Inbound,
    Messages,
    Preference,
    Pricing,
    Status,
    SystemNotice,
    UserIdChange,
    UserIdUpdates,
    UserPreferences,
    parse_messages,
    parse_user_id_update,
    parse_user_preferences,
)
from portal.meta.webhooks.fields.templates import (
    TemplateButton,
    TemplateCategoryUpdate,
    TemplateComponentsUpdate,
    TemplateQualityUpdate,
    TemplateRef,
    TemplateStatusUpdate,
    parse_template_category_update,
    parse_template_components_update,
    parse_template_quality_update,
    parse_template_status_update,
)


def routed_ids(data) -> tuple[str | None, str | None]:
    """The (WABA id, phone number id) a parsed change names inside its value, for routing
    where `entry[].id` is not enough: `messages` carry the number's id, and PARTNER_* events
    whose entry id is the partner's portfolio carry the WABA in `waba_info` (meta-platform §8).
    """
    if isinstance(data, Messages):
        return None, data.phone_number_id
    if isinstance(data, AccountUpdate) and data.partner is not None:
        return data.partner.waba_id, None
    return None, None


PARSERS = {
    "account_update": parse_account_update,
    "account_review_update": parse_account_review_update,
    "account_alerts": parse_account_alerts,
    "business_capability_update": parse_business_capability_update,
    "phone_number_quality_update": parse_phone_number_quality_update,
    "phone_number_name_update": parse_phone_number_name_update,
    "security": parse_security,
    "message_template_status_update": parse_template_status_update,
    "message_template_quality_update": parse_template_quality_update,
    "message_template_components_update": parse_template_components_update,
    "template_category_update": parse_template_category_update,
    "messages": parse_messages,
    "user_preferences": parse_user_preferences,
    "user_id_update": parse_user_id_update,
}

__all__ = [
    "PARSERS",
    "AccountAlert",
    "AccountReview",
    "AccountUpdate",
    "BanInfo",
    "CapabilityUpdate",
    "Contact",
    "DeliveryError",
    "Inbound",
    "Messages",
    "NameUpdate",
    "NumberQualityUpdate",
    "PartnerInfo",
    "Preference",
    "Pricing",
    "Restriction",
    "SecurityUpdate",
    "Status",
    "SystemNotice",
    "TemplateButton",
    "TemplateCategoryUpdate",
    "TemplateComponentsUpdate",
    "TemplateQualityUpdate",
    "TemplateRef",
    "TemplateStatusUpdate",
    "UserIdChange",
    "UserIdUpdates",
    "UserPreferences",
    "parse_account_alerts",
    "parse_account_review_update",
    "parse_account_update",
    "parse_business_capability_update",
    "parse_messages",
    "parse_phone_number_name_update",
    "parse_phone_number_quality_update",
    "parse_security",
    "parse_template_category_update",
    "parse_template_components_update",
    "parse_template_quality_update",
    "parse_template_status_update",
    "parse_user_id_update",
    "parse_user_preferences",
    "routed_ids",
]
