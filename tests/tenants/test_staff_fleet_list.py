"""Staff Fleet health: keyset pages of 50 from the public work index, sort, search, filters
without JavaScript, a link to each number's page on its client host, and a CSV export."""

import csv
import io

import pytest
from django_tenants.utils import schema_context

from compliance.models import PhoneNumber
from compliance.services import account_link, number_reassess
from portal.audit.models import AuditLog
from tenants.models import WorkItem, WorkKind
from tests.people import make_account_manager

pytestmark = pytest.mark.django_db


def _numbers(client, count: int, *, start: int = 0, **data) -> None:
    """`count` rows of the work index as numbers of `client` (score = 40 + n)."""
    WorkItem.objects.bulk_create(
        WorkItem(
            kind=WorkKind.NUMBER_HEALTH,
            client=client,
            object_id=str(start + n),
            title=f"+1 555-02{start + n:02d}",
            subtitle=f"Line {start + n}",
            status="connected",
            band="watch",
            sort_key=40 + start + n,
            data={"quality": "medium", "search": f"155502{start + n:02d}", **data},
        )
        for n in range(count)
    )


@pytest.fixture
def globex_number(globex):
    account = account_link(client=globex, waba_id="1130000001", name="Globex WABA")
    with schema_context(globex.schema_name):
        number = PhoneNumber.objects.create(
            account=account,
            meta_id="2130000001",
            display_phone_number="+49 30 5550077",
            verified_name="Globex Support",
            status="connected",
            quality="medium",
            messaging_limit="tier_2k",
        )
        number_reassess(number=number, client=globex)
    return number


def test_a_number_row_shows_every_column_and_links_to_the_number(web, globex_number, staff_super):
    page = web(None, staff_super).get("/staff/fleet/").content.decode()

    assert "+49 30 5550077" in page
    assert "Globex Support" in page
    assert "1130000001" in page  # the WABA
    assert "tier_2k" in page
    assert f'href="/auth/switch/globex/?next=/numbers/{globex_number.pk}/"' in page


def test_the_number_link_enters_the_client_host_on_the_number_page_audited(
    web, globex, globex_number, staff_manager
):
    make_account_manager(staff_manager, globex)  # a manager enters their own clients only
    public = web(None, staff_manager)
    hop = public.get(f"/auth/switch/globex/?next=/numbers/{globex_number.pk}/")
    assert hop.status_code == 302
    handoff = hop["Location"].split("globex.localhost", 1)[1]
    assert f"next=%2Fnumbers%2F{globex_number.pk}%2F" in handoff

    client_host = web(globex)
    landed = client_host.get(handoff)

    assert landed.status_code == 302
    assert landed["Location"] == f"/numbers/{globex_number.pk}/"
    assert client_host.get(landed["Location"]).status_code == 200
    assert AuditLog.objects.filter(
        action="client.staff_entry", actor=staff_manager, client=globex
    ).exists()


def test_switch_ignores_a_next_that_leaves_the_host(web, globex, staff_manager):
    make_account_manager(staff_manager, globex)
    hop = web(None, staff_manager).get("/auth/switch/globex/?next=//evil.example/")

    assert "next=" not in hop["Location"]


def test_fifty_a_page_keyset_paged_in_one_query(
    web, acme, globex, staff_super, django_assert_num_queries
):
    _numbers(acme, 40)
    _numbers(globex, 30, start=40)
    http = web(None, staff_super)
    http.get("/staff/fleet/")

    with django_assert_num_queries(5):  # search_path, session, user, switcher, the index
        first = http.get("/staff/fleet/")
    next_link = first.context["next_query"]
    with django_assert_num_queries(5):
        second = http.get(f"/staff/fleet/?{next_link}")

    one = [item.sort_key for item in first.context["items"]]
    two = [item.sort_key for item in second.context["items"]]
    assert one == list(range(40, 90))
    assert two == list(range(90, 110))
    assert second.context["next_query"] == ""


@pytest.mark.parametrize(
    ("sort", "expected"),
    [("risk", ["40", "41", "42"]), ("healthiest", ["44", "43", "42"]), ("number", ["40", "41"])],
)
def test_sort_orders_keep_paging(web, acme, staff_super, sort, expected):
    _numbers(acme, 5)
    page = web(None, staff_super).get(f"/staff/fleet/?sort={sort}")

    assert [str(i.sort_key) for i in page.context["items"]][: len(expected)] == expected


def test_sorted_by_client_pages_through_every_row_once(web, acme, globex, staff_super):
    _numbers(acme, 30)
    _numbers(globex, 30, start=30)
    http = web(None, staff_super)

    first = http.get("/staff/fleet/?sort=client")
    second = http.get(f"/staff/fleet/?{first.context['next_query']}")

    names = [i.client.slug for i in first.context["items"] + second.context["items"]]
    ids = [i.object_id for i in first.context["items"] + second.context["items"]]
    assert names == ["acme"] * 30 + ["globex"] * 30
    assert sorted(ids, key=int) == [str(n) for n in range(60)]


