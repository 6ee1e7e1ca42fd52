from rest_framework import serializers

from tenants.models import Client, Membership


class ClientSerializer(serializers.ModelSerializer):
    class Meta:
        model = Client
        fields = ["name", "slug", "status", "default_region"]


class MemberSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email")
    full_name = serializers.CharField(source="user.full_name")

    class Meta:
        model = Membership
        fields = ["id", "email", "full_name", "role", "created_at"]


class WhoAmISerializer(serializers.Serializer):
    client = ClientSerializer()
    principal = serializers.CharField()
    kind = serializers.ChoiceField(choices=["user", "api_key"])
    role = serializers.CharField(allow_null=True)
    scopes = serializers.ListField(child=serializers.CharField())
