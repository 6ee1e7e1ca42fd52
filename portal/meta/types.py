"""Our names for Meta's enums and the typed results of the Graph API client.

Each enum maps Meta's tokens with `from_meta(raw)`; a value Meta adds tomorrow maps to UNKNOWN
instead of crashing, and the raw token stays available on the result (`raw`) for display and
later reprocessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class _MetaEnum(StrEnum):
    """A StrEnum whose members list the Meta tokens they stand for in `_meta_`."""

    @classmethod
    def _aliases(cls) -> dict[str, _MetaEnum]:
        cache = cls.__dict__.get("_alias_cache")
        if cache is None:
            cache = {}
            for member in cls:
                for token in _META_TOKENS.get((cls.__name__, member.name), (member.name,)):
                    cache[token.upper()] = member
            cls._alias_cache = cache
        return cache

    @classmethod
    def from_meta(cls, raw: str | list | tuple | None):
        """Our member for Meta's token. Meta sends some enums as a one-token list (e.g.
        `ban_info.waba_ban_state: ["SCHEDULE_FOR_DISABLE"]`, its reference shape): the first
        token decides."""
        if isinstance(raw, list | tuple):
            raw = next((t for t in raw if isinstance(t, str) and t.strip()), None)
        if raw is None or raw == "":
            return cls.UNKNOWN  # type: ignore[attr-defined]
        return cls._aliases().get(str(raw).strip().upper(), cls.UNKNOWN)  # type: ignore[attr-defined]


class Quality(_MetaEnum):
    """Quality rating of a number or template (WhatsApp Manager: High / Medium / Low)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    NOT_APPLICABLE = "not_applicable"
    UNKNOWN = "unknown"


class NumberStatus(_MetaEnum):
    """A phone number's status: an open set (Meta's schemas disagree; see meta-platform §1.2)."""

    CONNECTED = "connected"
    PENDING = "pending"
    FLAGGED = "flagged"
    RESTRICTED = "restricted"
    RATE_LIMITED = "rate_limited"
    BANNED = "banned"
    DISCONNECTED = "disconnected"
    MIGRATED = "migrated"
    DELETED = "deleted"
    UNVERIFIED = "unverified"
    LINKED = "linked"
    UNLINKED = "unlinked"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


class MessagingLimit(_MetaEnum):
    """Unique users reachable outside a service window per 24 h (portfolio level)."""

    TIER_50 = "tier_50"
    TIER_250 = "tier_250"
    TIER_1K = "tier_1k"
    TIER_2K = "tier_2k"
    TIER_10K = "tier_10k"
    TIER_100K = "tier_100k"
    UNLIMITED = "unlimited"
    NOT_SET = "not_set"
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        """Ordering for rise/drop detection; NOT_SET and UNKNOWN rank 0."""
        return _LIMIT_RANK.get(self, 0)

    @property
    def daily_users(self) -> int | None:
        return _LIMIT_USERS.get(self)


class ThroughputLevel(_MetaEnum):
    STANDARD = "standard"
    HIGH = "high"
    NOT_APPLICABLE = "not_applicable"
    UNKNOWN = "unknown"


class NameStatus(_MetaEnum):
    """Display-name review state (`name_status`, `new_name_status`)."""

    APPROVED = "approved"
    AVAILABLE_WITHOUT_REVIEW = "available_without_review"
    DECLINED = "declined"
    EXPIRED = "expired"
    PENDING_REVIEW = "pending_review"
    NONE = "none"
    UNKNOWN = "unknown"


class CodeVerification(_MetaEnum):
    VERIFIED = "verified"
    NOT_VERIFIED = "not_verified"
    UNVERIFIED = "unverified"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


class CanSend(_MetaEnum):
    """`health_status.can_send_message` of a node or entity."""

    AVAILABLE = "available"
    LIMITED = "limited"
    BLOCKED = "blocked"
    UNKNOWN = "unknown"


