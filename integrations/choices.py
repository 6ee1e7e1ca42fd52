"""What leaves the portal: event types sent to outbound webhooks, and the states of the outbox."""

from django.db import models

from compliance.choices import EventKind

# A health event's kind → the group its webhook type belongs to (`number.quality_drop`, ...).
_ACCOUNT_KINDS = {
    EventKind.RESTRICTION,
    EventKind.RESTRICTION_LIFTED,
    EventKind.VIOLATION,
    EventKind.BAN_SCHEDULED,
    EventKind.BANNED,
    EventKind.REINSTATED,
    EventKind.REVIEW_DECISION,
    EventKind.CAPABILITY_UPDATE,
    EventKind.ACCOUNT_ALERT,
    EventKind.PARTNER_CHANGE,
    EventKind.ACCOUNT_UPDATE,
}


def health_event_type(kind: str) -> str:
    """The webhook type of a health event: `template.paused`, `account.banned`, `number.flagged`."""
    if kind.startswith("template_"):
        return f"template.{kind.removeprefix('template_')}"
    if kind in _ACCOUNT_KINDS:
        return f"account.{kind}"
    return f"number.{kind}"


# Every type the portal sends, with what it means (documented in the API and on the form).
EVENT_TYPES: dict[str, str] = {
    **{health_event_type(k.value): f"Health event: {k.label}" for k in EventKind},
    "alert.raised": "An alert was raised (warning or critical health event)",
    "alert.acknowledged": "An alert was acknowledged",
    "template.review_changed": "A template moved in the review workflow",
    "consent.changed": "A contact's consent changed (opt-in or opt-out)",
    "consent.import_finished": "A consent CSV import finished",
    "appeal.transitioned": "An appeal changed status",
    "appeal.message": "A message visible to the client was added to an appeal",
    "webhook.test": "A test event sent on request",
}
EVENT_TYPE_CHOICES = sorted((k, k) for k in EVENT_TYPES)
EVENT_GROUPS = sorted({k.split(".", 1)[0] for k in EVENT_TYPES})


class EndpointState(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"  # deliveries are kept and sent when resumed
    DISABLED = "disabled", "Disabled"  # failed for too long; nothing new is queued


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"  # gave up after the retry period


class EmailState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
