"""A client's WhatsApp assets as Meta reports them, and their health over time.

Meta's state reaches these rows two ways: webhooks (fast, may be missed) and the periodic sync
(slow, authoritative); `last_confirmed_at` records when the sync last saw an asset, so a missed
webhook is repaired by the next sync.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from compliance import choices as c
from portal.meta import types as meta

# Business-initiated pricing categories: the messages a messaging limit counts (meta-platform
# §1.4: unique users reached outside a customer-service window). `service` is not one of them,
# nor are the free types (`free_customer_service`, `free_entry_point`); an empty type is the
# payload generation before `pricing.type`, counted as regular.
USAGE_CATEGORIES = (
    "marketing",
    "marketing_lite",
    "utility",
    "authentication",
    "authentication-international",
)
USAGE_TYPES = ("regular", "")


def _any_of(field: str, values) -> models.Q:
    """OR-ed equalities, not IN: PostgreSQL prints an IN list of a partial index's predicate in a
    form that reads back differently, so a cloned schema (`tenants.cloning`) would differ."""
    query = models.Q()
    for value in values:
        query |= models.Q(**{field: value})
    return query


USAGE_CONDITION = (
    models.Q(status="sent")
    & _any_of("pricing_category", USAGE_CATEGORIES)
    & _any_of("pricing_type", USAGE_TYPES)
)


class BusinessPortfolio(models.Model):
    """Meta's business portfolio (business id): it owns WABAs, and its messaging limit is shared
    by every number of them (since 7 Oct 2025). Written only by `compliance.portfolio`."""

    meta_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True)
    messaging_limit = models.CharField(
        max_length=20, choices=c.MESSAGING_LIMIT_CHOICES, default=meta.MessagingLimit.UNKNOWN
    )
    # When Meta stated each value: an older statement delivered late does not overwrite it.
    messaging_limit_at = models.DateTimeField(null=True, blank=True)
    max_phone_numbers = models.PositiveIntegerField(
        null=True, blank=True, help_text="max_phone_numbers_per_business (2, then 20)."
    )
    max_phone_numbers_at = models.DateTimeField(null=True, blank=True)
    scaling_state = models.CharField(
        max_length=20, choices=c.ScalingState, default=c.ScalingState.NONE
    )
    scaling_detail = models.TextField(blank=True)
    scaling_state_at = models.DateTimeField(null=True, blank=True)
    verification = models.CharField(
        max_length=20,
        choices=c.BUSINESS_VERIFICATION_CHOICES,
        default=meta.BusinessVerification.UNKNOWN,
    )
    marketing_onboarding = models.CharField(
        max_length=20, choices=c.MarketingOnboarding, default=c.MarketingOnboarding.UNKNOWN
    )
    # The last ledger row (`MessageStatus.id`) folded into the usage rollup below.
    ledger_watermark = models.BigIntegerField(default=0, db_default=0)
    # The last usage measured (`portfolio_usage_watch`), mirrored to the staff work index.
    usage_count = models.PositiveIntegerField(default=0)
    usage_at = models.DateTimeField(null=True, blank=True)
    last_confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "meta_id"]

    def __str__(self) -> str:
        return self.name or self.meta_id

    @property
    def daily_limit(self) -> int | None:
        """Unique recipients per 24 h; None when unlimited or not known."""
        return meta.MessagingLimit(self.messaging_limit).daily_users


class PortfolioLimitChange(models.Model):
    """The portfolio's tier history: every messaging-limit statement applied, once per key."""

    portfolio = models.ForeignKey(
        BusinessPortfolio, on_delete=models.CASCADE, related_name="limit_history"
    )
    previous = models.CharField(max_length=20, choices=c.MESSAGING_LIMIT_CHOICES)
    limit = models.CharField(max_length=20, choices=c.MESSAGING_LIMIT_CHOICES)
    stated_at = models.DateTimeField()
    source = models.CharField(max_length=10, choices=c.LimitSource)
    superseded = models.BooleanField(
        default=False, help_text="Older than the value in force when it arrived: kept, not applied."
    )
    recorded_at = models.DateTimeField(default=timezone.now)
    dedupe_key = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-stated_at", "-id"]

    def __str__(self) -> str:
        return f"{self.portfolio_id}: {self.previous} → {self.limit}"


