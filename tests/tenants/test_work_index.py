"""The staff queues read the public work index through its indexes, never a scan of it."""

import pytest
from django.db import connection

from appeals.selectors import staff_inbox
from tenants.models import WorkItem, WorkKind


def plan_of(queryset) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table is scanned otherwise
        return queryset.explain()


@pytest.mark.parametrize(
    ("assignee", "index"),
    [(None, "work_item_queue"), (7, "work_item_assignee_queue")],
)
def test_the_appeals_inbox_and_its_mine_filter_use_an_index(acme, assignee, index):
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
    # On 20 rows the planner may take either index for the mine filter; neither is a scan.
    assert "Seq Scan" not in plan
    assert index in plan or (assignee is not None and "work_item_queue" in plan)
    mine = staff_inbox(assignee_id=assignee)
    assert len(mine) == (10 if assignee else 20)
