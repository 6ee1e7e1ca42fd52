from rest_framework import serializers

from compliance.models import HealthEvent, HealthSnapshot, PhoneNumber


class PhoneNumberSerializer(serializers.ModelSerializer):
    waba_id = serializers.CharField(source="account.meta_id")
    phone_number_id = serializers.CharField(source="meta_id")

    class Meta:
        model = PhoneNumber
        fields = [
            "id",
            "phone_number_id",
            "waba_id",
            "display_phone_number",
            "verified_name",
            "status",
            "quality",
            "messaging_limit",
            "throughput",
            "name_status",
            "can_send",
            "score",
            "band",
            "reasons",
            "actions",
            "assessed_at",
            "last_confirmed_at",
        ]


class HealthSnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = HealthSnapshot
        fields = ["taken_at", "status", "quality", "messaging_limit", "can_send", "score", "band"]


class HealthEventSerializer(serializers.ModelSerializer):
    number = serializers.IntegerField(source="number_id", allow_null=True)
    waba_id = serializers.CharField(source="account.meta_id", allow_null=True, default=None)

    class Meta:
        model = HealthEvent
        fields = [
            "id",
            "occurred_at",
            "kind",
            "severity",
            "title",
            "detail",
            "number",
            "waba_id",
            "template_name",
            "source",
            "data",
        ]
