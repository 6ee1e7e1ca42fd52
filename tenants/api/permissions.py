from django.core.exceptions import ImproperlyConfigured
from rest_framework import permissions

from tenants.actors import Actor
from tenants.choices import ApiScope
from tenants.models import ApiKey
from tenants.permissions import Area
from tenants.selectors import tenant_access_for


def area_of(view) -> Area:
    """The area of a client an API view belongs to (its `area`): the same table decides who
    reaches it as for the client's pages. A view that names none is a mistake, not open."""
    area = getattr(view, "area", None)
    if not isinstance(area, Area):
        raise ImproperlyConfigured(f"{type(view).__name__} names no `area` (tenants.permissions).")
    return area


class IsTenantMember(permissions.BasePermission):
    """Members of this client, BSP staff entering it, or an API key of this client with the
    scope; and the acting one must reach the view's area of the client (a template reviewer
    entering a client reads no appeals through the API either)."""

    message = "You have no access to this part of this client."

    def has_permission(self, request, view) -> bool:
        tenant = getattr(request, "tenant", None)
        if tenant is None or tenant.is_public:
            return False
        if isinstance(request.auth, ApiKey):
            if request.auth.client_id != tenant.pk:
                return False
            if not request.auth.has_scope(required_scope(request, view)):
                return False
        elif not request.user or not request.user.is_authenticated:
            return False
        else:
            request.tenant_access = tenant_access_for(user=request.user, client=tenant)
            if request.tenant_access is None:
                return False
        return Actor.from_request(request).may(area_of(view), client=tenant)


def required_scope(request, view) -> ApiScope:
    """The API-key scope a request needs: the view's `required_scope` if it declares one (a POST
    that changes nothing, like linting), else read for safe methods and write for the rest."""
    declared = getattr(view, "required_scope", None)
    if declared is not None:
        return declared
    return ApiScope.READ if request.method in permissions.SAFE_METHODS else ApiScope.WRITE


class RoleMayWrite(permissions.BasePermission):
    """Writes for members with one of `roles` in the view's area (staff who reach that area of
    the client act with its full rights; tenants.permissions); API keys pass (their scope was
    checked by IsTenantMember). `read_roles` narrows reads too."""

    roles: frozenset = frozenset()
    read_roles: frozenset | None = None
    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        roles = self.read_roles if request.method in permissions.SAFE_METHODS else self.roles
        if roles is None:
            return True
        return Actor.from_request(request).may(area_of(view), client=request.tenant, roles=roles)


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
