from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class DeliveryState(models.TextChoices):
    RECEIVED = "received", "Received"  # stored, not yet split into changes
    SPLIT = "split", "Split"  # its changes exist; processed once every one is finished
    PROCESSED = "processed", "Processed"
    REJECTED = "rejected", "Rejected"  # not a delivery Meta sends: kept with the reason


class WebhookDelivery(models.Model):
    """One verified POST from Meta, stored before anything else happens.

    Meta has no replay API and retries for 7 days, so the raw body is the record of truth. The
    pipeline splits it into changes (`WebhookChange`); it is processed when every change is
    finished (applied, late, failed for good, rejected, unroutable or dismissed).
    """

    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    body = models.BinaryField()
    body_sha256 = models.CharField(max_length=64, unique=True)
    state = models.CharField(max_length=10, choices=DeliveryState, default=DeliveryState.RECEIVED)
    split_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    changes_total = models.PositiveIntegerField(default=0)
    changes_seen_before = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(
                fields=["id"],
                name="webhook_delivery_unsplit",
                condition=models.Q(state="received"),
            ),
            models.Index(fields=["state", "-received_at"], name="webhook_delivery_state"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} at {self.received_at:%Y-%m-%d %H:%M:%S}"


class ChangeState(models.TextChoices):
    PENDING = "pending", "Pending"
    APPLIED = "applied", "Applied"
    LATE = "late", "Late (the newer state stands)"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    UNROUTABLE = "unroutable", "Unroutable"
    DISMISSED = "dismissed", "Dismissed"


# States a change is finished in; a failed change is finished only once no retry is due.
FINISHED_STATES = (
    ChangeState.APPLIED,
    ChangeState.LATE,
    ChangeState.REJECTED,
    ChangeState.UNROUTABLE,
    ChangeState.DISMISSED,
)


class WebhookChange(models.Model):
    """One `entry[].changes[]` item (or one item of it split off to be retried alone).

    Its dedupe key makes a change count once however often Meta (or a replay) delivers it, even
    re-batched into a different POST. Work is due while `next_attempt_at` is set: workers claim
    due changes with `FOR UPDATE SKIP LOCKED` and a lease (`claimed_until`), so a change is never
    worked twice at once, and one whose worker died is taken up again when the lease runs out.
    """

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="changes")
    # Indexed only where set (`webhook_change_parent`): nearly every change has no parent, and
    # a full index took an entry for each at every INSERT and UPDATE.
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="items",
        db_index=False,
    )
    dedupe_key = models.CharField(max_length=64, unique=True)
    field = models.CharField(max_length=64)
    entry_id = models.CharField(max_length=64)
    entry_time = models.DateTimeField(null=True, blank=True)
    value = models.JSONField()
    client = models.ForeignKey(
        settings.TENANT_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=20, choices=ChangeState, default=ChangeState.PENDING)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["state", "-created_at"], name="webhook_change_state"),
            models.Index(
                fields=["next_attempt_at", "id"],
                name="webhook_change_due",
                condition=models.Q(next_attempt_at__isnull=False),
            ),
            models.Index(
                fields=["parent"],
                name="webhook_change_parent",
                condition=models.Q(parent__isnull=False),
            ),
        ]
        # The table is stored with fillfactor 70 (migration 0003): a claim's lease (claimed_until,
        # attempts: no indexed column) is then written in place, on the same page, with no new
        # entry in any of the table's indexes.

    def __str__(self) -> str:
        return f"{self.field} for {self.entry_id} ({self.state})"

    @property
    def will_retry(self) -> bool:
        return self.next_attempt_at is not None


class DrainSlot(models.Model):
    """One drain run that may be queued or running at a time (`portal.meta.webhooks.wake`).

    The intake asks for a run after every delivery; a run is published only with a free slot,
    so however long the traffic lasts the broker holds at most one message per slot, and every
    run looks for waiting work once more after giving its slot back (what a refused wake-up
    asked for is found then). Slot 0 is the retry timer's (one delayed run for the next change
    falling due); 1 to META_WEBHOOK_DRAIN_RUNS serve the intake.
    """

    number = models.PositiveSmallIntegerField(primary_key=True)
    # Who holds it (the run's ticket), and until when: a message lost on the way or a worker
    # killed mid-run gives the slot up at that time.
    held_by = models.UUIDField(null=True, blank=True)
    held_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"drain slot {self.number}"


class CredentialKind(models.TextChoices):
    SYSTEM_USER_TOKEN = "system_user_token", "System-user access token"
    APP_SECRET = "app_secret", "App secret (webhook signatures)"
    VERIFY_TOKEN = "verify_token", "Webhook verify token"


class MetaCredential(models.Model):
    """A BSP secret for Meta, encrypted at rest with META_CREDENTIALS_KEY (not SECRET_KEY).

    Several of a kind may be active at once while a secret is rotated.
    """

    kind = models.CharField(max_length=30, choices=CredentialKind)
    label = models.CharField(max_length=100)
    ciphertext = models.BinaryField()
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["kind", "-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.label}"