class ReviewStatus(_MetaEnum):
    """A WABA's `account_review_status` / `account_review_update.decision`."""

    APPROVED = "approved"
    PENDING = "pending"
    REJECTED = "rejected"
    DEFERRED = "deferred"
    RESTRICTED = "restricted"
    LIMIT_REACHED = "limit_reached"
    UNKNOWN = "unknown"


class BusinessVerification(_MetaEnum):
    VERIFIED = "verified"
    UNVERIFIED = "unverified"
    PENDING = "pending"
    EXPIRED = "expired"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


class BanState(_MetaEnum):
    """`account_update.ban_info.waba_ban_state`; NONE when no ban was ever signalled."""

    NONE = "none"
    SCHEDULED_FOR_DISABLE = "scheduled_for_disable"
    DISABLED = "disabled"
    REINSTATED = "reinstated"
    UNKNOWN = "unknown"


class RestrictionType(_MetaEnum):
    ADD_PHONE_NUMBER = "add_phone_number"
    BUSINESS_INITIATED_MESSAGING = "business_initiated_messaging"
    CUSTOMER_INITIATED_MESSAGING = "customer_initiated_messaging"
    DIRECT_SEND_UTILITY_TEMPLATES = "direct_send_utility_templates"
    UTILITY_TEMPLATES = "utility_templates"
    BUSINESS_AND_USER_INITIATED_CALLING = "business_and_user_initiated_calling"
    BUSINESS_INITIATED_CALLING = "business_initiated_calling"
    USER_INITIATED_CALLING = "user_initiated_calling"
    USER_INITIATED_CALLING_BUTTON_HIDDEN = "user_initiated_calling_button_hidden"
    UNKNOWN = "unknown"


