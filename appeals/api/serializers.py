from rest_framework import serializers

from appeals import choices as c
from appeals.models import AppealAttachment, AppealMessage, AppealTicket, RecoveryItem
from portal.api.fields import NoUnknownFields, StrictCharField


class ClockSerializer(serializers.Serializer):
    used_seconds = serializers.IntegerField(source="used")
    target_seconds = serializers.IntegerField(source="target")
    running = serializers.BooleanField()
    due_at = serializers.DateTimeField(allow_null=True)
    state = serializers.SerializerMethodField()

    def get_state(self, clock) -> str:
        return clock.state(warn_at_percent=self.context["warn_at"])


class AppealSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    waba_id = serializers.CharField(source="account.meta_id", read_only=True)
    phone_number_id = serializers.CharField(
        source="number.meta_id", default=None, read_only=True, allow_null=True
    )
    template = serializers.CharField(
        source="template.name", default=None, read_only=True, allow_null=True
    )
    missing_answers = serializers.ListField(child=serializers.CharField(), read_only=True)
    clocks = serializers.SerializerMethodField()

    class Meta:
        model = AppealTicket
        fields = [
            "id",
            "reference",
            "title",
            "status",
            "subject_kind",
            "waba_id",
            "phone_number_id",
            "template",
            "block_type",
            "violation_type",
            "blocked_at",
            "block_ends_at",
            "appeal_deadline",
            "api_uses",
            "consent_process",
            "improvement_plan",
            "missing_answers",
            "priority",
            "meta_case_reference",
            "outcome",
            "outcome_at",
            "submitted_at",
            "first_response_at",
            "resolved_at",
            "created_at",
            "clocks",
        ]

    def get_clocks(self, ticket) -> dict:
        from appeals.services import clocks

        data = clocks(ticket=ticket)
        return {
            name: ClockSerializer(clock, context=self.context).data if clock else None
            for name, clock in data.items()
        }


class AppealCreateSerializer(serializers.Serializer):
    event = serializers.IntegerField(
        required=False, help_text="An enforcement event (alert) to prefill from."
    )
    title = StrictCharField(max_length=200, required=False)
    subject_kind = serializers.ChoiceField(choices=c.SubjectKind.choices, required=False)
    waba_id = StrictCharField(required=False)
    phone_number_id = StrictCharField(required=False)
    template_id = serializers.IntegerField(required=False)
    block_type = serializers.ChoiceField(choices=c.BlockType.choices, required=False)
    violation_type = StrictCharField(max_length=100, required=False, allow_blank=True)
    blocked_at = serializers.DateTimeField(required=False)
    block_ends_at = serializers.DateTimeField(required=False, allow_null=True)
    api_uses = StrictCharField(required=False, allow_blank=True)
    consent_process = StrictCharField(required=False, allow_blank=True)
    improvement_plan = StrictCharField(required=False, allow_blank=True)
    priority = serializers.ChoiceField(choices=c.Priority.choices, required=False)


class AnswersInputSerializer(serializers.Serializer):
    """The guided answers (and title, priority) a client completes while the appeal is a draft
    or waits on the client; only the fields given change."""

    title = StrictCharField(max_length=200, required=False)
    api_uses = StrictCharField(required=False, allow_blank=True)
    consent_process = StrictCharField(required=False, allow_blank=True)
    improvement_plan = StrictCharField(required=False, allow_blank=True)
    priority = serializers.ChoiceField(choices=c.Priority.choices, required=False)


class AttachmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = AppealAttachment
        fields = ["id", "original_name", "content_type", "size", "kind", "created_at"]


class AppealMessageSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author_label")
    attachments = AttachmentSerializer(many=True)

    class Meta:
        model = AppealMessage
        fields = ["id", "side", "author", "body", "created_at", "attachments"]


class MessageInputSerializer(NoUnknownFields, serializers.Serializer):
    body = StrictCharField()


class TransitionInputSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=sorted(c.TRANSITIONS))
    body = StrictCharField(
        required=False, allow_blank=True, help_text="The question or the answer."
    )
    meta_case_reference = StrictCharField(required=False, allow_blank=True)
    outcome = serializers.ChoiceField(choices=c.Outcome.choices, required=False)
    note = StrictCharField(required=False, allow_blank=True)


class AppealThreadSerializer(serializers.Serializer):
    """The thread as the client sees it (never internal notes)."""

    results = AppealMessageSerializer(many=True)


class AttachmentUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="PDF, image, text or CSV (see the appeal page's limits)."
    )


class EvidenceBundleSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    download = serializers.SerializerMethodField()

    class Meta:
        model = AppealAttachment
        fields = ["id", "original_name", "size", "created_at", "status", "download"]

    def get_status(self, obj) -> str:
        return "ready"  # built synchronously from our own records; listed once stored

    def get_download(self, obj) -> str:
        return f"/api/v1/appeals/{obj.ticket_id}/attachments/{obj.pk}/download/"


class RecoveryItemSerializer(serializers.ModelSerializer):
    template_id = serializers.IntegerField(allow_null=True)
    done = serializers.SerializerMethodField()

    class Meta:
        model = RecoveryItem
        fields = [
            "id",
            "kind",
            "title",
            "detail",
            "contact_phone",
            "template_id",
            "position",
            "done",
            "done_at",
        ]

    def get_done(self, obj) -> bool:
        return obj.done_at is not None


class RecoveryTickSerializer(serializers.Serializer):
    done = serializers.BooleanField()
