"""Who may do what, decided in one place: which client roles may operate or manage a client, and
which BSP staff role reaches which area of the portal (`STAFF_AREAS`). `tenants.actors.Actor`
applies these tables; views and services ask it (`actor.may(area, client=...)`)."""

from __future__ import annotations

from functools import wraps

from django.core.exceptions import PermissionDenied
from django.db import models

from tenants.choices import ClientRole, StaffRole
from tenants.selectors import TenantAccess

# The role an API key acts in, beside the client roles (the workflows' transition tables).
API_KEY_ROLE = "api_key"

# Operating the portal (sync, acknowledge alerts, drafts): everyone but viewers.
OPERATORS = frozenset({ClientRole.OWNER, ClientRole.ADMIN, ClientRole.AGENT})
# Managing the client (members, keys, policies).
MANAGERS = frozenset({ClientRole.OWNER, ClientRole.ADMIN})


class Area(models.TextChoices):
    """The parts of the portal an actor may reach."""

    CLIENTS = "clients", "Clients: the staff console, new clients, linking WABAs"
    FLEET = "fleet", "Fleet health"
    TEMPLATE_QUEUE = "template_queue", "The template review queue"
    APPEALS = "appeals", "Appeals and their threads (internal notes included)"
    WEBHOOKS = "webhooks", "Webhook deliveries"
    CLIENT_ENTRY = "client_entry", "Entering a client's own pages"


# The one table: which staff role reaches which area. Least privilege: a template reviewer works
# the template queue (and enters clients to review their templates), an appeals agent works
# appeals and their threads, an account manager everything of their own clients only, a
# superuser everything.
STAFF_AREAS: dict[str, frozenset[Area]] = {
    StaffRole.TEMPLATE_REVIEWER: frozenset({Area.TEMPLATE_QUEUE, Area.CLIENT_ENTRY}),
    StaffRole.APPEALS_AGENT: frozenset({Area.APPEALS, Area.CLIENT_ENTRY}),
    StaffRole.ACCOUNT_MANAGER: frozenset(
        {Area.CLIENTS, Area.FLEET, Area.TEMPLATE_QUEUE, Area.APPEALS, Area.CLIENT_ENTRY}
    ),
    StaffRole.SUPERUSER: frozenset(Area),
}
# Staff roles whose areas hold for the clients they manage (`Client.account_manager`) only.
OWN_CLIENTS_ONLY = frozenset({StaffRole.ACCOUNT_MANAGER})
# What a client's own people (members, API keys) reach of their client.
CLIENT_AREAS = frozenset({Area.APPEALS, Area.CLIENT_ENTRY})


def staff_may(role: str | None, area: Area, *, user_id: int | None, client=None) -> bool:
    """Whether a staff member in `role` reaches `area` (for `client`, when one is named)."""
    if not role or area not in STAFF_AREAS.get(role, ()):
        return False
    if client is not None and role in OWN_CLIENTS_ONLY:
        return user_id is not None and client.account_manager_id == user_id
    return True


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
