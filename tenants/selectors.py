"""Reads that decide who may see what. Every check of tenant access goes through here."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce

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


def tenant_access_for(
    *, user: User, client: Client, memberships: list[Membership] | None = None
) -> TenantAccess | None:
    """The user's access to `client`, or None. Members first; staff may enter any client.
    `memberships`: the user's `clients_for_user`, when the caller has read them already (the
    access middleware does, for the page's tenant switcher): the role is found there instead of
    asked for. That list holds active clients only; an inactive client's role is no access
    either way."""
    if not user.is_authenticated or not user.is_active or client.is_template or client.is_public:
        return None
    if memberships is None:
        role = (
            Membership.objects.filter(user=user, client=client)
            .values_list("role", flat=True)
            .first()
        )
    else:
        role = next((m.role for m in memberships if m.client_id == client.pk), None)
    if role is not None and client.status == ClientStatus.ACTIVE:
        return TenantAccess(client=client, role=ClientRole(role), is_staff_entry=False)
    if user.is_staff and _staff_may_enter(user, client):
        return TenantAccess(client=client, role=None, is_staff_entry=True)
    return None


def _staff_may_enter(user: User, client: Client) -> bool:
    from tenants.actors import Actor
    from tenants.permissions import Area

    return Actor.staff(user).may(Area.CLIENT_ENTRY, client=client)


def clients_routable() -> QuerySet[Client]:
    return Client.objects.exclude(schema_name="public").filter(is_template=False)


def clients_for_user(*, user: User) -> list[Membership]:
    """The tenant switcher: the active clients this user is a member of, with their role."""
    return list(
        Membership.objects.filter(user=user, client__status=ClientStatus.ACTIVE)
        .select_related("client")
        .order_by("client__name")
    )


STAFF_CONSOLE_PAGE = 50


def clients_for_staff_console(
    *,
    search: str = "",
    managed_by: int | None = None,
    after: tuple[str, int] | None = None,
    limit: int | None = None,
) -> list[Client]:
    """Clients by name with their member counts, a page at a time, in one query (no
    per-client queries): keyset-paged after the (name, id) of the last one shown, so a
    BSP with thousands of clients renders one page. With `managed_by`, that account
    manager's clients only (`Actor.list_manager_id`). Returns up to `limit` + 1 rows: the
    extra one says there is a next page."""
    limit = limit or STAFF_CONSOLE_PAGE
    # Counted per client shown (a subquery), not joined and grouped over every client: the
    # page then walks the clients by name (index `client_by_name`) and stops after a page.
    members = (
        Membership.objects.filter(client=OuterRef("pk"))
        .order_by()
        .values("client")
        .annotate(n=Count("pk"))
        .values("n")
    )
    qs = clients_routable().annotate(member_count=Coalesce(Subquery(members), 0))
    if managed_by is not None:
        qs = qs.filter(account_manager_id=managed_by)
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(slug__icontains=search))
    if after is not None:
        name, pk = after
        qs = qs.filter(Q(name__gt=name) | Q(name=name, pk__gt=pk))
    return list(qs.order_by("name", "pk")[: limit + 1])


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


@dataclass(frozen=True)
class QueueSort:
    """An order a staff list can be shown in: a WorkItem field (or `expression`), then id."""

    key: str  # as it appears in the URL (?sort=)
    label: str
    field: str
    descending: bool = False
    numeric: bool = False
    expression: object | None = None  # annotated as `field` when set


BY_SORT_KEY = QueueSort("risk", "Riskiest first", "sort_key", numeric=True)


# What the staff lists and their exports read of a row and its client: the client's other
# columns (dates, storage, region...) were a fifth of reading a page of rows.
QUEUE_COLUMNS = (
    "kind", "client__name", "client__slug", "object_id", "title", "subtitle", "status", "band",
    "sort_key", "data",
)  # fmt: skip


def work_queue_query(
    *,
    kind: str,
    after: QueueCursor | tuple | None = None,
    limit: int | None,
    band: str = "",
    status: str = "",
    assignee_id: int | None = None,
    client_slug: str = "",
    search: str = "",
    data: dict[str, str] | None = None,
    sort: QueueSort = BY_SORT_KEY,
    managed_by: int | None = None,
) -> QuerySet[WorkItem]:
    """One page of a staff queue from the public work index, lowest `sort_key` first (the
    riskiest number, the longest wait, the nearest SLA) or in `sort`'s order: one query
    whatever the number of clients, and keyset paging, so a deep page costs what the first
    does. `search` matches the client's name or slug, the title and subtitle, the tenant-side
    id, and the item's `data["search"]` words (a number's digits, its WABA id); `data` filters
    on `data` keys; `managed_by` keeps that account manager's clients only (the staff member's
    `Actor.list_manager_id`: least privilege, in the same one query).
    `limit=None` reads every matching row (CSV exports)."""
    # The staff queues read the replica when it is current enough (portal/db.py).
    qs = (
        WorkItem.objects.using(replica_for_reads())
        .filter(kind=kind)
        .select_related("client")
        .only(*QUEUE_COLUMNS)
    )
    if band:
        qs = qs.filter(band=band)
    if status:
        qs = qs.filter(status=status)
    if assignee_id is not None:
        qs = qs.filter(data__assignee_id=assignee_id)
    if client_slug:
        qs = qs.filter(client__slug=client_slug)
    if managed_by is not None:
        qs = qs.filter(client__account_manager_id=managed_by)
    for key, value in (data or {}).items():
        if value:
            qs = qs.filter(**{f"data__{key}": value})
    if search:
        digits = "".join(ch for ch in search if ch.isdigit())
        match = (
            Q(client__name__icontains=search)
            | Q(client__slug__icontains=search)
            | Q(title__icontains=search)
            | Q(subtitle__icontains=search)
            | Q(data__search__icontains=search)
            | Q(object_id=search)  # a ticket or template number
        )
        if digits and digits != search:
            match |= Q(data__search__icontains=digits)
        qs = qs.filter(match)
    if sort.expression is not None:
        qs = qs.annotate(**{sort.field: sort.expression})
    if after is not None:
        value, pk = after
        beyond = "lt" if sort.descending else "gt"
        if sort is BY_SORT_KEY:
            # sort_key >= k bounds the index range; the OR then skips the rows already shown.
            qs = qs.filter(sort_key__gte=value)
        qs = qs.filter(
            Q(**{f"{sort.field}__{beyond}": value}) | Q(**{sort.field: value, f"id__{beyond}": pk})
        )
    prefix = "-" if sort.descending else ""
    qs = qs.order_by(f"{prefix}{sort.field}", f"{prefix}id")
    return qs if limit is None else qs[:limit]


def list_cursor_parse(raw: str | None, sort: QueueSort) -> tuple | None:
    """`"<value>:<id>"` from a "next page" link in `sort`'s order; anything else: page one."""
    value, _, pk = (raw or "").rpartition(":")
    try:
        return ((int(value) if sort.numeric else value), int(pk)) if pk else None
    except ValueError:
        return None


