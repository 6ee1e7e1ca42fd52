"""Message templates. Now: Meta's side of each template (status, quality, pauses, category
changes) from webhooks and sync; the client-to-staff review workflow builds on these rows."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from compliance.choices import QUALITY_CHOICES, choices_of
from portal.meta import types as meta

META_STATUS_CHOICES = choices_of(meta.TemplateStatus)
CATEGORY_CHOICES = choices_of(meta.TemplateCategory)


class MessageTemplate(models.Model):
    """One template (a name in one language) of one WhatsApp account."""

    account = models.ForeignKey(
        "compliance.WhatsAppAccount", on_delete=models.CASCADE, related_name="templates"
    )
    meta_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    name = models.CharField(max_length=512)
    language = models.CharField(max_length=15)
    category = models.CharField(
        max_length=20, choices=CATEGORY_CHOICES, default=meta.TemplateCategory.UNKNOWN
    )
    parameter_format = models.CharField(max_length=12, default="positional")
    components = models.JSONField(default=list, blank=True)
    meta_status = models.CharField(
        max_length=20, choices=META_STATUS_CHOICES, default=meta.TemplateStatus.UNKNOWN
    )
    quality = models.CharField(max_length=20, choices=QUALITY_CHOICES, default=meta.Quality.UNKNOWN)
    quality_updated_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.CharField(max_length=60, blank=True)
    rejection_info = models.JSONField(default=dict, blank=True)
    pause_count = models.PositiveSmallIntegerField(default=0)
    paused_until = models.DateTimeField(null=True, blank=True)
    pause_title = models.CharField(max_length=30, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    # An impending category change from Meta: {"correct_category": ..., "effective_at": ...}.
    pending_category_change = models.JSONField(default=dict, blank=True)
    last_confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "name", "language"], name="template_unique_name_language"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"


class MetaTemplateHistory(models.Model):
    """Meta's decisions about a template over time: status, quality and category changes."""

    template = models.ForeignKey(MessageTemplate, on_delete=models.CASCADE, related_name="history")
    occurred_at = models.DateTimeField(default=timezone.now)
    meta_status = models.CharField(max_length=20, choices=META_STATUS_CHOICES, blank=True)
    quality = models.CharField(max_length=20, choices=QUALITY_CHOICES, blank=True)
    category = models.CharField(max_length=20, choices=CATEGORY_CHOICES, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True)
    dedupe_key = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return f"{self.template_id} {self.meta_status or self.quality or self.category}"
