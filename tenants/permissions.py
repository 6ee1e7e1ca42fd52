"""Which client roles may do what, decided in one place."""

from __future__ import annotations

from functools import wraps

from django.core.exceptions import PermissionDenied

from tenants.choices import ClientRole, StaffRole
from tenants.selectors import TenantAccess

# The role an API key acts in, beside the client roles (the workflows' transition tables).
API_KEY_ROLE = "api_key"

# Operating the portal (sync, acknowledge alerts, drafts): everyone but viewers.
OPERATORS = frozenset({ClientRole.OWNER, ClientRole.ADMIN, ClientRole.AGENT})
# Managing the client (members, keys, policies).
MANAGERS = frozenset({ClientRole.OWNER, ClientRole.ADMIN})


def has_role(access: TenantAccess | None, roles: frozenset[ClientRole]) -> bool:
    """BSP staff entering a client act with operator rights; members by their role."""
    if access is None:
        return False
    if access.is_staff_entry:
        return roles is OPERATORS or roles is MANAGERS
    return access.role in roles


def staff_role_of(user) -> str | None:
    """The staff role a BSP staff member acts in (a superuser without one acts as superuser);
    None for anyone else."""
    if user is None or not getattr(user, "is_staff", False):
        return None
    if user.staff_role:
        return user.staff_role
    return StaffRole.SUPERUSER.value if user.is_superuser else None


def require_role(roles: frozenset[ClientRole]):
    """View decorator for client-host views (TenantAccessMiddleware has set tenant_access)."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not has_role(getattr(request, "tenant_access", None), roles):
                raise PermissionDenied("Your role does not allow this.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
