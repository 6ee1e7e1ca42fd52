"""The staff appeals inbox: search (client, title, appeal number), paging that keeps it, and a
CSV export; one query on the public work index, staff only."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tenants.models import WorkItem, WorkKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox(acme, globex):
    WorkItem.objects.bulk_create(
        [
            WorkItem(
                kind=WorkKind.APPEAL, client=acme, object_id="11",
                title="Number +1 555-0100 banned",
                subtitle="Acme WABA", status="submitted", sort_key=1_900_000_001,
            ),
            WorkItem(
                kind=WorkKind.APPEAL, client=acme, object_id="12",
                title="Template order_ready paused",
                subtitle="=cmd|' /C calc'!A0", status="in_staff_review", sort_key=1_900_000_002,
            ),
            WorkItem(
                kind=WorkKind.APPEAL, client=globex, object_id="21", title="Account restricted",
                subtitle="Globex WABA", status="submitted", sort_key=1_900_000_003,
            ),
        ]
    )  # fmt: skip


def _ids(response) -> list[tuple[str, str]]:
    return [(i.client.slug, i.object_id) for i in response.context["items"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [("acme", "11"), ("acme", "12"), ("globex", "21")]),
        ("q=globex", [("globex", "21")]),
        ("q=order_ready", [("acme", "12")]),
        ("q=555-0100", [("acme", "11")]),
        ("q=12", [("acme", "12")]),
        ("q=Acme+WABA&status=submitted", [("acme", "11")]),
        ("q=nothing+like+this", []),
    ],
)
def test_search_and_status_together(web, inbox, staff_appeals, query, expected):
    response = web(None, staff_appeals).get(f"/staff/appeals/?{query}")

    assert _ids(response) == expected


def test_search_is_one_query_on_the_index(web, inbox, staff_appeals):
    http = web(None, staff_appeals)
    http.get("/staff/appeals/")
    with CaptureQueriesContext(connection) as plain:
        http.get("/staff/appeals/")
    with CaptureQueriesContext(connection) as searched:
        page = http.get("/staff/appeals/?q=acme").content.decode()

    assert len(searched) == len(plain)
    assert len([q for q in searched if "tenants_workitem" in q["sql"]]) == 1
    assert not any("c_acme" in q["sql"] or "c_globex" in q["sql"] for q in searched)
    assert 'value="acme"' in page


def test_the_next_page_keeps_the_search(web, acme, staff_appeals):
    from appeals.selectors import INBOX_PAGE_SIZE

    WorkItem.objects.bulk_create(
        WorkItem(
            kind=WorkKind.APPEAL, client=acme, object_id=str(n), title=f"Ban {n}",
            status="submitted", sort_key=1_900_000_000 + n,
        )
        for n in range(INBOX_PAGE_SIZE + 3)
    )  # fmt: skip
    http = web(None, staff_appeals)

    first = http.get("/staff/appeals/?q=Ban")
    second = http.get(f"/staff/appeals/?{first.context['next_query']}")

    assert first.context["next_query"].startswith("q=Ban&after=")
    assert len(second.context["items"]) == 3


def test_csv_export_is_formula_safe_and_keeps_the_search(web, inbox, staff_appeals):
    response = web(None, staff_appeals).get("/staff/appeals/?q=acme&export=csv")

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "client", "appeal", "title", "subject", "status", "priority", "due_at", "clock", "assignee",
    ]  # fmt: skip
    assert [(r[0], r[1], r[3]) for r in rows[1:]] == [
        ("acme", "11", "Acme WABA"),
        ("acme", "12", "'=cmd|' /C calc'!A0"),
    ]


@pytest.mark.parametrize("person", ["acme_owner", "globex_owner", "outsider"])
def test_client_users_cannot_search_or_export_the_inbox(web, inbox, person, request):
    http = web(None, request.getfixturevalue(person))

    assert http.get("/staff/appeals/?q=acme").status_code == 403
    assert http.get("/staff/appeals/?export=csv").status_code == 403
