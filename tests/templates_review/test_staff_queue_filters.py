"""The staff review queue shows each template as WhatsApp would, filters by client and category
without JavaScript, and exports CSV; all from the public work index, staff only."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.templates_review.conftest import submit

BODY = [
    {"type": "BODY", "text": "Hi {{1}}, *your* order shipped.", "example": {"body_text": [["Ana"]]}}
]


@pytest.fixture
def queued(acme, globex, acme_waba, globex_waba, acme_agent, globex_agent):
    return {
        "acme_marketing": submit(
            acme, acme_agent, name="acme_sale", category="marketing", components=BODY
        ),
        "acme_utility": submit(acme, acme_agent, name="acme_shipped", category="utility"),
        "globex_utility": submit(globex, globex_agent, name="globex_shipped", category="utility"),
    }


def _names(response) -> list[str]:
    return [item.title for item in response.context["items"]]


def test_each_item_shows_the_whatsapp_preview_with_its_examples(web, queued, staff_reviewer):
    page = web(None, staff_reviewer).get("/staff/templates/?client=acme&category=marketing")

    html = page.content.decode()
    assert _names(page) == ["acme_sale"]
    assert 'class="wa-preview"' in html
    assert "Hi Ana, <strong>your</strong> order shipped." in html


def test_each_item_shows_its_changes_one_line_each(web, queued, staff_reviewer):
    html = web(None, staff_reviewer).get("/staff/templates/?client=acme&category=marketing")

    assert '<span data-tag="+">+ name: acme_sale</span>' in html.content.decode()


def test_each_item_posts_its_decisions_to_its_own_urls(web, queued, staff_reviewer):
    html = web(None, staff_reviewer).get("/staff/templates/?client=globex").content.decode()

    base = f"/staff/templates/globex/{queued['globex_utility'].pk}"
    assert f'<form method="post" action="{base}/approve/">' in html
    assert f'<form method="post" action="{base}/request_changes/" class="stack">' in html
    assert f'<button formaction="{base}/reject/">Reject</button>' in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["acme_sale", "acme_shipped", "globex_shipped"]),
        ("client=acme", ["acme_sale", "acme_shipped"]),
        ("client=globex", ["globex_shipped"]),
        ("category=utility", ["acme_shipped", "globex_shipped"]),
        ("client=globex&category=marketing", []),
    ],
)
def test_filters_by_client_and_category(web, queued, staff_reviewer, query, expected):
    page = web(None, staff_reviewer).get(f"/staff/templates/?{query}")

    assert sorted(_names(page)) == expected


def test_a_filtered_page_is_still_one_query_on_the_index(web, queued, staff_reviewer):
    http = web(None, staff_reviewer)
    http.get("/staff/templates/")
    with CaptureQueriesContext(connection) as unfiltered:
        http.get("/staff/templates/")
    with CaptureQueriesContext(connection) as filtered:
        http.get("/staff/templates/?client=acme&category=utility")

    assert len(filtered) == len(unfiltered)
    assert len([q for q in filtered if "tenants_workitem" in q["sql"]]) == 1
    assert not any("c_acme" in q["sql"] or "c_globex" in q["sql"] for q in filtered)


def test_an_unknown_category_is_reported_and_ignored(web, queued, staff_reviewer):
    page = web(None, staff_reviewer).get("/staff/templates/?category=spam")

    assert "Some filters were not understood" in page.content.decode()
    assert len(page.context["items"]) == 3


def test_csv_export_keeps_the_filters(web, queued, staff_reviewer):
    response = web(None, staff_reviewer).get("/staff/templates/?export=csv&category=utility")

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:2] == ["client", "template"]
    assert sorted((r[0], r[1], r[5]) for r in rows[1:]) == [
        ("acme", "acme_shipped", "utility"),
        ("globex", "globex_shipped", "utility"),
    ]


@pytest.mark.parametrize("person", ["acme_owner", "globex_agent", "outsider"])
def test_client_users_cannot_list_or_export_the_queue(web, queued, person, request):
    http = web(None, request.getfixturevalue(person))

    assert http.get("/staff/templates/?client=acme").status_code == 403
    assert http.get("/staff/templates/?export=csv").status_code == 403
