from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.actors import Actor
from tenants.api.permissions import IsTenantMember, SignedInOnly
from tenants.api.serializers import MemberSerializer, WhoAmISerializer
from tenants.models import ApiKey, Membership
from tenants.permissions import Area
from tenants.selectors import members_of_client


class WhoAmIView(APIView):
    """Which client this request reaches, and as whom."""

    area = Area.CLIENT_ENTRY

    @extend_schema(responses=WhoAmISerializer)
    def get(self, request: Request) -> Response:
        if isinstance(request.auth, ApiKey):
            data = {
                "principal": str(request.user),
                "kind": "api_key",
                "role": None,
                "scopes": request.auth.scopes,
            }
        else:
            access = request.tenant_access
            data = {
                "principal": request.user.email,
                "kind": "staff" if access.is_staff_entry else "user",
                # Staff act in their staff role (which areas of this client it reaches:
                # tenants.permissions.STAFF_AREAS); members in their client role.
                "role": Actor.from_request(request).role,
                "scopes": ["read", "write"],
            }
        return Response(WhoAmISerializer({"client": request.tenant, **data}).data)


@extend_schema_view(
    get=extend_schema(
        description="The people with access to this client, and their roles. For signed-in "
        "members only: API keys get 403 (managing members and API keys is for a signed-in "
        "owner, on the client's pages).",
    )
)
class MemberListView(generics.ListAPIView):
    """The people with access to this client, and their roles (people only, not API keys)."""

    area = Area.SETTINGS

    serializer_class = MemberSerializer
    permission_classes = [IsTenantMember, SignedInOnly]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no tenant
            return Membership.objects.none()
        return members_of_client(client=self.request.tenant)
