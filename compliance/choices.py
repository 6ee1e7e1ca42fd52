from django.db import models

from portal.meta import types as meta


def choices_of(enum) -> list[tuple[str, str]]:
    """Model choices from one of our Meta enums (`portal.meta.types`)."""
    return [(member.value, member.value.replace("_", " ").capitalize()) for member in enum]


QUALITY_CHOICES = choices_of(meta.Quality)
NUMBER_STATUS_CHOICES = choices_of(meta.NumberStatus)
MESSAGING_LIMIT_CHOICES = choices_of(meta.MessagingLimit)
THROUGHPUT_CHOICES = choices_of(meta.ThroughputLevel)
NAME_STATUS_CHOICES = choices_of(meta.NameStatus)
CODE_VERIFICATION_CHOICES = choices_of(meta.CodeVerification)
CAN_SEND_CHOICES = choices_of(meta.CanSend)
REVIEW_STATUS_CHOICES = choices_of(meta.ReviewStatus)
BUSINESS_VERIFICATION_CHOICES = choices_of(meta.BusinessVerification)
BAN_STATE_CHOICES = choices_of(meta.BanState)
RESTRICTION_TYPE_CHOICES = choices_of(meta.RestrictionType)


class Band(models.TextChoices):
    """Where a number stands, from its health score."""

    HEALTHY = "healthy", "Healthy"
    WATCH = "watch", "Watch"
    AT_RISK = "at_risk", "At risk"
    BLOCKED = "blocked", "Blocked"


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class EventKind(models.TextChoices):
    QUALITY_DROP = "quality_drop", "Quality dropped"
    QUALITY_RISE = "quality_rise", "Quality improved"
    LIMIT_DROP = "limit_drop", "Messaging limit lowered"
    LIMIT_RISE = "limit_rise", "Messaging limit raised"
    STATUS_CHANGE = "status_change", "Number status changed"
    FLAGGED = "flagged", "Number flagged"
    UNFLAGGED = "unflagged", "Number no longer flagged"
    RESTRICTION = "restriction", "Account restricted"
    RESTRICTION_LIFTED = "restriction_lifted", "Restriction lifted"
    VIOLATION = "violation", "Policy violation"
    BAN_SCHEDULED = "ban_scheduled", "Account scheduled for disabling"
    BANNED = "banned", "Account disabled"
    REINSTATED = "reinstated", "Account reinstated"
    REVIEW_DECISION = "review_decision", "Account review decision"
    DISPLAY_NAME_DECISION = "display_name_decision", "Display-name decision"
    CAPABILITY_UPDATE = "capability_update", "Capabilities changed"
    ACCOUNT_ALERT = "account_alert", "Account alert"
    PARTNER_CHANGE = "partner_change", "Partner link changed"
    ACCOUNT_UPDATE = "account_update", "Account update"
    TEMPLATE_PAUSED = "template_paused", "Template paused"
    TEMPLATE_UNPAUSED = "template_unpaused", "Template unpaused"
    TEMPLATE_DISABLED = "template_disabled", "Template disabled"
    TEMPLATE_REJECTED = "template_rejected", "Template rejected"
    TEMPLATE_APPROVED = "template_approved", "Template approved"
    TEMPLATE_QUALITY = "template_quality", "Template quality changed"
    TEMPLATE_CATEGORY = "template_category", "Template category change"
    ERROR_SPIKE = "error_spike", "Spike of delivery errors"
    CONSENT_VIOLATION = "consent_violation", "Marketing sent without consent"
    LATE_CHANGE = "late_change", "Change delivered late"
    PORTFOLIO_LIMIT = "portfolio_limit", "Portfolio messaging limit changed"
    PORTFOLIO_USAGE = "portfolio_usage", "Portfolio usage near its limit"
    SCALING_PATH = "scaling_path", "Messaging-limit increase decision"
    NUMBER_CAP = "number_cap", "Phone-number registration cap changed"
    ACCOUNT_EVENT = "account_event", "Account event"
    UNKNOWN_EVENT = "unknown_event", "Event the portal does not know"
    DELIVERY_ACTION = "delivery_action", "Action taken on delivery errors"
    TEMPLATE_HELD = "template_held", "Template messages held by pacing"
    IDENTITY_CHANGE = "identity_change", "Contact's WhatsApp user id changed"