class TemplateStatus(_MetaEnum):
    """Meta's status of a message template (list filter plus webhook events)."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    PAUSED = "paused"
    DISABLED = "disabled"
    IN_APPEAL = "in_appeal"
    PENDING_DELETION = "pending_deletion"
    DELETED = "deleted"
    LIMIT_EXCEEDED = "limit_exceeded"
    ARCHIVED = "archived"
    LOCKED = "locked"
    FLAGGED = "flagged"
    REINSTATED = "reinstated"
    UNKNOWN = "unknown"


class TemplateCategory(_MetaEnum):
    MARKETING = "marketing"
    UTILITY = "utility"
    AUTHENTICATION = "authentication"
    UNKNOWN = "unknown"


class SendAnswer(_MetaEnum):
    """`messages[].message_status` of Meta's answer to a send (template pacing, meta-platform
    §10): held for quality assessment, or accepted."""

    ACCEPTED = "accepted"
    HELD = "held"
    UNKNOWN = "unknown"


# What a client's system may forward of Meta's send answer, as Meta spells it.
SEND_ANSWER_TOKENS = ("accepted", "held_for_quality_assessment")


class PauseTitle(_MetaEnum):
    """`other_info.title` of a template status update."""

    FIRST_PAUSE = "first_pause"
    SECOND_PAUSE = "second_pause"
    RATE_LIMITING_PAUSE = "rate_limiting_pause"
    UNPAUSE = "unpause"
    DISABLED = "disabled"
    UNKNOWN = "unknown"


class TemplateRejectionReason(_MetaEnum):
    """Why Meta rejected a template (`reason` of a status update, the template's
    `rejected_reason`); meta-platform.md §3.6."""

    ABUSIVE_CONTENT = "abusive_content"
    INCORRECT_CATEGORY = "incorrect_category"
    INVALID_FORMAT = "invalid_format"
    PROMOTIONAL = "promotional"
    SCAM = "scam"
    TAG_CONTENT_MISMATCH = "tag_content_mismatch"
    CATEGORY_NOT_AVAILABLE = "category_not_available"
    NONE = "none"
    UNKNOWN = "unknown"


class AccountEvent(_MetaEnum):
    """`account_update.event` (meta-platform §4.5, §8)."""

    ACCOUNT_DELETED = "account_deleted"
    ACCOUNT_RESTRICTION = "account_restriction"
    ACCOUNT_VIOLATION = "account_violation"
    DISABLED_UPDATE = "disabled_update"
    AD_ACCOUNT_LINKED = "ad_account_linked"
    AUTH_INTL_PRICE_ELIGIBILITY_UPDATE = "auth_intl_price_eligibility_update"
    BUSINESS_PRIMARY_LOCATION_COUNTRY_UPDATE = "business_primary_location_country_update"
    MM_LITE_TERMS_SIGNED = "mm_lite_terms_signed"
    PARTNER_ADDED = "partner_added"
    PARTNER_REMOVED = "partner_removed"
    PARTNER_APP_INSTALLED = "partner_app_installed"
    PARTNER_APP_UNINSTALLED = "partner_app_uninstalled"
    PARTNER_CLIENT_CERTIFICATION_NEEDED = "partner_client_certification_needed"
    PARTNER_CLIENT_CERTIFICATION_STATUS_UPDATE = "partner_client_certification_status_update"
    VOLUME_BASED_PRICING_TIER_UPDATE = "volume_based_pricing_tier_update"
    ACCOUNT_OFFBOARDED = "account_offboarded"
    ACCOUNT_RECONNECTED = "account_reconnected"
    VERIFIED_ACCOUNT = "verified_account"
    UNKNOWN = "unknown"

    @property
    def is_partner(self) -> bool:
        return self.name.startswith("PARTNER_")


class NumberEvent(_MetaEnum):
    """`phone_number_quality_update.event`: current (ONBOARDING, THROUGHPUT_UPGRADE) and the
    legacy events older payloads still carry (FLAGGED, UNFLAGGED, UPGRADE, DOWNGRADE)."""

    ONBOARDING = "onboarding"
    THROUGHPUT_UPGRADE = "throughput_upgrade"
    FLAGGED = "flagged"
    UNFLAGGED = "unflagged"
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"
    UNKNOWN = "unknown"


class NameDecision(_MetaEnum):
    """`phone_number_name_update.decision`."""

    APPROVED = "approved"
    REJECTED = "rejected"
    PENDING = "pending"
    DEFERRED = "deferred"
    UNKNOWN = "unknown"

    @property
    def name_status(self) -> NameStatus:
        """The number's `name_status` after this decision (a rejection reads DECLINED)."""
        return _DECISION_NAME_STATUS.get(self, NameStatus.UNKNOWN)


class AlertSeverity(_MetaEnum):
    """`account_alerts.alert_info.alert_severity`."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFORMATIONAL = "informational"
    UNKNOWN = "unknown"


class DeliveryState(_MetaEnum):
    """`messages.statuses[].status` (Meta sends these lower-case)."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    PLAYED = "played"
    UNKNOWN = "unknown"


class PreferenceChoice(_MetaEnum):
    """`user_preferences[].value`: a user stopping or resuming marketing messages."""

    STOP = "stop"
    RESUME = "resume"
    UNKNOWN = "unknown"


class SystemChange(_MetaEnum):
    """`messages[].system.type`: the user's phone or BSUID changed (meta-platform §7)."""

    USER_CHANGED_NUMBER = "user_changed_number"
    USER_CHANGED_USER_ID = "user_changed_user_id"
    UNKNOWN = "unknown"


class SecurityEvent(_MetaEnum):
    """`security.event`: two-step verification PIN changes of a number."""

    PIN_CHANGED = "pin_changed"
    PIN_RESET_REQUEST = "pin_reset_request"
    PIN_RESET_SUCCESS = "pin_reset_success"
    UNKNOWN = "unknown"


def stated_reason(raw: object) -> str | None:
    """A rejection or pause reason as Meta stated it, or None where Meta says there is none
    (`"NONE"`, empty, missing): "Rejected because: None" is never shown."""
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    return None if not text or text.upper() == "NONE" else text


