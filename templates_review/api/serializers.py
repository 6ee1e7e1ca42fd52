from __future__ import annotations

import json

from rest_framework import serializers

from portal.api.fields import StrictCharField
from portal.meta.types import SEND_ANSWER_TOKENS
from templates_review.choices import ReviewReason

# Generous bounds on the request itself (Meta's own limits are the linter's findings, not 400s):
# a template is a handful of components and a few kilobytes of JSON.
MAX_COMPONENTS = 20
MAX_COMPONENTS_JSON = 100_000


class LintInputSerializer(serializers.Serializer):
    """A template draft in Meta's shape. Blank fields are allowed: the linter reports them."""

    name = StrictCharField(allow_blank=True, max_length=2048, trim_whitespace=False)
    language = StrictCharField(allow_blank=True, max_length=64)
    category = StrictCharField(allow_blank=True, max_length=64)
    parameter_format = StrictCharField(
        required=False, default="positional", allow_blank=True, max_length=32
    )
    components = serializers.ListField(
        child=serializers.DictField(), allow_empty=True, max_length=MAX_COMPONENTS
    )

    def validate_components(self, components: list[dict]) -> list[dict]:
        for index, component in enumerate(components):
            if not isinstance(component.get("type"), str):
                raise serializers.ValidationError(
                    f"Component {index + 1} needs a `type` (HEADER, BODY, FOOTER or BUTTONS)."
                )
        if len(json.dumps(components)) > MAX_COMPONENTS_JSON:
            raise serializers.ValidationError("The components are too large to be a template.")
        return components


class LintFindingSerializer(serializers.Serializer):
    severity = serializers.ChoiceField(choices=["error", "warning", "info"])
    code = StrictCharField()
    message = StrictCharField()
    component = StrictCharField(allow_null=True)


class LintResultSerializer(serializers.Serializer):
    findings = LintFindingSerializer(many=True)
    errors = serializers.IntegerField()
    warnings = serializers.IntegerField()


class RevisionSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    name = serializers.CharField()
    language = serializers.CharField()
    category = serializers.CharField()
    parameter_format = serializers.CharField()
    components = serializers.ListField(child=serializers.DictField())
    author = serializers.CharField(source="author_label")
    created_at = serializers.DateTimeField()


class CommentSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    author = serializers.CharField(source="author_label", read_only=True)
    by_staff = serializers.BooleanField(read_only=True)
    body = serializers.CharField(max_length=5000)
    reason = serializers.CharField(read_only=True)
    action = serializers.CharField(read_only=True)
    revision = serializers.IntegerField(source="revision.number", read_only=True, default=None)
    created_at = serializers.DateTimeField(read_only=True)


class TemplateSerializer(serializers.Serializer):
    """A template: our review state, and Meta's status, quality and pauses once Meta has it.
    `components` are the latest revision's (what the client is working on)."""

    id = serializers.IntegerField()
    waba_id = serializers.CharField(source="account.meta_id")
    name = serializers.CharField()
    language = serializers.CharField()
    category = serializers.CharField()
    parameter_format = serializers.CharField()
    components = serializers.ListField(child=serializers.DictField())
    review_state = serializers.CharField()
    status = serializers.CharField(source="status_key")
    status_label = serializers.CharField(source="display_status")
    revision_count = serializers.IntegerField()
    meta_id = serializers.CharField(allow_null=True)
    meta_status = serializers.CharField()
    quality = serializers.CharField()
    rejection_reason = serializers.CharField()
    rejection_text = serializers.CharField(help_text="Meta's rejection reason in plain words.")
    rejection_info = serializers.DictField(help_text="Meta's reason and recommendation, if any.")
    pause_count = serializers.IntegerField()
    paused_until = serializers.DateTimeField(allow_null=True)
    pause_seconds_left = serializers.SerializerMethodField()
    disabled_at = serializers.DateTimeField(allow_null=True)
    pending_category_change = serializers.DictField()
    send_error = serializers.CharField()
    sending = serializers.BooleanField(
        help_text="Approved and on its way to Meta (no refusal recorded yet)."
    )
    submitted_at = serializers.DateTimeField(allow_null=True)
    sent_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()

    def get_pause_seconds_left(self, template) -> int | None:
        left = template.pause_time_left()
        return int(left.total_seconds()) if left is not None else None


class TemplateDetailSerializer(TemplateSerializer):
    revisions = RevisionSerializer(many=True)
    comments = CommentSerializer(many=True)


class TemplateWriteSerializer(serializers.Serializer):
    """A draft: Meta's template shape. Name, language and parameter format are fixed once Meta
    has the template (edits then change the category and the components)."""

    waba_id = serializers.CharField(required=False, help_text="Needed if the client has several.")
    name = serializers.CharField(max_length=512)
    language = serializers.CharField(max_length=15)
    category = serializers.ChoiceField(
        choices=["MARKETING", "UTILITY", "AUTHENTICATION", "marketing", "utility", "authentication"]
    )
    parameter_format = serializers.ChoiceField(
        choices=["positional", "named"], default="positional"
    )
    components = serializers.ListField(
        child=serializers.DictField(), allow_empty=False, max_length=MAX_COMPONENTS
    )

    def validate_components(self, components: list[dict]) -> list[dict]:
        return LintInputSerializer().validate_components(components)


class ReviewDecisionSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=ReviewReason.choices)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")


class ApproveSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")


class SubmitSerializer(serializers.Serializer):
    warnings_read = serializers.BooleanField(
        default=False, help_text="The lint warnings were read: submit despite them."
    )


class SentTemplateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=512)
    language = StrictCharField(max_length=15)


class SendResultSerializer(serializers.Serializer):
    message_id = StrictCharField(max_length=128, help_text="Meta's `messages[].id` (wamid).")
    message_status = serializers.ChoiceField(
        choices=list(SEND_ANSWER_TOKENS),
        help_text="Meta's `messages[].message_status` (template pacing holds some sends).",
    )
    phone_number_id = StrictCharField(max_length=64, help_text="The sending number's Meta id.")
    template = SentTemplateSerializer()


class SendResultsInputSerializer(serializers.Serializer):
    results = SendResultSerializer(many=True, allow_empty=False, max_length=1000)


class SendResultsAnswerSerializer(serializers.Serializer):
    recorded = serializers.IntegerField(help_text="Results of this client's numbers and templates.")
    held = serializers.IntegerField(help_text="Messages newly counted as held by Meta.")
    released = serializers.IntegerField(help_text="Held messages now accepted.")
    unknown = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Indexes of results whose number or template this client does not have; "
        "nothing was stored for them.",
    )
