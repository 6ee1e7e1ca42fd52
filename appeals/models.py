"""Appeal tickets between a client and BSP staff about a Meta enforcement, their thread and
attachments, and the recovery plan that follows Meta's outcome.

Appeals happen in Meta's Business Support Home only (no API): staff prepare the case with the
client here, file it at Meta, note Meta's case reference and record the outcome.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, models
from django.utils import timezone

from appeals import choices as c

# Meta accepts an appeal for 90 days after the enforcement.
APPEAL_WINDOW = timedelta(days=90)
# Pages warn this long before Meta's deadline.
DEADLINE_WARNING = timedelta(days=7)


def _user_fk(**kwargs):
    # Users live in the public schema: a delete there must not reach into client schemas
    # (system check portal.E002).
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        related_name="+",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        **kwargs,
    )


class AppealTicket(models.Model):
    """One appeal of one enforcement on one asset (account, number or template)."""

    title = models.CharField(max_length=200)
    status = models.CharField(max_length=30, choices=c.Status, default=c.Status.DRAFT)
    subject_kind = models.CharField(max_length=20, choices=c.SubjectKind)
    account = models.ForeignKey(
        "compliance.WhatsAppAccount", on_delete=models.PROTECT, related_name="appeals"
    )
    number = models.ForeignKey(
        "compliance.PhoneNumber",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="appeals",
    )
    template = models.ForeignKey(
        "templates_review.MessageTemplate",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="appeals",
    )
    block_type = models.CharField(max_length=30, choices=c.BlockType)
    violation_type = models.CharField(
        max_length=100, blank=True, help_text="As Meta named it, e.g. spam or scams."
    )
    source_event = models.ForeignKey(
        "compliance.HealthEvent",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="appeals",
        help_text="The enforcement event the appeal was opened from.",
    )
    blocked_at = models.DateTimeField(help_text="When Meta applied the enforcement.")
    block_ends_at = models.DateTimeField(
        null=True, blank=True, help_text="When the block ends by itself; empty if indefinite."
    )
    appeal_deadline = models.DateTimeField(help_text="Meta accepts an appeal until then.")

    api_uses = models.TextField(
        blank=True,
        help_text="The specific ways you use the WhatsApp API: which messages you send, to whom, "
        "why, and how often (for example order updates after a purchase, one reminder a day).",
    )
    consent_process = models.TextField(
        blank=True,
        help_text="How people agree to receive your messages: where they opt in, the exact words "
        "they see (your business name and what they will get) and how they opt out.",
    )
    improvement_plan = models.TextField(
        blank=True,
        help_text="What you have changed or will change so it does not happen again: templates "
        "rewritten, lists cleaned, sending paused, staff trained, with dates.",
    )

    priority = models.CharField(max_length=10, choices=c.Priority, default=c.Priority.NORMAL)
    assignee = _user_fk(help_text="BSP staff member working the appeal.")
    created_by = _user_fk()
    meta_case_reference = models.CharField(max_length=100, blank=True)
    outcome = models.CharField(max_length=20, choices=c.Outcome, blank=True)
    outcome_note = models.TextField(blank=True)
    outcome_at = models.DateTimeField(null=True, blank=True)

    # SLA: business seconds banked and when each clock last started running (None: paused or
    # stopped). Due times are derived (appeals.sla) and mirrored into the staff work index.
    submitted_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolution_used = models.PositiveIntegerField(default=0)
    resolution_running_since = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "-created_at"], name="appeal_status_recent")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    @property
    def reference(self) -> str:
        return f"AP-{self.pk}"

    @property
    def subject_label(self) -> str:
        if self.subject_kind == c.SubjectKind.TEMPLATE and self.template_id:
            return f"Template {self.template}"
        if self.subject_kind == c.SubjectKind.PHONE_NUMBER and self.number_id:
            return f"Number {self.number}"
        return f"WABA {self.account}"

    def deadline_warning(self, now: datetime | None = None) -> str:
        """A warning while the appeal is not yet filed at Meta and Meta's deadline is within a
        week or past; '' otherwise."""
        if self.status not in c.BEFORE_META:
            return ""
        left = self.appeal_deadline - (now or timezone.now())
        if left <= timedelta(0):
            return (
                "Meta's 90-day appeal deadline has passed: Meta may no longer accept this appeal."
            )
        if left <= DEADLINE_WARNING:
            days = -(-left // timedelta(days=1))  # whole days, rounded up
            when = f"in {days} days" if days > 1 else "within a day"
            return f"Meta's 90-day appeal deadline is {when}."
        return ""

    def missing_answers(self) -> list[str]:
        """The guided parts still empty (each is required before submitting)."""
        return [
            name
            for name in ("api_uses", "consent_process", "improvement_plan")
            if not getattr(self, name).strip()
        ]


class AppealMessage(models.Model):
    """A message in the appeal's thread; `internal` notes are for BSP staff only."""

    ticket = models.ForeignKey(AppealTicket, on_delete=models.CASCADE, related_name="messages")
    author = _user_fk()
    author_label = models.CharField(max_length=254, blank=True)
    side = models.CharField(max_length=10, choices=c.Side)
    body = models.TextField()
    internal = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="appeal_message_thread")]

    def __str__(self) -> str:
        return f"{self.ticket_id}: {self.body[:40]}"


def attachment_path(instance: AppealAttachment, filename: str) -> str:
    """Files are stored per client: the schema name is the first path segment."""
    return f"{connection.schema_name}/appeals/{instance.ticket_id}/{filename}"


class AppealAttachment(models.Model):
    """A file on an appeal: an upload (checked for size and type) or an evidence bundle."""

    ticket = models.ForeignKey(AppealTicket, on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey(
        AppealMessage,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="attachments",
    )
    kind = models.CharField(
        max_length=20, choices=c.AttachmentKind, default=c.AttachmentKind.UPLOAD
    )
    file = models.FileField(upload_to=attachment_path, max_length=300)
    original_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    internal = models.BooleanField(default=False)
    uploaded_by = _user_fk()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.original_name


class RecoveryItem(models.Model):
    """One step of the recovery plan after Meta's outcome, ticked off as it is done."""

    ticket = models.ForeignKey(AppealTicket, on_delete=models.CASCADE, related_name="recovery")
    kind = models.CharField(max_length=30, choices=c.RecoveryKind)
    title = models.CharField(max_length=200)
    detail = models.TextField(blank=True)
    contact_phone = models.CharField(max_length=32, blank=True)
    template = models.ForeignKey(
        "templates_review.MessageTemplate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    position = models.PositiveIntegerField(default=0)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = _user_fk()

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.title
