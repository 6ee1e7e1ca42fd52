"""Least privilege on the staff lists: an account manager's client list, Fleet health, template
review queue and appeals inbox (and their CSV exports) show their own clients only; superusers
and the area's own role see every client. Each list stays one query on the work index."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tenants.models import WorkItem, WorkKind
from tests.people import make_account_manager

pytestmark = pytest.mark.django_db

# The staff lists read from the work index: (page, kind of item).
LISTS = {
    "fleet": ("/staff/fleet/", WorkKind.NUMBER_HEALTH),
    "template_queue": ("/staff/templates/", WorkKind.TEMPLATE_REVIEW),
    "appeals": ("/staff/appeals/", WorkKind.APPEAL),
}
# Who sees every client on each list besides superusers: the area's own role.
AREA_ROLE = {"fleet": None, "template_queue": "staff_reviewer", "appeals": "staff_appeals"}


@pytest.fixture
def work(acme, globex, staff_manager):
    """One item of each kind for acme (the manager's client) and globex (someone else's)."""
    make_account_manager(staff_manager, acme)
    WorkItem.objects.bulk_create(
        WorkItem(
            kind=kind,
            client=client,
            object_id=str(n),
            title=f"{client.slug} item {n}",
            status="submitted",
            band="watch",
            sort_key=1_000 + n,
            data={"category": "marketing", "quality": "medium"},
        )
        for n, (kind, client) in enumerate(
            (kind, client) for _, kind in LISTS.values() for client in (acme, globex)
        )
    )


def _slugs(response) -> list[str]:
    return [item.client.slug for item in response.context["items"]]


def _csv_slugs(response) -> list[str]:
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    return [row[0] for row in rows[1:]]


def _work_index_queries(queries) -> int:
    return sum('"tenants_workitem"' in q["sql"] for q in queries)


@pytest.mark.parametrize("area", list(LISTS))
def test_an_account_manager_lists_their_own_clients_only(web, work, staff_manager, area):
    http = web(None, staff_manager)
    page, _ = LISTS[area]

    with CaptureQueriesContext(connection) as queries:
        response = http.get(page)
    # counted before the next request, which empties the query log
    work_index_queries = _work_index_queries(queries.captured_queries)
    export = http.get(f"{page}?export=csv")

    assert response.status_code == 200
    assert _slugs(response) == ["acme"]
    assert work_index_queries == 1
    assert _csv_slugs(export) == ["acme"]


@pytest.mark.parametrize("area", list(LISTS))
def test_superusers_and_the_areas_own_role_list_every_client(web, request, work, area):
    page, _ = LISTS[area]
    people = ["staff_super"] + ([AREA_ROLE[area]] if AREA_ROLE[area] else [])
    for person in people:
        http = web(None, request.getfixturevalue(person))

        assert sorted(_slugs(http.get(page))) == ["acme", "globex"], person
        assert sorted(_csv_slugs(http.get(f"{page}?export=csv"))) == ["acme", "globex"], person


def test_an_account_managers_client_list_shows_their_own_clients(web, work, staff_manager):
    response = web(None, staff_manager).get("/staff/")
    searched = web(None, staff_manager).get("/staff/?q=globex", HTTP_HX_REQUEST="true")

    assert [c.slug for c in response.context["clients"]] == ["acme"]
    assert list(searched.context["clients"]) == []


def test_a_superuser_lists_every_client(web, work, staff_super):
    response = web(None, staff_super).get("/staff/")

    assert {"acme", "globex"} <= {c.slug for c in response.context["clients"]}
