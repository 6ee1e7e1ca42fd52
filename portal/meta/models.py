from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class WebhookDelivery(models.Model):
    """One verified POST from Meta, stored before anything else happens.

    Meta has no replay API and retries for 7 days, so the raw body is the record of truth; a
    delivery is processed after commit and swept up again if that never happened.
    """

    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    body = models.BinaryField()
    body_sha256 = models.CharField(max_length=64, unique=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["received_at"],
                name="webhook_unprocessed",
                condition=models.Q(processed_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} at {self.received_at:%Y-%m-%d %H:%M:%S}"


class ChangeState(models.TextChoices):
    PENDING = "pending", "Pending"
    APPLIED = "applied", "Applied"
    UNROUTABLE = "unroutable", "Unroutable"
    FAILED = "failed", "Failed"


class WebhookChange(models.Model):
    """One `entry[].changes[]` item. Its dedupe key makes a change count once however often
    Meta (or a replay) delivers it, even re-batched into a different POST."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="changes")
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
    applied_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["state", "-created_at"], name="webhook_change_state")]

    def __str__(self) -> str:
        return f"{self.field} for {self.entry_id} ({self.state})"


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
