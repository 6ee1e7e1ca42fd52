from rest_framework import serializers

from integrations.choices import EVENT_GROUPS, EVENT_TYPES
from integrations.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from portal.api.fields import StrictCharField, StrictFloatField

EVENT_TYPE_INPUT_CHOICES = sorted([*EVENT_TYPES, *(f"{g}.*" for g in EVENT_GROUPS)])


class WebhookEndpointSerializer(serializers.ModelSerializer):
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPE_INPUT_CHOICES),
        help_text="Types (`alert.raised`) or groups (`alert.*`); empty receives every type.",
    )
    previous_secret_expires_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "state",
            "secret_hint",
            "previous_secret_expires_at",
            "failing_since",
            "disabled_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        help_text="The signing secret (Standard Webhooks `whsec_…`). Shown this once only."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookEndpointInputSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500)
    description = StrictCharField(max_length=200, required=False, default="", allow_blank=True)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPE_INPUT_CHOICES),
        required=False,
        default=list,
        help_text="Types (`alert.raised`) or groups (`alert.*`); empty receives every type.",
    )


class WebhookEndpointUpdateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500, required=False)
    description = StrictCharField(max_length=200, required=False, allow_blank=True)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_TYPE_INPUT_CHOICES), required=False
    )


class RotateSecretInputSerializer(serializers.Serializer):
    overlap_hours = StrictFloatField(
        required=False,
        min_value=0,
        max_value=24 * 7,
        help_text="How long the old secret keeps signing beside the new one (default 24).",
    )


class WebhookAttemptSerializer(serializers.ModelSerializer):
    response_status = serializers.IntegerField(allow_null=True)

    class Meta:
        model = WebhookAttempt
        fields = [
            "attempted_at",
            "request_headers",
            "response_status",
            "response_excerpt",
            "latency_ms",
            "error",
        ]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    response_status = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.IntegerField(allow_null=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "message_id",
            "event_type",
            "state",
            "attempts",
            "created_at",
            "next_attempt_at",
            "first_attempt_at",
            "last_attempt_at",
            "delivered_at",
            "response_status",
            "response_excerpt",
            "latency_ms",
            "error",
        ]


class WebhookDeliveryDetailSerializer(WebhookDeliverySerializer):
    payload = serializers.JSONField(
        help_text="The request body sent (`type`, `timestamp`, `data`)."
    )
    attempt_log = WebhookAttemptSerializer(many=True)

    class Meta(WebhookDeliverySerializer.Meta):
        fields = [*WebhookDeliverySerializer.Meta.fields, "payload", "attempt_log"]


class EventTypeSerializer(serializers.Serializer):
    type = serializers.CharField()
    description = serializers.CharField()
