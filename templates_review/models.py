"""Message templates: Meta's side of each template (status, quality, pauses, category changes)
from webhooks and sync, and the client-to-staff review workflow (state, revisions, comments)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from compliance.choices import QUALITY_CHOICES, choices_of
from portal.meta import types as meta
from templates_review.choices import (
    META_REASON_TEXT,
    PAUSE_KIND_TEXT,
    PauseKind,
    ReviewReason,
    ReviewState,
)

META_STATUS_CHOICES = choices_of(meta.TemplateStatus)
CATEGORY_CHOICES = choices_of(meta.TemplateCategory)


def _header_example_path(instance, filename: str) -> str:
    from django.db import connection

    return f"template-examples/{connection.schema_name}/{filename}"


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
    # The time Meta stated for its status, quality and category (`portal.meta.webhooks.order`):
    # a webhook or a sync read stated before it leaves that state alone.
    meta_status_at = models.DateTimeField(null=True, blank=True)
    quality = models.CharField(max_length=20, choices=QUALITY_CHOICES, default=meta.Quality.UNKNOWN)
    quality_updated_at = models.DateTimeField(null=True, blank=True)
    category_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.CharField(max_length=60, blank=True)
    rejection_info = models.JSONField(default=dict, blank=True)
    pause_count = models.PositiveSmallIntegerField(default=0)
    paused_until = models.DateTimeField(null=True, blank=True)
    pause_title = models.CharField(max_length=30, blank=True)
    # Why the current (or last) pause: quality (ends by itself) or pacing (needs an unpause).
    pause_kind = models.CharField(max_length=20, choices=PauseKind, blank=True, db_default="")
    # Messages Meta holds under template pacing (`held_for_quality_assessment`): the count of
    # its `HeldMessage` rows, kept by `templates_review.pacing` (`holds_refresh`).
    held_count = models.PositiveIntegerField(default=0, db_default=0)
    held_since = models.DateTimeField(null=True, blank=True)
    unpause_requested_at = models.DateTimeField(null=True, blank=True)
    unpause_error = models.CharField(max_length=500, blank=True, db_default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    # An impending category change from Meta: {"correct_category": ..., "effective_at": ...}.
    pending_category_change = models.JSONField(default=dict, blank=True)
    last_confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # The review workflow (choices.TRANSITIONS). A template first seen through Meta (sync or
    # webhook) is already there; drafts start as DRAFT. Only the services assign it.
    review_state = models.CharField(
        max_length=20, choices=ReviewState, default=ReviewState.SENT_TO_META
    )
    revision_count = models.PositiveIntegerField(default=0)
    approved_revision = models.ForeignKey(
        "TemplateRevision", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Meta's refusal of the last send, in plain words (empty once a send succeeds).
    send_error = models.CharField(max_length=500, blank=True)
    # The example of a media header (image, video or document), kept with the template: sending
    # uploads it to Meta (Resumable Upload) and passes the handle as `example.header_handle`.
    header_example = models.FileField(upload_to=_header_example_path, blank=True)
    header_example_type = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["name", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "name", "language"], name="template_unique_name_language"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"

    @property
    def display_status(self) -> str:
        """Our workflow state until Meta has the template, then Meta's status."""
        if self.review_state != ReviewState.SENT_TO_META:
            return self.get_review_state_display()
        if self.meta_status in (meta.TemplateStatus.PENDING, meta.TemplateStatus.UNKNOWN):
            return "In Meta review"
        return self.get_meta_status_display()

    @property
    def status_key(self) -> str:
        if self.review_state != ReviewState.SENT_TO_META:
            return self.review_state
        return f"meta_{self.meta_status}"

    @property
    def rejection_text(self) -> str:
        """Meta's rejection reason in plain words (Meta's token if we have no words for it)."""
        reason = meta.TemplateRejectionReason.from_meta(self.rejection_reason)
        return META_REASON_TEXT.get(reason) or self.rejection_reason.replace("_", " ").capitalize()

    @property
    def sending(self) -> bool:
        """Approved by the BSP and on its way to Meta: no refusal recorded yet."""
        return self.review_state == ReviewState.APPROVED and not self.send_error

    @property
    def pause_text(self) -> str:
        """Why the template is paused and what ends it, in plain words ("" if not paused)."""
        if self.meta_status != meta.TemplateStatus.PAUSED:
            return ""
        return PAUSE_KIND_TEXT.get(self.pause_kind or PauseKind.QUALITY, "")

    @property
    def needs_unpause(self) -> bool:
        """A pacing pause ends only with an unpause (Meta's or ours)."""
        return self.meta_status == meta.TemplateStatus.PAUSED and self.pause_kind in (
            PauseKind.PACING,
            PauseKind.PORTFOLIO_PACING,
        )

    def pause_time_left(self, now=None):
        """How long the current pause still runs (a timedelta), or None if not paused."""
        if self.meta_status != meta.TemplateStatus.PAUSED or self.paused_until is None:
            return None
        left = self.paused_until - (now or timezone.now())
        return left if left.total_seconds() > 0 else None


class TemplateSyncMark(models.Model):
    """What the sync last reconciled an account's templates against: a digest of Meta's list
    and one of the stored rows it wrote, at the time of that read. A later sync that reads the
    same list and finds the rows as it left them only confirms them (`meta_sync`)."""

    account = models.OneToOneField(
        "compliance.WhatsAppAccount", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    answer_digest = models.CharField(max_length=32)
    state_digest = models.CharField(max_length=32)
    reconciled_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"templates of account {self.account_id} reconciled at {self.reconciled_at}"


class TemplateRevision(models.Model):
    """One edit of a template, never changed afterwards: what the author wrote, when. Reviews
    compare revisions, and the diff shown to staff is from the last approved one."""

    template = models.ForeignKey(
        MessageTemplate, on_delete=models.CASCADE, related_name="revisions"
    )
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=512)
    language = models.CharField(max_length=15)
    category = models.CharField(max_length=20, choices=CATEGORY_CHOICES)
    parameter_format = models.CharField(max_length=12)
    components = models.JSONField(default=list)
    author = models.ForeignKey(
        "tenants.User",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    author_label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["template", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="revision_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.template_id} r{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("A template revision is immutable; make a new one.")
        super().save(*args, **kwargs)


class ReviewComment(models.Model):
    """A remark on a template between the client and the BSP's reviewers; a reviewer's decision
    (changes requested, rejected) carries its reason code here."""

    template = models.ForeignKey(MessageTemplate, on_delete=models.CASCADE, related_name="comments")
    revision = models.ForeignKey(
        TemplateRevision, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    author = models.ForeignKey(
        "tenants.User",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    author_label = models.CharField(max_length=200, blank=True)
    by_staff = models.BooleanField(default=False)
    body = models.TextField(blank=True)
    reason = models.CharField(max_length=30, choices=ReviewReason, blank=True)
    action = models.CharField(max_length=20, blank=True)  # the decision it came with, if any
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.template_id}: {self.body[:40]}"


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


class HeldMessage(models.Model):
    """A sent message Meta answered with `held_for_quality_assessment` (template pacing), as the
    client's sending system reported it (`POST /api/v1/templates/send-results/`). It stops being
    held when any delivery status arrives for it, or when the template's hold ends (released,
    paused with the held messages dropped, unpaused)."""

    template = models.ForeignKey(MessageTemplate, on_delete=models.CASCADE, related_name="held")
    wamid = models.CharField(max_length=128, unique=True)
    reported_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.template_id}: {self.wamid}"