class PortfolioRecipient(models.Model):
    """Usage rollup, derived from the ledger (`compliance.portfolio`): each recipient's last
    counted send in the portfolio. Rebuilt from the ledger at any time; never the source."""

    portfolio = models.ForeignKey(
        BusinessPortfolio, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    recipient = models.CharField(max_length=260)
    last_sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["portfolio", "recipient"], name="portfolio_recipient_unique"
            )
        ]
        indexes = [
            models.Index(fields=["portfolio", "last_sent_at"], name="portfolio_recipient_time")
        ]

    def __str__(self) -> str:
        return f"{self.recipient} at {self.last_sent_at}"


class PortfolioUsageMinute(models.Model):
    """Usage rollup: how many recipients have their last counted send in this minute. The sum
    over the minutes of the last 24 hours (with the first minute counted exactly from
    `PortfolioRecipient`) is the usage, in a few hundred rows whatever the ledger's size."""

    portfolio = models.ForeignKey(
        BusinessPortfolio, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    minute = models.DateTimeField()
    recipients = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["portfolio", "minute"], name="portfolio_minute_unique")
        ]

    def __str__(self) -> str:
        return f"{self.minute:%H:%M}: {self.recipients}"


class WhatsAppAccount(models.Model):
    """A WhatsApp Business Account (WABA) of this client."""

    meta_id = models.CharField(max_length=64, unique=True)
    portfolio = models.ForeignKey(
        BusinessPortfolio,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="accounts",
    )
    # Set by account events (`compliance.account_events`): an offboarded or removed WABA is not
    # synced and says so.
    connection_state = models.CharField(
        max_length=20,
        choices=c.ConnectionState,
        default=c.ConnectionState.ACTIVE,
        db_default=c.ConnectionState.ACTIVE,
    )
    connection_state_at = models.DateTimeField(null=True, blank=True)
    marketing_onboarding = models.CharField(
        max_length=20,
        choices=c.MarketingOnboarding,
        default=c.MarketingOnboarding.UNKNOWN,
        db_default=c.MarketingOnboarding.UNKNOWN,
    )
    name = models.CharField(max_length=200, blank=True)
    currency = models.CharField(max_length=8, blank=True)
    timezone_id = models.CharField(max_length=16, blank=True)
    message_template_namespace = models.CharField(max_length=100, blank=True)
    review_status = models.CharField(
        max_length=20, choices=c.REVIEW_STATUS_CHOICES, default=meta.ReviewStatus.UNKNOWN
    )
    # The time Meta stated for each state it changes (`portal.meta.webhooks.order`): a change
    # stated before it is late and leaves the state alone.
    review_status_at = models.DateTimeField(null=True, blank=True)
    business_verification = models.CharField(
        max_length=20,
        choices=c.BUSINESS_VERIFICATION_CHOICES,
        default=meta.BusinessVerification.UNKNOWN,
    )
    ban_state = models.CharField(
        max_length=30, choices=c.BAN_STATE_CHOICES, default=meta.BanState.NONE
    )
    ban_date = models.CharField(max_length=64, blank=True, help_text="As Meta wrote it.")
    # When Meta decided the current ban state: a decision Meta retries late (older than this)
    # goes into the history but does not overwrite a newer one.
    ban_state_at = models.DateTimeField(null=True, blank=True)
    restrictions_at = models.DateTimeField(null=True, blank=True)
    can_send = models.CharField(
        max_length=20, choices=c.CAN_SEND_CHOICES, default=meta.CanSend.UNKNOWN
    )
    health = models.JSONField(default=dict, blank=True)
    last_confirmed_at = models.DateTimeField(null=True, blank=True)
    throttled_until = models.DateTimeField(null=True, blank=True)
    api_usage = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "meta_id"]

    def __str__(self) -> str:
        return self.name or self.meta_id


class AccountRestriction(models.Model):
    """A restriction Meta placed on a WABA (`account_update` ACCOUNT_RESTRICTION)."""

    account = models.ForeignKey(
        WhatsAppAccount, on_delete=models.CASCADE, related_name="restrictions"
    )
    restriction_type = models.CharField(max_length=60, choices=c.RESTRICTION_TYPE_CHOICES)
    raw_type = models.CharField(max_length=80, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    remediation = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "raw_type", "expires_at"], name="restriction_unique_occurrence"
            )
        ]

    def __str__(self) -> str:
        return f"{self.restriction_type} until {self.expires_at}"

    def is_active(self, now=None) -> bool:
        return self.expires_at is None or self.expires_at > (now or timezone.now())


