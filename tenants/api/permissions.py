from rest_framework import permissions

from tenants.choices import ApiScope
from tenants.models import ApiKey
from tenants.selectors import tenant_access_for


class IsTenantMember(permissions.BasePermission):
    """Members of this client (or BSP staff), or an API key of this client with the scope."""

    message = "You have no access to this client."

    def has_permission(self, request, view) -> bool:
        tenant = getattr(request, "tenant", None)
        if tenant is None or tenant.is_public:
            return False
        if isinstance(request.auth, ApiKey):
            if request.auth.client_id != tenant.pk:
                return False
            return request.auth.has_scope(required_scope(request, view))
        if not request.user or not request.user.is_authenticated:
            return False
        access = tenant_access_for(user=request.user, client=tenant)
        request.tenant_access = access
        return access is not None


def required_scope(request, view) -> ApiScope:
    """The API-key scope a request needs: the view's `required_scope` if it declares one (a POST
    that changes nothing, like linting), else read for safe methods and write for the rest."""
    declared = getattr(view, "required_scope", None)
    if declared is not None:
        return declared
    return ApiScope.READ if request.method in permissions.SAFE_METHODS else ApiScope.WRITE