# Meta tokens per member where they differ from the member's name.
_META_TOKENS: dict[tuple[str, str], tuple[str, ...]] = {
    ("SendAnswer", "HELD"): ("HELD_FOR_QUALITY_ASSESSMENT",),
    ("Quality", "HIGH"): ("GREEN", "HIGH"),
    ("Quality", "MEDIUM"): ("YELLOW", "MEDIUM"),
    ("Quality", "LOW"): ("RED", "LOW"),
    ("Quality", "NOT_APPLICABLE"): ("NA", "NOT_APPLICABLE"),
    ("MessagingLimit", "UNLIMITED"): ("TIER_UNLIMITED", "UNLIMITED"),
    ("MessagingLimit", "NOT_SET"): ("TIER_NOT_SET", "NOT_SET"),
    ("BanState", "SCHEDULED_FOR_DISABLE"): ("SCHEDULE_FOR_DISABLE",),
    ("BanState", "DISABLED"): ("DISABLE", "DISABLED"),
    ("BanState", "REINSTATED"): ("REINSTATE", "REINSTATED"),
    ("RestrictionType", "ADD_PHONE_NUMBER"): ("RESTRICTED_ADD_PHONE_NUMBER_ACTION",),
    ("RestrictionType", "BUSINESS_INITIATED_MESSAGING"): ("RESTRICTED_BIZ_INITIATED_MESSAGING",),
    ("RestrictionType", "CUSTOMER_INITIATED_MESSAGING"): (
        "RESTRICTED_CUSTOMER_INITIATED_MESSAGING",
    ),
    ("RestrictionType", "DIRECT_SEND_UTILITY_TEMPLATES"): (
        "RESTRICTED_DIRECT_SEND_UTILITY_TEMPLATES",
    ),
    ("RestrictionType", "UTILITY_TEMPLATES"): ("RESTRICTED_UTILITY_TEMPLATES",),
    ("RestrictionType", "BUSINESS_AND_USER_INITIATED_CALLING"): (
        "RESTRICTED_BIZ_INITIATED_AND_USER_INITIATED_CALLING",
    ),
    ("RestrictionType", "BUSINESS_INITIATED_CALLING"): ("RESTRICTED_BUSINESS_INITIATED_CALLING",),
    ("RestrictionType", "USER_INITIATED_CALLING"): ("RESTRICTED_USER_INITIATED_CALLING",),
    ("RestrictionType", "USER_INITIATED_CALLING_BUTTON_HIDDEN"): (
        "RESTRICTED_USER_INITIATED_CALLING_CALL_BUTTON_HIDDEN",
    ),
    ("PreferenceChoice", "STOP"): (
        "STOP",
        "STOPPED",
        "OPT_OUT",
        "OPT-OUT",
        "OPTOUT",
        "UNSUBSCRIBE",
    ),
    ("PreferenceChoice", "RESUME"): (
        "RESUME",
        "RESUMED",
        "OPT_IN",
        "OPT-IN",
        "OPTIN",
        "SUBSCRIBE",
        "START",
    ),
}

_DECISION_NAME_STATUS = {
    NameDecision.APPROVED: NameStatus.APPROVED,
    NameDecision.REJECTED: NameStatus.DECLINED,
    NameDecision.PENDING: NameStatus.PENDING_REVIEW,
    NameDecision.DEFERRED: NameStatus.PENDING_REVIEW,
}

_LIMIT_RANK = {
    MessagingLimit.TIER_50: 1,
    MessagingLimit.TIER_250: 2,
    MessagingLimit.TIER_1K: 3,
    MessagingLimit.TIER_2K: 4,
    MessagingLimit.TIER_10K: 5,
    MessagingLimit.TIER_100K: 6,
    MessagingLimit.UNLIMITED: 7,
}
_LIMIT_USERS = {
    MessagingLimit.TIER_50: 50,
    MessagingLimit.TIER_250: 250,
    MessagingLimit.TIER_1K: 1_000,
    MessagingLimit.TIER_2K: 2_000,
    MessagingLimit.TIER_10K: 10_000,
    MessagingLimit.TIER_100K: 100_000,
}


