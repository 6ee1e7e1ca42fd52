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
    kind = serializers.ChoiceField(
        choices=["user", "staff", "api_key"],
        help_text="`user`: a member of this client; `staff`: BSP staff who entered it; "
        "`api_key`: one of its API keys.",
    )
    role = serializers.CharField(
        allow_null=True,
        help_text="A member's client role (owner, admin, agent, viewer) or a staff member's "
        "staff role (account_manager, template_reviewer, appeals_agent, superuser); null for "
        "an API key, whose scopes say what it may do.",
    )
    scopes = serializers.ListField(child=serializers.CharField())
