from tenants.models import Client
from tests.factories import ClientFactory


def test_staff_console_lists_every_client_with_member_counts(web, staff_super):
    response = web(None, staff_super).get("/staff/")

    assert response.status_code == 200
    rows = {c.slug: c.member_count for c in response.context["clients"]}
    assert rows == {"acme": 4, "globex": 2}
    assert b"tenant-template" not in response.content


def test_staff_console_query_count_does_not_grow_with_clients(
    web, staff_manager, django_assert_num_queries
):
    http = web(None, staff_manager)
    http.get("/staff/")  # warm the session
    # search_path, session, user, tenant switcher, the clients themselves
    with django_assert_num_queries(5):
        http.get("/staff/")
    ClientFactory.create_batch(3)
    with django_assert_num_queries(5):
        http.get("/staff/")


def test_staff_console_search_answers_htmx_with_rows_only(web, staff_super):
    response = web(None, staff_super).get("/staff/?q=glob", HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert "<html" not in body
    assert "Globex Logistics" in body
    assert "Acme Retail" not in body


def test_each_client_row_links_to_entering_it_and_to_linking_a_waba(web, staff_super):
    """The links are built from one reverse a page (not a `{% url %}` a row): the same URLs,
    on the full page and in the htmx rows alike."""
    http = web(None, staff_super)
    links = '<a href="/auth/switch/{0}/">Enter</a> · <a href="/staff/clients/{0}/link-waba/">'

    page = http.get("/staff/").content.decode()
    rows = http.get("/staff/?q=glob", HTTP_HX_REQUEST="true").content.decode()

    assert links.format("acme") in page
    assert links.format("globex") in page
    assert links.format("globex") in rows
    assert "__slug__" not in page + rows


def test_a_client_row_shows_its_status_and_creation_day(web, staff_super, acme):
    """The status label made once a row by the view (not get_status_display), the day by the
    portal's date filter, in the portal's time zone."""
    from django.utils.timezone import localtime

    from tenants.models import Client

    Client.objects.filter(pk=acme.pk).update(status="suspended")
    page = web(None, staff_super).get("/staff/").content.decode()

    day = localtime(acme.created_at).strftime("%Y-%m-%d")
    assert '<td><span class="badge suspended">Suspended</span></td>' in page
    assert f"<td>{day}</td>" in page


def test_client_users_cannot_open_the_staff_console(web, acme_owner, outsider):
    assert web(None, acme_owner).get("/staff/").status_code == 403
    assert web(None, outsider).get("/staff/").status_code == 403
    assert web(None).get("/staff/").status_code == 302


def test_staff_creates_a_client_from_the_console(web, staff_manager):
    response = web(None, staff_manager).post(
        "/staff/clients/new/",
        {
            "name": "Stark Industries",
            "slug": "stark",
            "owner_email": "tony@stark.example",
            "default_region": "us",
        },
    )

    assert response.status_code == 302
    client = Client.objects.get(slug="stark")
    assert client.default_region == "US"


def test_client_create_form_shows_errors_and_creates_nothing(web, staff_manager):
    before = Client.objects.count()

    response = web(None, staff_manager).post(
        "/staff/clients/new/",
        {"name": "Dup", "slug": "acme", "owner_email": "not-an-email", "default_region": "USA"},
    )

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "already exists" in errors["slug"][0]
    assert "owner_email" in errors
    assert "default_region" in errors
    assert Client.objects.count() == before


def test_client_users_cannot_create_clients(web, acme_owner):
    response = web(None, acme_owner).post(
        "/staff/clients/new/", {"name": "X", "slug": "xyz", "owner_email": "x@x.example"}
    )

    assert response.status_code == 403
    assert not Client.objects.filter(slug="xyz").exists()


def test_public_home_lists_the_users_clients(web, staff_super):
    response = web(None, staff_super).get("/")

    assert response.status_code == 200
    assert b"Open the staff console" in response.content


def test_staff_console_pages_clients_by_name_without_overlap_at_a_fixed_query_count(
    web, staff_super, monkeypatch, django_assert_num_queries
):
    from tenants import selectors

    monkeypatch.setattr(selectors, "STAFF_CONSOLE_PAGE", 1)
    http = web(None, staff_super)

    first = http.get("/staff/")
    assert [c.slug for c in first.context["clients"]] == ["acme"]
    next_query = first.context["next_query"]
    assert next_query
    assert f'href="?{next_query}"' in first.content.decode()

    with django_assert_num_queries(6):  # the five of a page, plus the cursor's client
        second = http.get(f"/staff/?{next_query}")
    assert [c.slug for c in second.context["clients"]] == ["globex"]
    assert second.context["next_query"] == ""
    assert "← First page" in second.content.decode()

    # A cursor that names no client starts from the first page.
    assert [c.slug for c in http.get("/staff/?after=999999").context["clients"]] == ["acme"]
    assert [c.slug for c in http.get("/staff/?after=x").context["clients"]] == ["acme"]


def test_staff_console_pages_keep_the_search(web, staff_super, monkeypatch):
    from tenants import selectors

    monkeypatch.setattr(selectors, "STAFF_CONSOLE_PAGE", 1)
    ClientFactory(name="Acme Two", slug="acme-two")
    http = web(None, staff_super)

    first = http.get("/staff/?q=acme")
    assert [c.slug for c in first.context["clients"]] == ["acme"]
    assert "q=acme" in first.context["next_query"]
    second = http.get(f"/staff/?{first.context['next_query']}")
    assert [c.slug for c in second.context["clients"]] == ["acme-two"]


def test_a_console_page_walks_the_clients_by_name_counting_members_per_client_shown(
    staff_super,
):
    """Members counted by a subquery per client shown, not grouped over every client, so a
    page reads `client_by_name` and stops after it (1,000 clients: 1.3 -> 0.1 ms)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tenants.selectors import clients_for_staff_console

    with CaptureQueriesContext(connection) as captured:
        rows = clients_for_staff_console(limit=50)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("EXPLAIN " + captured.captured_queries[-1]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())

    # The page's rows come straight off the index (no aggregate over every client above it).
    assert plan.splitlines()[1].strip().startswith("->  Index Scan using client_by_name"), plan
    assert {c.slug: c.member_count for c in rows} == {"acme": 4, "globex": 2}
