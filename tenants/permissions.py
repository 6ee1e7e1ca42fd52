"""Who may do what, decided in one place: which client roles may operate or manage a client, and
which BSP staff role reaches which area of the portal (`STAFF_AREAS`), on the staff console and
inside a client alike. `tenants.actors.Actor` applies these tables; views, API permissions and
services ask it (`actor.may(area, client=..., roles=...)`)."""

from __future__ import annotations

from django.db import models

from tenants.choices import ClientRole, StaffRole

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
    CLIENT_ENTRY = "client_entry", "Entering a client's portal (audited for staff)"
    # Inside a client (its host's pages and its REST API):
    NUMBERS = "numbers", "A client's dashboard, numbers, health, sync and alerts"
    TEMPLATES = "templates", "A client's templates, their review and comments"
    CONSENT = "consent", "A client's contacts, consent, imports, exports and messaging policy"
    INTEGRATIONS = "integrations", "A client's outbound webhooks"
    SETTINGS = "settings", "A client's members, API keys, notifications and activity"
    # (Area.APPEALS is a client's appeals too: the same threads staff work from the inbox.)


# The parts of a client that its own people reach (members by their role, keys by their scopes),
# and that staff entering it reach as far as their role does.
CLIENT_AREAS = frozenset(
    {
        Area.CLIENT_ENTRY,
        Area.NUMBERS,
        Area.TEMPLATES,
        Area.CONSENT,
        Area.APPEALS,
        Area.INTEGRATIONS,
        Area.SETTINGS,
    }
)

# The one table: which staff role reaches which area, on the staff console and inside a client.
# Least privilege: a template reviewer works the template queue and a client's templates, an
# appeals agent appeals and their threads, an account manager everything of their own clients
# (not the webhook deliveries, which cross clients), a superuser everything. Staff who reach an
# area of a client act there with the client's full rights (`roles` is for members); the
# workflows' transition tables still say which steps each staff role may take.
STAFF_AREAS: dict[str, frozenset[Area]] = {
    StaffRole.TEMPLATE_REVIEWER: frozenset(
        {Area.TEMPLATE_QUEUE, Area.CLIENT_ENTRY, Area.TEMPLATES}
    ),
    StaffRole.APPEALS_AGENT: frozenset({Area.APPEALS, Area.CLIENT_ENTRY}),
    StaffRole.ACCOUNT_MANAGER: frozenset(
        {Area.CLIENTS, Area.FLEET, Area.TEMPLATE_QUEUE} | CLIENT_AREAS
    ),
    StaffRole.SUPERUSER: frozenset(Area),
}
# Staff roles whose areas hold for the clients they manage (`Client.account_manager`) only.
OWN_CLIENTS_ONLY = frozenset({StaffRole.ACCOUNT_MANAGER})


def staff_may(role: str | None, area: Area, *, user_id: int | None, client=None) -> bool:
    """Whether a staff member in `role` reaches `area` (for `client`, when one is named)."""
    if not role or area not in STAFF_AREAS.get(role, ()):
        return False
    if client is not None and role in OWN_CLIENTS_ONLY:
        return user_id is not None and client.account_manager_id == user_id
    return True


def staff_list_manager(role: str | None, *, user_id: int | None) -> int | None:
    """Whose clients a staff list across clients is narrowed to: the account manager's own
    (their user id), or None for every client (superusers and the area's own role)."""
    return user_id if role in OWN_CLIENTS_ONLY else None


def staff_role_of(user) -> str | None:
    """The staff role a BSP staff member acts in (a superuser without one acts as superuser);
    None for anyone else."""
    if user is None or not getattr(user, "is_staff", False):
        return None
    if user.staff_role:
        return user.staff_role
    return StaffRole.SUPERUSER.value if user.is_superuser else None