class PhoneNumber(models.Model):
    """A business phone number, its state at Meta and its current health assessment."""

    account = models.ForeignKey(WhatsAppAccount, on_delete=models.CASCADE, related_name="numbers")
    meta_id = models.CharField(max_length=64, unique=True)
    display_phone_number = models.CharField(max_length=32)
    verified_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=20, choices=c.NUMBER_STATUS_CHOICES, default=meta.NumberStatus.UNKNOWN
    )
    # When the current status was decided (webhook time, or the sync that saw it): the same
    # guard against late retries as the account's ban state.
    status_at = models.DateTimeField(null=True, blank=True)
    quality = models.CharField(
        max_length=20, choices=c.QUALITY_CHOICES, default=meta.Quality.UNKNOWN
    )
    quality_at = models.DateTimeField(null=True, blank=True)
    messaging_limit = models.CharField(
        max_length=20, choices=c.MESSAGING_LIMIT_CHOICES, default=meta.MessagingLimit.UNKNOWN
    )
    messaging_limit_at = models.DateTimeField(null=True, blank=True)
    throughput = models.CharField(
        max_length=20, choices=c.THROUGHPUT_CHOICES, default=meta.ThroughputLevel.UNKNOWN
    )
    throughput_at = models.DateTimeField(null=True, blank=True)
    name_status = models.CharField(
        max_length=30, choices=c.NAME_STATUS_CHOICES, default=meta.NameStatus.UNKNOWN
    )
    name_status_at = models.DateTimeField(null=True, blank=True)
    new_display_name = models.CharField(max_length=200, blank=True)
    code_verification = models.CharField(
        max_length=20, choices=c.CODE_VERIFICATION_CHOICES, default=meta.CodeVerification.UNKNOWN
    )
    platform_type = models.CharField(max_length=30, blank=True)
    account_mode = models.CharField(max_length=20, blank=True)
    can_send = models.CharField(
        max_length=20, choices=c.CAN_SEND_CHOICES, default=meta.CanSend.UNKNOWN
    )
    health = models.JSONField(default=dict, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    last_confirmed_at = models.DateTimeField(null=True, blank=True)
    score = models.PositiveSmallIntegerField(default=100)
    band = models.CharField(max_length=20, choices=c.Band, default=c.Band.HEALTHY)
    reasons = models.JSONField(default=list, blank=True)
    actions = models.JSONField(default=list, blank=True)
    assessed_at = models.DateTimeField(null=True, blank=True)
    # Set by `compliance.error_actions` (130429 throughput, 131057 maintenance, 131042 billing…):
    # the pre-send check refuses sends from the number until then.
    backoff_until = models.DateTimeField(null=True, blank=True)
    backoff_reason = models.CharField(max_length=200, blank=True, db_default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["display_phone_number"]

    def __str__(self) -> str:
        return self.display_phone_number


class HealthSnapshot(models.Model):
    """A point of a number's health history: written on change, and at least daily."""

    number = models.ForeignKey(PhoneNumber, on_delete=models.CASCADE, related_name="snapshots")
    taken_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=20, choices=c.NUMBER_STATUS_CHOICES)
    quality = models.CharField(max_length=20, choices=c.QUALITY_CHOICES)
    messaging_limit = models.CharField(max_length=20, choices=c.MESSAGING_LIMIT_CHOICES)
    can_send = models.CharField(max_length=20, choices=c.CAN_SEND_CHOICES)
    score = models.PositiveSmallIntegerField()
    band = models.CharField(max_length=20, choices=c.Band)

    class Meta:
        ordering = ["taken_at"]
        indexes = [models.Index(fields=["number", "taken_at"], name="snapshot_number_time")]

    def __str__(self) -> str:
        return f"{self.number_id} at {self.taken_at:%Y-%m-%d %H:%M}: {self.score}"


class HealthEvent(models.Model):
    """Something that happened to an asset's health (quality drop, restriction, ban, …)."""

    account = models.ForeignKey(
        WhatsAppAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    # Indexed by `event_number_recent` (number first): an index of its own was one more for
    # every event's INSERT to keep.
    number = models.ForeignKey(
        PhoneNumber,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="events",
        db_index=False,
    )
    template_name = models.CharField(max_length=512, blank=True)
    kind = models.CharField(max_length=40, choices=c.EventKind)
    severity = models.CharField(max_length=10, choices=c.Severity)
    title = models.CharField(max_length=200)
    detail = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=10, choices=c.EventSource)
    occurred_at = models.DateTimeField(default=timezone.now)
    # Makes an event count once however often the change that caused it is seen.
    dedupe_key = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["-occurred_at"], name="event_recent"),
            models.Index(fields=["number", "-occurred_at"], name="event_number_recent"),
        ]

    def __str__(self) -> str:
        return self.title


