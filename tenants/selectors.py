"""Reads that decide who may see what. Every check of tenant access goes through here."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Q, QuerySet

from tenants.choices import ClientRole, ClientStatus
from tenants.models import Client, Membership, User


@dataclass(frozen=True)
class TenantAccess:
    """How a user reaches a client: through a membership role, or as BSP staff."""

    client: Client
    role: ClientRole | None
    is_staff_entry: bool

    @property
    def label(self) -> str:
        return "BSP staff" if self.is_staff_entry else ClientRole(self.role).label


def current_client() -> Client:
    """The client whose schema the connection is in: the tenant the request middleware or the
    Celery task set on the connection, else read from the public schema."""
    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Client) and tenant.schema_name == connection.schema_name:
        return tenant
    return Client.objects.get(schema_name=connection.schema_name)


def tenant_access_for(*, user: User, client: Client) -> TenantAccess | None:
    """The user's access to `client`, or None. Members first; staff may enter any client."""
    if not user.is_authenticated or not user.is_active or client.is_template or client.is_public:
        return None
    role = (
        Membership.objects.filter(user=user, client=client).values_list("role", flat=True).first()
    )
    if role is not None and client.status == ClientStatus.ACTIVE:
        return TenantAccess(client=client, role=ClientRole(role), is_staff_entry=False)
    if user.is_staff:
        return TenantAccess(client=client, role=None, is_staff_entry=True)
    return None


def clients_routable() -> QuerySet[Client]:
    return Client.objects.exclude(schema_name="public").filter(is_template=False)


def clients_for_user(*, user: User) -> list[Membership]:
    """The tenant switcher: the active clients this user is a member of, with their role."""
    return list(
        Membership.objects.filter(user=user, client__status=ClientStatus.ACTIVE)
        .select_related("client")
        .order_by("client__name")
    )


def clients_for_staff_console(*, search: str = "") -> QuerySet[Client]:
    """Every client with its member count, in one query (no per-client queries)."""
    qs = clients_routable().annotate(member_count=Count("memberships"))
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(slug__icontains=search))
    return qs.order_by("name")


def active_client_schemas() -> list[str]:
    return list(
        clients_routable().filter(status=ClientStatus.ACTIVE).values_list("schema_name", flat=True)
    )


def members_of_client(*, client: Client) -> QuerySet[Membership]:
    return Membership.objects.filter(client=client).select_related("user").order_by("user__email")


def active_client_schemas_with_wabas() -> list[str]:
    """Schemas of active clients that have at least one WABA linked (one query)."""
    from tenants.models import AssetKind, MetaAssetRoute

    return list(
        MetaAssetRoute.objects.filter(kind=AssetKind.WABA, client__status=ClientStatus.ACTIVE)
        .values_list("client__schema_name", flat=True)
        .distinct()
        .order_by("client__schema_name")
    )


def fleet_numbers(*, band: str = "", limit: int = 500):
    """The staff fleet view: numbers of every client, lowest health score first."""
    from tenants.models import WorkItem, WorkKind

    qs = WorkItem.objects.filter(kind=WorkKind.NUMBER_HEALTH).select_related("client")
    if band:
        qs = qs.filter(band=band)
    return list(qs.order_by("sort_key", "id")[:limit])
