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


class RoleMayWrite(permissions.BasePermission):
    """Writes for members with one of `roles` (staff entering the client count as managers);
    API keys pass (their scope was checked by IsTenantMember). `read_roles` narrows reads too."""

    roles: frozenset = frozenset()
    read_roles: frozenset | None = None
    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        from tenants.permissions import has_role

        if isinstance(request.auth, ApiKey):
            return True
        access = getattr(request, "tenant_access", None)
        if request.method in permissions.SAFE_METHODS:
            return self.read_roles is None or has_role(access, self.read_roles)
        return has_role(access, self.roles)


class ManagersOnly(RoleMayWrite):
    """Owners and admins (reads and writes); API keys by scope."""

    def __init__(self):
        from tenants.permissions import MANAGERS

        self.roles = self.read_roles = MANAGERS


class OperatorsMayWrite(RoleMayWrite):
    """Every member reads; owners, admins and agents write; API keys by scope."""

    def __init__(self):
        from tenants.permissions import OPERATORS

        self.roles = OPERATORS


class SignedInOnly(permissions.BasePermission):
    """People only, never an API key: who may reach the client (members, and what only a
    signed-in owner may do with API keys and members) is not for integrations."""

    message = "Only people signed in to this client may do this; API keys may not."

    def has_permission(self, request, view) -> bool:
        return not isinstance(request.auth, ApiKey)


class ManagersMayWrite(RoleMayWrite):
    """Every member reads; owners and admins write; API keys by scope."""

    def __init__(self):
        from tenants.permissions import MANAGERS

        self.roles = MANAGERS