class Alert(models.Model):
    """An event someone must look at, shown in the portal and e-mailed."""

    event = models.OneToOneField(HealthEvent, on_delete=models.CASCADE, related_name="alert")
    created_at = models.DateTimeField(default=timezone.now)
    emailed_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        related_name="+",
        # Users live in the public schema: a user's deletion there must not reach into every
        # client's tables (Django's collector would query tables public does not have).
        on_delete=models.DO_NOTHING,
        db_constraint=False,
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"alert for {self.event_id}"


class MessageStatus(models.Model):
    """The delivery ledger: one row per status Meta reported for an outbound message."""

    # Indexed by `status_number_time` (number first): an index of its own was one more for
    # each of a campaign's statuses to keep.
    number = models.ForeignKey(
        PhoneNumber,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="statuses",
        db_index=False,
    )
    phone_number_meta_id = models.CharField(max_length=64)
    wamid = models.CharField(max_length=200)
    # Meta's phone digits (`recipient_id`), or the BSUID when the message went to one (up to
    # 256 characters before Feb 2026, 131 since: sized for both).
    recipient = models.CharField(max_length=260)
    status = models.CharField(max_length=20, choices=c.DeliveryStatus)
    occurred_at = models.DateTimeField()
    pricing_category = models.CharField(max_length=40, blank=True)
    pricing_type = models.CharField(max_length=40, blank=True)
    error_code = models.IntegerField(null=True, blank=True)
    error_title = models.CharField(max_length=200, blank=True)
    error_details = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["wamid", "status"], name="message_status_unique")
        ]
        indexes = [
            models.Index(fields=["number", "occurred_at"], name="status_number_time"),
            models.Index(fields=["recipient", "occurred_at"], name="status_recipient_time"),
            # Portfolio usage (`compliance.portfolio`): only the rows a messaging limit counts,
            # by time, covering the recipient and number (an index-only scan of 24 hours).
            models.Index(
                fields=["occurred_at"],
                include=["recipient", "number"],
                condition=USAGE_CONDITION,
                name="status_usage_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.wamid} {self.status}"


class InboundMessage(models.Model):
    """A message a user sent to one of the client's numbers (kept for keyword opt-out)."""

    number = models.ForeignKey(
        PhoneNumber, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound"
    )
    phone_number_meta_id = models.CharField(max_length=64)
    wamid = models.CharField(max_length=200, unique=True)
    # Meta's phone digits (`from`), or the BSUID when Meta withheld the phone.
    sender = models.CharField(max_length=260)
    sender_bsuid = models.CharField(max_length=260, blank=True, db_default="")
    sender_username = models.CharField(max_length=40, blank=True, db_default="")
    sender_name = models.CharField(max_length=200, blank=True)
    message_type = models.CharField(max_length=30)
    text = models.TextField(blank=True)
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["-received_at"]
        indexes = [
            # The 24-hour customer-service window of the pre-send check.
            models.Index(fields=["sender", "received_at"], name="inbound_sender_time"),
            models.Index(
                fields=["sender_bsuid", "received_at"],
                condition=~models.Q(sender_bsuid=""),
                name="inbound_bsuid_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sender}: {self.text[:30]}"


class SyncRun(models.Model):
    """One sync of this client's assets with Meta, with progress for the "sync now" button."""

    state = models.CharField(max_length=10, choices=c.SyncState, default=c.SyncState.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.DO_NOTHING,  # see Alert.acknowledged_by
        db_constraint=False,
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    steps_total = models.PositiveIntegerField(default=0)
    steps_done = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"sync {self.pk} ({self.state})"

    @property
    def percent(self) -> int:
        if self.state == c.SyncState.DONE:
            return 100
        return int(100 * self.steps_done / self.steps_total) if self.steps_total else 0


# --- Consent ----------------------------------------------------------------------------------


class Contact(models.Model):
    """A person the client messages: one identity holding an E.164 phone, a BSUID (Meta's
    business-scoped user id) and a username, any of which may be missing, each unique in the
    client (`compliance.identity`). Consent, opt-outs, caps and back-offs hang off it."""

    # NULL, not "", when absent: each is unique where present. `phone` keeps `unique=True` (the
    # consent import's `ON CONFLICT (phone)` infers that index).
    phone = models.CharField(
        max_length=20, unique=True, null=True, blank=True, help_text="E.164, e.g. +14155550100."
    )
    bsuid = models.CharField(
        max_length=140, unique=True, null=True, blank=True, help_text="e.g. US.13491208655302741918"
    )
    parent_bsuid = models.CharField(max_length=140, blank=True, db_default="")
    username = models.CharField(max_length=35, unique=True, null=True, blank=True)
    wa_id = models.CharField(max_length=32, blank=True)
    name = models.CharField(max_length=200, blank=True)
    # Set by `compliance.error_actions`: 131026 (not reachable on WhatsApp) and per-recipient
    # back-off (131056 pair rate limit, 4^X seconds).
    unreachable_at = models.DateTimeField(null=True, blank=True)
    backoff_until = models.DateTimeField(null=True, blank=True)
    backoff_count = models.PositiveSmallIntegerField(default=0, db_default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["phone"]

    def __str__(self) -> str:
        return self.phone or self.bsuid or self.username or f"contact {self.pk}"

    @property
    def label(self) -> str:
        return str(self)


class ContactIdentityChange(models.Model):
    """Meta's user-id change (`user_changed_number`, `user_changed_user_id`) applied to a contact,
    kept as history: the BSUIDs before and after, the phone, and the contact merged into it."""

    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="identity_changes")
    previous_bsuid = models.CharField(max_length=140, blank=True)
    bsuid = models.CharField(max_length=140)
    previous_phone = models.CharField(max_length=20, blank=True)
    phone = models.CharField(max_length=20, blank=True)
    merged_contact_id = models.BigIntegerField(null=True, blank=True)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    dedupe_key = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return f"{self.previous_bsuid} → {self.bsuid}"


class ConsentState(models.Model):
    """Where a contact stands for one category now: derived from the history, kept for reads."""

    # db_index=False: `consent_state_unique` leads with the contact already.
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="states", db_index=False
    )
    category = models.CharField(max_length=20, choices=c.ConsentCategory)
    status = models.CharField(
        max_length=20, choices=c.ConsentStatus, default=c.ConsentStatus.UNKNOWN
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["contact", "category"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "category"], name="consent_state_unique")
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} {self.category}: {self.status}"


class AppendOnlyError(Exception):
    """Consent history is evidence: its rows are written once and never changed or removed."""


class ConsentEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Consent history rows cannot be updated.")

    def delete(self):
        raise AppendOnlyError("Consent history rows cannot be deleted.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AppendOnlyError("Consent history rows cannot be updated.")

    def update_or_create(self, *args, **kwargs):
        raise AppendOnlyError("Consent history rows cannot be updated.")


class ConsentEvent(models.Model):
    """One opt-in or opt-out with its evidence: the append-only consent history."""

    # db_index=False: `consent_event_contact_time` leads with the contact already.
    contact = models.ForeignKey(
        Contact, on_delete=models.PROTECT, related_name="consent_events", db_index=False
    )
    category = models.CharField(max_length=20, choices=c.ConsentCategory)
    kind = models.CharField(max_length=10, choices=c.ConsentKind)
    source = models.CharField(max_length=30, choices=c.ConsentSource)
    wording = models.TextField(blank=True, help_text="The exact text the person was shown.")
    wording_version = models.CharField(max_length=50, blank=True)
    page_url = models.URLField(max_length=500, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(blank=True)
    channel = models.CharField(max_length=50, blank=True)
    actor_label = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True, help_text="Source ids: wamid, text, …")
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    # Makes a source event (a wamid, a webhook change) count once however often it is seen.
    # Unique by a constraint (below) rather than `unique=True`: the same index without the
    # unused pattern-ops copy, which every insert (and an import's millions) would also pay for.
    dedupe_key = models.CharField(max_length=64)

    objects = ConsentEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["contact", "-occurred_at"], name="consent_event_contact_time"),
            # "Opt-outs in the last 7 days" on the dashboard reads only the recent opt-outs (a
            # partial index: the import's opt-ins and the other kinds never write to it).
            models.Index(
                fields=["-occurred_at"],
                name="consent_event_opt_out_time",
                condition=models.Q(kind=c.ConsentKind.OPT_OUT),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["dedupe_key"], name="consent_event_dedupe_key")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.category} by {self.contact_id} ({self.source})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Consent history rows cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Consent history rows cannot be deleted.")


class MessagingPolicy(models.Model):
    """The client's sending rules: frequency caps, quiet hours and opt-out keywords (one row)."""

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    marketing_cap = models.PositiveSmallIntegerField(
        default=2, help_text="Marketing messages per contact per rolling window; 0 = no cap."
    )
    utility_cap = models.PositiveSmallIntegerField(
        default=0, help_text="Utility messages per contact per rolling window; 0 = no cap."
    )
    window_days = models.PositiveSmallIntegerField(default=7)
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", help_text="For quiet hours.")
    opt_out_keywords = models.JSONField(default=c.default_opt_out_keywords, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "messaging policies"

    def __str__(self) -> str:
        return "messaging policy"

    @classmethod
    def current(cls) -> MessagingPolicy:
        """This client's policy (the defaults until someone changes them)."""
        policy = cls.objects.filter(singleton=True).first()
        return policy if policy is not None else cls()

    def keyword_set(self) -> frozenset[str]:
        """The opt-out keywords, normalised as message texts are (`compliance.keywords`)."""
        from compliance.keywords import keyword_set

        return keyword_set(self.opt_out_keywords)


def _import_upload_to(instance: ConsentImport, filename: str) -> str:
    """Each client's uploads under a folder of its own (its schema name)."""
    from django.db import connection

    return f"consent-imports/{connection.schema_name}/{uuid.uuid4().hex}.csv"


def _import_errors_to(instance: ConsentImport, filename: str) -> str:
    from django.db import connection

    return f"consent-imports/{connection.schema_name}/{uuid.uuid4().hex}-errors.csv"


class ConsentImport(models.Model):
    """An uploaded CSV of opt-ins and opt-outs and the job that applies it (`compliance.imports`).

    The file is kept (it is the evidence of where the history rows came from); the error report
    lists every rejected row with the column and the reason.
    """

    file = models.FileField(upload_to=_import_upload_to, max_length=300)
    original_name = models.CharField(max_length=255)
    size_bytes = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    state = models.CharField(max_length=10, choices=c.ImportState, default=c.ImportState.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=200, blank=True)
    bytes_done = models.BigIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    rows_valid = models.PositiveIntegerField(default=0)
    rows_invalid = models.PositiveIntegerField(default=0)
    events_created = models.PositiveIntegerField(default=0)
    events_unchanged = models.PositiveIntegerField(
        default=0, help_text="Valid rows already in the history (an earlier import of them)."
    )
    contacts_created = models.PositiveIntegerField(default=0)
    errors_file = models.FileField(upload_to=_import_errors_to, max_length=300, blank=True)
    failure = models.TextField(blank=True, help_text="Why the whole job stopped, in plain words.")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    progress_at = models.DateTimeField(
        null=True, blank=True, help_text="When a chunk was last committed (the sweeper's clock)."
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import {self.pk} of {self.original_name}"

    @property
    def is_finished(self) -> bool:
        return self.state in (c.ImportState.DONE, c.ImportState.FAILED)

    @property
    def percent(self) -> int:
        if self.state == c.ImportState.DONE:
            return 100
        return min(99, int(100 * self.bytes_done / self.size_bytes)) if self.size_bytes else 0