class EventSource(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    SYNC = "sync", "Sync"


class DeliveryStatus(models.TextChoices):
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    FAILED = "failed", "Failed"
    PLAYED = "played", "Played"
    UNKNOWN = "unknown", "Unknown"


# Delivery error codes that signal a health problem (meta-platform §5.4), with what they mean.
HEALTH_ERROR_CODES = {
    131048: "spam rate limit: recipients blocked or reported earlier messages",
    131049: "held back to protect user engagement (per-user marketing limit)",
    131050: "the user stopped marketing messages from this business",
    131026: "undeliverable: not a WhatsApp user or an outdated client",
}


class ScalingState(models.TextChoices):
    """Where a portfolio stands on Meta's scaling path to a higher messaging limit."""

    NONE = "none", "No decision yet"
    APPROVED = "approved", "Increase approved"
    DEFERRED = "deferred", "Decision deferred"
    FAILED = "failed", "Not eligible"
    NEED_MORE_INFO = "need_more_info", "Meta needs more information"


class ConnectionState(models.TextChoices):
    """Whether the portal may work a WABA: account events can suspend or end it."""

    ACTIVE = "active", "Active"
    OFFBOARDED = "offboarded", "Offboarded (device changed)"
    PARTNER_REMOVED = "partner_removed", "Partner removed"
    DELETED = "deleted", "Deleted at Meta"


class MarketingOnboarding(models.TextChoices):
    """Marketing Messages API onboarding (WABA or portfolio, meta-platform §11)."""

    UNKNOWN = "unknown", "Unknown"
    NOT_STARTED = "not_started", "Not started"
    REQUEST_SENT = "request_sent", "Requested"
    ELIGIBLE = "eligible", "Eligible"
    ONBOARDED = "onboarded", "Onboarded"


class LimitSource(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    SYNC = "sync", "Sync"
    SEED = "seed", "Seed"


class SyncState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


# --- Consent ----------------------------------------------------------------------------------


class ConsentCategory(models.TextChoices):
    """What a person agreed (or refused) to receive; Meta's template categories."""

    MARKETING = "marketing", "Marketing"
    UTILITY = "utility", "Utility"
    AUTHENTICATION = "authentication", "Authentication"


class ConsentStatus(models.TextChoices):
    OPTED_IN = "opted_in", "Opted in"
    OPTED_OUT = "opted_out", "Opted out"
    UNKNOWN = "unknown", "Unknown"


class ConsentKind(models.TextChoices):
    OPT_IN = "opt_in", "Opt-in"
    OPT_OUT = "opt_out", "Opt-out"


class ConsentSource(models.TextChoices):
    WEB_FORM = "web_form", "Web form"
    CHECKOUT = "checkout", "Checkout"
    SMS_KEYWORD = "sms_keyword", "SMS keyword"
    WHATSAPP_KEYWORD = "whatsapp_keyword", "WhatsApp keyword"
    API = "api", "API"
    IMPORT = "import", "Import"
    META_131050 = "meta_131050", "Meta error 131050"
    META_USER_PREFERENCES = "meta_user_preferences", "Meta user preferences"
    STAFF = "staff", "Staff"


DEFAULT_OPT_OUT_KEYWORDS = ["STOP", "UNSUBSCRIBE", "STOPP", "ARRET", "BAJA", "PARAR"]


def default_opt_out_keywords() -> list[str]:
    return list(DEFAULT_OPT_OUT_KEYWORDS)


class ImportState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