def list_cursor_after(items: list, *, sort: QueueSort, limit: int) -> str | None:
    """The "next page" cursor after a full page in `sort`'s order, else None."""
    if len(items) < limit:
        return None
    return f"{getattr(items[-1], sort.field)}:{items[-1].pk}"


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


FLEET_PAGE_SIZE = 50
FLEET_SORTS = {
    sort.key: sort
    for sort in (
        BY_SORT_KEY,
        QueueSort("healthiest", "Healthiest first", "sort_key", descending=True, numeric=True),
        QueueSort("client", "Client, A to Z", "client_name", expression=F("client__name")),
        QueueSort("number", "Number", "title"),
        QueueSort(
            "confirmed",
            "Confirmed by Meta longest ago",
            "confirmed",
            expression=Coalesce(KT("data__last_confirmed_at"), Value("")),
        ),
    )
}


def fleet_numbers(
    *,
    band: str = "",
    status: str = "",
    quality: str = "",
    client_slug: str = "",
    search: str = "",
    sort: str = "risk",
    after: tuple | None = None,
    limit: int | None = FLEET_PAGE_SIZE,
    managed_by: int | None = None,
) -> QuerySet[WorkItem]:
    """The staff fleet view: numbers of every client (or of `managed_by`'s) from the public
    work index (one query, keyset-paged), riskiest first unless another of FLEET_SORTS is
    chosen."""
    return work_queue_query(
        kind=WorkKind.NUMBER_HEALTH,
        band=band,
        status=status,
        data={"quality": quality},
        client_slug=client_slug,
        search=search,
        sort=FLEET_SORTS.get(sort, BY_SORT_KEY),
        after=after,
        limit=limit,
        managed_by=managed_by,
    )
