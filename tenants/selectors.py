"""Reads that decide who may see what. Every check of tenant access goes through here."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Q, QuerySet

from portal.db import replica_for_reads
from tenants.choices import ClientRole, ClientStatus
from tenants.models import Client, Membership, User, WorkItem, WorkKind


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


# A position in a staff queue: (sort_key, id) of the last item shown.
QueueCursor = tuple[int, int]


def work_queue_query(
    *,
    kind: str,
    after: QueueCursor | None = None,
    limit: int,
    band: str = "",
    status: str = "",
    assignee_id: int | None = None,
) -> QuerySet[WorkItem]:
    """One page of a staff queue from the public work index, lowest `sort_key` first (the
    riskiest number, the longest wait, the nearest SLA): one indexed query whatever the number of
    clients, and keyset paging, so a deep page costs what the first does."""
    # The staff queues read the replica when it is current enough (portal/db.py).
    qs = WorkItem.objects.using(replica_for_reads()).filter(kind=kind).select_related("client")
    if band:
        qs = qs.filter(band=band)
    if status:
        qs = qs.filter(status=status)
    if assignee_id is not None:
        qs = qs.filter(data__assignee_id=assignee_id)
    if after is not None:
        # sort_key >= k bounds the index range; the OR then skips the rows already shown.
        qs = qs.filter(sort_key__gte=after[0]).filter(
            Q(sort_key__gt=after[0]) | Q(sort_key=after[0], id__gt=after[1])
        )
    return qs.order_by("sort_key", "id")[:limit]


def work_queue(**filters) -> list[WorkItem]:
    """`work_queue_query(...)`, read."""
    return list(work_queue_query(**filters))


def queue_cursor_parse(raw: str | None) -> QueueCursor | None:
    """`"<sort_key>:<id>"` from a "next page" link; anything else is the first page."""
    key, _, pk = (raw or "").partition(":")
    try:
        return (int(key), int(pk)) if key and pk else None
    except ValueError:
        return None


def queue_cursor_after(items: list[WorkItem], *, limit: int) -> str | None:
    """The "next page" cursor after a full page, else None (the last page)."""
    if len(items) < limit:
        return None
    return f"{items[-1].sort_key}:{items[-1].pk}"


def fleet_numbers(*, band: str = "", limit: int = 500) -> list[WorkItem]:
    """The staff fleet view: numbers of every client, lowest health score first."""
    return work_queue(kind=WorkKind.NUMBER_HEALTH, band=band, limit=limit)