# --- Typed results of the Graph API client ------------------------------------------------


@dataclass(frozen=True)
class HealthEntity:
    entity_type: str  # PHONE_NUMBER, WABA, BUSINESS, APP, MESSAGE_TEMPLATE, FLOW, ...
    entity_id: str
    can_send: CanSend
    errors: tuple[dict, ...] = ()  # {error_code, error_description, possible_solution}
    additional_info: tuple[str, ...] = ()


@dataclass(frozen=True)
class Health:
    """`health_status`. `can_send` is computed from the entities' `can_send_message` (the
    top-level value can read BLOCKED only because SIP calling is not set up)."""

    can_send: CanSend
    entities: tuple[HealthEntity, ...] = ()


@dataclass(frozen=True)
class WabaInfo:
    id: str
    name: str
    currency: str | None = None
    timezone_id: str | None = None
    message_template_namespace: str | None = None
    review_status: ReviewStatus = ReviewStatus.UNKNOWN
    business_verification: BusinessVerification = BusinessVerification.UNKNOWN
    health: Health | None = None
    raw: dict = field(default_factory=dict, compare=False)

    @property
    def health_payload(self) -> dict:
        """Meta's `health_status` object as read, for display (its keys stay Meta's)."""
        value = self.raw.get("health_status")
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class PhoneNumberInfo:
    id: str
    display_phone_number: str
    verified_name: str = ""
    status: NumberStatus = NumberStatus.UNKNOWN
    quality: Quality = Quality.UNKNOWN
    # `whatsapp_business_manager_messaging_limit` (v24+), else the legacy `messaging_limit_tier`.
    messaging_limit: MessagingLimit = MessagingLimit.UNKNOWN
    throughput: ThroughputLevel = ThroughputLevel.UNKNOWN
    name_status: NameStatus = NameStatus.UNKNOWN
    new_display_name: str | None = None
    new_name_status: NameStatus | None = None
    code_verification: CodeVerification = CodeVerification.UNKNOWN
    platform_type: str | None = None
    account_mode: str | None = None
    health: Health | None = None
    raw: dict = field(default_factory=dict, compare=False)

    @property
    def health_payload(self) -> dict:
        """Meta's `health_status` object as read, for display (its keys stay Meta's)."""
        value = self.raw.get("health_status")
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class TemplateInfo:
    id: str
    name: str
    language: str
    category: TemplateCategory = TemplateCategory.UNKNOWN
    status: TemplateStatus = TemplateStatus.UNKNOWN
    quality: Quality = Quality.UNKNOWN
    quality_updated_at: datetime | None = None
    rejected_reason: str | None = None
    parameter_format: str | None = None  # "positional" | "named"
    components: tuple[dict, ...] = ()
    raw: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class CreatedTemplate:
    id: str
    status: TemplateStatus
    category: TemplateCategory


@dataclass(frozen=True)
class BusinessUseCaseUsage:
    """One entry of `X-Business-Use-Case-Usage` (percentages of the limit)."""

    business_id: str
    use_case: str
    call_count: int
    total_cputime: int
    total_time: int
    estimated_time_to_regain_access_minutes: int


@dataclass(frozen=True)
class WabaAssets:
    """A WABA with its numbers and templates, read in one Graph call (field expansion) and the
    edges' further pages. `templates_error` is set when a later page of templates failed: the
    numbers are whole, the templates are not to be used."""

    waba: WabaInfo
    numbers: tuple[PhoneNumberInfo, ...]
    templates: tuple[TemplateInfo, ...]
    usage: tuple[BusinessUseCaseUsage, ...] = ()
    templates_error: Exception | None = field(default=None, compare=False)
