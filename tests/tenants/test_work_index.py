"""The staff queues read the public work index through its indexes, never a scan of it."""

import pytest
from django.db import connection

from appeals.selectors import staff_inbox
from tenants.models import WorkItem, WorkKind


def plan_of(queryset) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table is scanned otherwise
        return queryset.explain()


def work_index_indexes() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s", [WorkItem._meta.db_table]
        )
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.parametrize("assignee", [None, 7])
def test_the_appeals_inbox_and_its_mine_filter_use_an_index(acme, assignee):
    WorkItem.objects.bulk_create(
        WorkItem(
            kind=WorkKind.APPEAL,
            client=acme,
            object_id=str(n),
            title=f"Appeal {n}",
            sort_key=n,
            data={"assignee_id": 7 if n % 2 else None},
        )
        for n in range(20)
    )
    queryset = WorkItem.objects.filter(kind=WorkKind.APPEAL).order_by("sort_key", "id")
    if assignee is not None:
        queryset = queryset.filter(data__assignee_id=assignee)

    plan = plan_of(queryset[:100])
    # Which of the work index's indexes the planner takes on 20 rows depends on the statistics
    # the rest of the suite left behind; what must hold is that it takes one and scans nothing.
    assert "Seq Scan" not in plan
    assert any(name in plan for name in work_index_indexes() - {"tenants_workitem_pkey"}), plan
    mine = staff_inbox(assignee_id=assignee)
    assert len(mine) == (10 if assignee else 20)


def test_fleet_health_by_client_walks_the_clients_by_name(acme, globex):
    """Searched and sorted by client, every number may match (a country code): walking the
    clients by name and stopping after a page beats sorting every match."""
    from tenants.selectors import fleet_numbers

    WorkItem.objects.bulk_create(
        WorkItem(
            kind=WorkKind.NUMBER_HEALTH,
            client=client,
            object_id=str(n),
            title=f"+1 555-01{n:02d}",
            sort_key=n,
        )
        for client in (acme, globex)
        for n in range(10)
    )

    with connection.cursor() as cursor:
        # On twenty rows a full sort is cheapest; what must hold is that the walk is possible.
        cursor.execute("SET LOCAL enable_sort = off")
    plan = plan_of(fleet_numbers(search="555", sort="client"))

    assert "client_by_name" in plan, plan
    assert [i.client.slug for i in fleet_numbers(search="555", sort="client")] == (
        ["acme"] * 10 + ["globex"] * 10
    )