def test_search_by_client_number_or_waba(web, acme, globex, staff_super):
    _numbers(acme, 2, waba_id="1140000001")
    _numbers(globex, 2, start=10, waba_id="1140000002")
    http = web(None, staff_super)

    def shown(query):
        return sorted(i.object_id for i in http.get(f"/staff/fleet/?{query}").context["items"])

    assert shown("q=Globex") == ["10", "11"]
    assert shown("q=%2B1+555-0201") == ["1"]  # as written, or only its digits
    assert shown("q=15550210") == ["10"]
    assert shown("q=1140000001") == []  # a WABA id is searched through the data["search"] words
    assert shown("client=acme") == ["0", "1"]


def test_search_finds_a_real_number_by_its_waba(web, globex_number, staff_super):
    page = web(None, staff_super).get("/staff/fleet/?q=1130000001")

    assert [i.title for i in page.context["items"]] == ["+49 30 5550077"]


def test_filters_work_as_a_plain_get_form(web, acme, staff_super):
    _numbers(acme, 3)
    WorkItem.objects.filter(object_id="1").update(band="blocked", status="banned")
    http = web(None, staff_super)

    page = http.get("/staff/fleet/?band=blocked&status=banned&quality=medium")
    html = page.content.decode()

    assert [i.object_id for i in page.context["items"]] == ["1"]
    assert "<noscript>" not in html
    assert "<button>Apply</button>" in html


def test_a_bad_filter_value_is_reported_and_ignored(web, acme, staff_super):
    _numbers(acme, 2)
    page = web(None, staff_super).get("/staff/fleet/?band=purple")

    assert page.status_code == 200
    assert "Some filters were not understood" in page.content.decode()
    assert len(page.context["items"]) == 2


def test_csv_export_has_every_matching_row_and_is_formula_safe(web, acme, globex, staff_super):
    _numbers(acme, 60)
    _numbers(globex, 1, start=60)
    WorkItem.objects.filter(client=globex).update(subtitle="=HYPERLINK(1)")
    http = web(None, staff_super)

    everything = http.get("/staff/fleet/?export=csv")
    only_globex = http.get("/staff/fleet/?export=csv&client=globex")

    rows = list(csv.reader(io.StringIO(b"".join(everything.streaming_content).decode())))
    assert everything["Content-Type"] == "text/csv; charset=utf-8"
    assert rows[0][:4] == ["client", "number", "verified_name", "waba_id"]
    assert len(rows) == 1 + 61
    globex_rows = list(csv.reader(io.StringIO(b"".join(only_globex.streaming_content).decode())))
    assert [row[:3] for row in globex_rows[1:]] == [["globex", "'+1 555-0260", "'=HYPERLINK(1)"]]


@pytest.mark.parametrize("person", ["acme_owner", "globex_owner", "outsider"])
def test_client_users_cannot_list_or_export_the_fleet(web, acme, person, request):
    _numbers(acme, 1)
    http = web(None, request.getfixturevalue(person))

    assert http.get("/staff/fleet/").status_code == 403
    assert http.get("/staff/fleet/?export=csv").status_code == 403


def test_the_fleet_is_not_reachable_from_a_client_host(web, acme, acme_owner):
    assert web(acme, acme_owner).get("/staff/fleet/").status_code == 404


def test_last_confirmed_is_a_machine_readable_time_in_utc_and_how_long_ago(web, acme, staff_super):
    """`<time datetime>` is the time in the portal's zone, ISO 8601 (`|date:"c"`, answered by
    isoformat in `portal.template_dates`); the other cells read the row's data."""
    from datetime import timedelta

    from django.utils import timezone

    confirmed = (timezone.now() - timedelta(hours=3)).replace(microsecond=0)
    berlin = confirmed.astimezone(timezone.get_fixed_timezone(60)).isoformat()
    _numbers(acme, 1, last_confirmed_at=berlin, verification="verified", ban_state="none")
    _numbers(acme, 1, start=1, ban_state="scheduled", reasons=["Quality <low>", "Tier"])

    page = web(None, staff_super).get("/staff/fleet/").content.decode()

    assert f'<time datetime="{confirmed.isoformat()}">3\xa0hours ago</time>' in page
    assert '<td role="cell" data-label="Verification"><span>verified</span></td>' in page
    assert '<td role="cell" data-label="Ban state"><span>none</span></td>' in page
    assert '<span class="badge">scheduled</span>' in page
    assert "<span>Quality &lt;low&gt; Tier</span>" in page
    assert page.count('data-label="Last confirmed"><span>—</span>') == 1
