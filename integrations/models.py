"""Outbound webhook endpoints, their delivery outbox and log, and the e-mail outbox.

The app is in TENANT_APPS (a client's endpoints, deliveries and e-mails live in its schema, written
in the same transaction as the event they carry) and in SHARED_APPS (e-mails of the public schema,
e.g. staff's SLA warnings, go through the same outbox there).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from integrations import choices as c


class WebhookEndpoint(models.Model):
    """A client's receiver of signed events (Standard Webhooks). The secret is stored encrypted:
    it signs every delivery, and it is shown to people once, when created or rotated."""

    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    # Types (`alert.raised`) or groups (`alert.*`); empty receives every type.
    event_types = models.JSONField(default=list, blank=True)
    state = models.CharField(max_length=10, choices=c.EndpointState, default=c.EndpointState.ACTIVE)
    secret_encrypted = models.TextField()
    secret_hint = models.CharField(max_length=16, help_text="The secret's first characters.")
    previous_secret_encrypted = models.TextField(blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        "tenants.User",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url

    def receives(self, event_type: str) -> bool:
        if not self.event_types:
            return True
        group = event_type.split(".", 1)[0]
        return event_type in self.event_types or f"{group}.*" in self.event_types


class WebhookDelivery(models.Model):
    """One event for one endpoint: the outbox row, written in the event's transaction, then sent
    (and retried) by Celery, or by the sweeper when the broker was down."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    message_id = models.CharField(max_length=40, help_text="Sent as `webhook-id`.")
    event_type = models.CharField(max_length=60)
    payload = models.JSONField()
    state = models.CharField(
        max_length=10, choices=c.DeliveryState, default=c.DeliveryState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    # When it may be tried next; while one is sending it holds a short lease here.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_due",
                condition=models.Q(state="pending"),
            ),
            models.Index(fields=["endpoint", "-id"], name="delivery_endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} {self.event_type} → {self.endpoint_id}"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: what was sent, what came back and how long it took."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    attempted_at = models.DateTimeField(default=timezone.now)
    request_headers = models.JSONField(default=dict)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-attempted_at", "-id"]

    def __str__(self) -> str:
        return f"{self.delivery_id} {self.response_status or self.error}"


class OutboundEmail(models.Model):
    """An e-mail waiting to leave, written in the transaction of what it tells about: the broker
    being down delays it (the sweeper sends what is due), it is never lost."""

    recipients = models.JSONField()
    subject = models.CharField(max_length=300)
    body = models.TextField()
    state = models.CharField(max_length=10, choices=c.EmailState, default=c.EmailState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], name="email_due", condition=models.Q(state="pending")
            )
        ]

    def __str__(self) -> str:
        return self.subject
