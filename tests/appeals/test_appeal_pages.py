"""Client pages and staff pages: what each person may see and do; other clients get nothing."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_tenants.utils import schema_context

from appeals import services
from appeals.models import AppealAttachment, AppealMessage, AppealTicket
from compliance.choices import EventKind, EventSource, Severity
from compliance.services import health_event_record
from tenants.models import WorkItem
from tests.appeals.conftest import move, open_appeal

# The restriction of these tests: placed a day ago, for a week (dates relative to now).
ENDS = (timezone.now() + timedelta(days=6)).replace(minute=0, second=0, microsecond=0)
BLOCKED = ENDS - timedelta(days=7)


@pytest.fixture
def restriction(acme, acme_waba):
    with schema_context(acme.schema_name):
        return health_event_record(
            kind=EventKind.RESTRICTION,
            severity=Severity.CRITICAL,
            title="Account restricted: customer initiated messaging until "
            f"{ENDS:%Y-%m-%d %H:%M} UTC",
            detail="Review the policy.",
            key="page-restriction",
            source=EventSource.WEBHOOK,
            account=acme_waba,
            data={
                "restriction_type": "RESTRICTED_CUSTOMER_INITIATED_MESSAGING",
                "expires_at": ENDS.isoformat(),
            },
        )


def test_the_dashboard_alert_links_to_an_appeal_prefilled_from_it(
    web, acme, acme_owner, restriction
):
    http = web(acme, acme_owner)
    dashboard = http.get("/").content.decode()
    assert f'/appeals/new/?event={restriction.pk}"' in dashboard

    form = http.get(f"/appeals/new/?event={restriction.pk}").content.decode()
    assert "Account restricted: customer initiated messaging" in form
    assert '<option value="messaging_block" selected>' in form
    assert f'value="{ENDS:%Y-%m-%dT%H:%M}"' in form

    response = http.post(
        f"/appeals/new/?event={restriction.pk}",
        {
            "event": restriction.pk,
            "title": "Customer messaging blocked",
            "subject_kind": "waba",
            "account": restriction.account_id,
            "block_type": "messaging_block",
            "blocked_at": f"{BLOCKED:%Y-%m-%dT%H:%M}",
            "block_ends_at": f"{ENDS:%Y-%m-%dT%H:%M}",
            "priority": "high",
            "api_uses": "Support replies.",
            "consent_process": "",
            "improvement_plan": "",
        },
    )
    assert response.status_code == 302
    with schema_context(acme.schema_name):
        ticket = AppealTicket.objects.get()
    assert (ticket.source_event_id, ticket.status, ticket.priority) == (
        restriction.pk,
        "draft",
        "high",
    )
    page = http.get(response["Location"]).content.decode()
    assert "Customer messaging blocked" in page
    # Submitting with answers missing is refused with the reason.
    http.post(f"/appeals/{ticket.pk}/steps/submit/")
    page = http.get(f"/appeals/{ticket.pk}/").content.decode()
    assert "Describe how people opt in before submitting." in page
    with schema_context(acme.schema_name):
        assert AppealTicket.objects.get().status == "draft"


def test_client_answers_upload_and_submit(web, acme, acme_waba, acme_agent):
    ticket = open_appeal(acme, acme_waba, acme_agent, consent_process="")
    http = web(acme, acme_agent)
    http.post(
        f"/appeals/{ticket.pk}/answers/",
        {
            "title": ticket.title,
            "api_uses": "Order updates.",
            "consent_process": "Checkout checkbox naming Acme.",
            "improvement_plan": "Weekly list cleaning.",
            "priority": "normal",
        },
    )
    http.post(
        f"/appeals/{ticket.pk}/messages/",
        {
            "body": "Here is the opt-in page.",
            "file": SimpleUploadedFile("optin.pdf", b"%PDF-1.4 x"),
        },
    )
    http.post(f"/appeals/{ticket.pk}/steps/submit/")
    with schema_context(acme.schema_name):
        ticket.refresh_from_db()
        attachment = AppealAttachment.objects.get()
    assert ticket.status == "submitted"
    assert ticket.consent_process == "Checkout checkbox naming Acme."
    assert attachment.file.name == f"{acme.schema_name}/appeals/{ticket.pk}/optin.pdf"
    download = http.get(f"/appeals/{ticket.pk}/files/{attachment.pk}/")
    assert b"".join(download.streaming_content) == b"%PDF-1.4 x"
    assert WorkItem.objects.filter(client=acme, object_id=str(ticket.pk)).exists()


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("virus.exe", b"MZ...", "Attach a PDF, PNG, JPEG, TXT or CSV file."),
        ("fake.pdf", b"MZ not a pdf", "The file's content is not a PDF file."),
        ("empty.txt", b"", "The submitted file is empty."),
        ("big.txt", b"a" * (1024 * 1024 + 1), "The file is larger than 1 MB."),
    ],
)
def test_uploads_are_checked_for_size_and_type(
    web, settings, acme, acme_waba, acme_owner, name, content, reason
):
    settings.APPEALS_ATTACHMENT_MAX_MB = 1
    ticket = open_appeal(acme, acme_waba, acme_owner)
    http = web(acme, acme_owner)
    response = http.post(
        f"/appeals/{ticket.pk}/messages/",
        {"body": "see file", "file": SimpleUploadedFile(name, content)},
    )
    assert response.status_code == 400
    assert reason.replace("'", "&#x27;") in response.content.decode()
    with schema_context(acme.schema_name):
        assert AppealAttachment.objects.count() == 0
        assert AppealMessage.objects.count() == 0


def test_a_message_posted_with_htmx_answers_with_the_conversation(web, acme, acme_waba, acme_owner):
    ticket = open_appeal(acme, acme_waba, acme_owner)
    http = web(acme, acme_owner)

    response = http.post(
        f"/appeals/{ticket.pk}/messages/", {"body": "Anything else?"}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert body.startswith('<div id="conversation">')
    assert "Anything else?" in body
    empty = http.post(f"/appeals/{ticket.pk}/messages/", {"body": ""}, HTTP_HX_REQUEST="true")
    assert (
        '<p class="form-error" role="alert">This field is required.</p>' in empty.content.decode()
    )
    with schema_context(acme.schema_name):
        assert list(AppealMessage.objects.values_list("body", flat=True)) == ["Anything else?"]


def test_a_viewer_sees_but_cannot_act(web, acme, acme_waba, acme_owner, acme_viewer):
    ticket = open_appeal(acme, acme_waba, acme_owner)
    http = web(acme, acme_viewer)

    page = http.get(f"/appeals/{ticket.pk}/").content.decode()
    assert ticket.title in page
    assert "Submit to the BSP" not in page
    assert http.get("/appeals/new/").status_code == 403
    assert http.post(f"/appeals/{ticket.pk}/steps/submit/").status_code == 403
    assert http.post(f"/appeals/{ticket.pk}/messages/", {"body": "x"}).status_code == 403
    assert http.post(f"/appeals/{ticket.pk}/evidence/").status_code == 403
    with schema_context(acme.schema_name):
        assert (AppealTicket.objects.get().status, AppealMessage.objects.count()) == ("draft", 0)
        assert AppealAttachment.objects.count() == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/appeals/"),
        ("get", "/appeals/new/"),
        ("get", "/appeals/{id}/"),
        ("post", "/appeals/{id}/answers/"),
        ("post", "/appeals/{id}/messages/"),
        ("post", "/appeals/{id}/evidence/"),
        ("get", "/appeals/{id}/thread.csv"),
        ("post", "/appeals/{id}/steps/withdraw/"),
        ("get", "/appeals/{id}/files/1/"),
        ("post", "/appeals/recovery/1/"),
    ],
)
def test_client_pages_refuse_other_clients(
    web, acme, globex, globex_owner, acme_owner, globex_appeal, method, path
):
    url = path.format(id=globex_appeal.pk)
    # Globex's owner on Acme's host: no access at all.
    assert getattr(web(acme, globex_owner), method)(url).status_code == 403
    # Acme's owner cannot reach Globex's appeal through Acme's host (other schema): 404.
    if "{id}" in path:
        assert getattr(web(acme, acme_owner), method)(url).status_code == 404
    with schema_context(globex.schema_name):
        assert AppealTicket.objects.get(pk=globex_appeal.pk).status == "submitted"
        assert AppealMessage.objects.count() == 0


def test_the_list_page_query_count_does_not_grow(
    web, acme, acme_waba, acme_owner, django_assert_num_queries
):
    http = web(acme, acme_owner)
    open_appeal(acme, acme_waba, acme_owner)
    http.get("/appeals/")
    with django_assert_num_queries(7):
        http.get("/appeals/")
    for _ in range(5):
        open_appeal(acme, acme_waba, acme_owner)
    with django_assert_num_queries(7):
        page = http.get("/appeals/").content.decode()
    assert page.count("Messaging blocked for 7 days") == 6


# --- Staff pages ----------------------------------------------------------------------------


def test_staff_work_an_appeal_from_the_inbox(web, acme, acme_waba, acme_owner, staff_appeals):
    ticket = move(open_appeal(acme, acme_waba, acme_owner), acme, [("submit", acme_owner, {})])
    http = web(None, staff_appeals)

    inbox = http.get("/staff/appeals/").content.decode()
    assert f'<a href="/staff/appeals/acme/{ticket.pk}/"><strong>' in inbox
    assert '<span class="badge sla-ok">On time</span> first response by' in inbox
    assert '<td><span class="badge">Submitted</span></td><td>Normal</td>' in inbox
    base = f"/staff/appeals/acme/{ticket.pk}"
    http.post(f"{base}/steps/start_review/")
    http.post(f"{base}/assign/", {"assignee": staff_appeals.pk, "priority": "urgent"})
    http.post(f"{base}/messages/", {"body": "Spam spike last week", "internal": "on"})
    http.post(f"{base}/steps/mark_ready/")
    http.post(f"{base}/steps/submit_to_meta/", {"meta_case_reference": "BSH-42"})
    http.post(f"{base}/steps/record_outcome/", {"outcome": "reversed", "note": ""})
    http.post(f"{base}/steps/start_recovery/")
    with schema_context(acme.schema_name):
        ticket.refresh_from_db()
        notes = list(AppealMessage.objects.filter(internal=True).values_list("body", flat=True))
    assert (ticket.status, ticket.priority, ticket.meta_case_reference, ticket.outcome) == (
        "recovery",
        "urgent",
        "BSH-42",
        "reversed",
    )
    assert notes == ["Spam spike last week"]
    page = http.get(f"{base}/").content.decode()
    assert "Recovery plan" in page
    assert "appeal_" in page  # the apology template draft


def test_staff_without_the_appeals_role_neither_see_nor_act(
    web, acme, acme_waba, acme_owner, staff_reviewer
):
    ticket = move(open_appeal(acme, acme_waba, acme_owner), acme, [("submit", acme_owner, {})])
    http = web(None, staff_reviewer)

    # least privilege (issue 14): a template reviewer reads no appeal threads or internal notes
    assert http.get(f"/staff/appeals/acme/{ticket.pk}/").status_code == 403
    assert http.post(f"/staff/appeals/acme/{ticket.pk}/steps/start_review/").status_code == 403
    assert http.post(f"/staff/appeals/acme/{ticket.pk}/messages/", {"body": "x"}).status_code == 403
    with schema_context(acme.schema_name):
        assert AppealTicket.objects.get(pk=ticket.pk).status == "submitted"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/staff/appeals/"),
        ("get", "/staff/appeals/globex/{id}/"),
        ("post", "/staff/appeals/globex/{id}/steps/withdraw/"),
        ("post", "/staff/appeals/globex/{id}/messages/"),
        ("post", "/staff/appeals/globex/{id}/assign/"),
        ("post", "/staff/appeals/globex/{id}/evidence/"),
        ("get", "/staff/appeals/globex/{id}/files/1/"),
    ],
)
def test_staff_pages_refuse_client_users(web, globex, globex_owner, globex_appeal, method, path):
    url = path.format(id=globex_appeal.pk)
    assert getattr(web(None, globex_owner), method)(url).status_code == 403
    with schema_context(globex.schema_name):
        assert AppealTicket.objects.get(pk=globex_appeal.pk).status == "submitted"


def test_staff_detail_reads_the_appeal_from_the_named_client_only(
    web, acme, globex_appeal, staff_appeals
):
    # Globex's appeal id under Acme's slug: looked up in Acme's schema, so not found.
    assert (
        web(None, staff_appeals).get(f"/staff/appeals/acme/{globex_appeal.pk}/").status_code == 404
    )


def test_the_staff_inbox_is_one_query_whatever_the_number_of_clients(
    web,
    acme,
    globex,
    acme_waba,
    globex_waba,
    acme_owner,
    globex_owner,
    staff_appeals,
    django_assert_num_queries,
):
    http = web(None, staff_appeals)
    move(open_appeal(acme, acme_waba, acme_owner), acme, [("submit", acme_owner, {})])
    http.get("/staff/appeals/")
    # search_path, session, user, the work items with their clients, the tenant switcher
    with django_assert_num_queries(5):
        http.get("/staff/appeals/")
    for _ in range(3):
        move(open_appeal(globex, globex_waba, globex_owner), globex, [("submit", globex_owner, {})])
    with django_assert_num_queries(5):
        page = http.get("/staff/appeals/").content.decode()
    assert page.count("/staff/appeals/globex/") == 3


def test_the_clients_answer_carries_its_file(web, acme, acme_waba, acme_owner, staff_appeals):
    ticket = move(
        open_appeal(acme, acme_waba, acme_owner),
        acme,
        [
            ("submit", acme_owner, {}),
            ("start_review", staff_appeals, {}),
            ("request_info", staff_appeals, {"question": "The opt-in page?"}),
        ],
    )
    response = web(acme, acme_owner).post(
        f"/appeals/{ticket.pk}/steps/answer/",
        {"body": "Attached.", "file": SimpleUploadedFile("optin.png", b"\x89PNG\r\n\x1a\nxx")},
    )

    assert response.status_code == 302
    with schema_context(acme.schema_name):
        answer = AppealMessage.objects.get(side="client")
        assert (answer.body, answer.ticket.status) == ("Attached.", "in_staff_review")
        assert [a.original_name for a in answer.attachments.all()] == ["optin.png"]


def test_the_detail_pages_query_count_does_not_grow_with_the_thread(
    web, acme, acme_waba, acme_owner, staff_appeals, django_assert_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ticket = move(open_appeal(acme, acme_waba, acme_owner), acme, [("submit", acme_owner, {})])
    client_http, staff_http = web(acme, acme_owner), web(None, staff_appeals)
    pages = [
        (client_http, f"/appeals/{ticket.pk}/"),
        (staff_http, f"/staff/appeals/acme/{ticket.pk}/"),
        (client_http, f"/appeals/{ticket.pk}/thread.csv"),
    ]

    def counts():
        result = []
        for http, url in pages:
            with CaptureQueriesContext(connection) as captured:
                assert http.get(url).status_code == 200
            result.append(len(captured))
        return result

    with schema_context(acme.schema_name):  # one message first: its files are one query
        services.appeal_message_post(ticket=ticket, actor=acme_owner, client=acme, body="first")
    counts()
    before = counts()
    with schema_context(acme.schema_name):
        for i in range(4):
            services.appeal_message_post(
                ticket=ticket,
                actor=staff_appeals if i % 2 else acme_owner,
                client=acme,
                body=f"message {i}",
                internal=i == 3,
                upload=SimpleUploadedFile(f"f{i}.txt", b"text"),
            )
    assert counts() == before


def test_staff_reading_an_appeal_is_audited_as_an_entry_into_the_client(
    web, acme, acme_waba, acme_owner, staff_appeals
):
    from portal.audit.models import AuditLog

    ticket = move(open_appeal(acme, acme_waba, acme_owner), acme, [("submit", acme_owner, {})])
    http = web(None, staff_appeals)
    entries = AuditLog.objects.filter(action="client.staff_entry", client=acme)
    before = entries.count()

    http.get(f"/staff/appeals/acme/{ticket.pk}/")
    http.get(f"/staff/appeals/acme/{ticket.pk}/")
    # Once per session, like entering the client's own host.
    assert entries.count() == before + 1
    assert entries.order_by("-id").first().actor_id == staff_appeals.pk


@pytest.mark.parametrize(
    ("days_ago", "warning"),
    [
        (95, "Meta's 90-day appeal deadline has passed: Meta may no longer accept this appeal."),
        (85, "Meta's 90-day appeal deadline is in 5 days."),
        (10, None),
    ],
)
def test_the_pages_warn_when_metas_deadline_is_near_or_past(
    web, acme, acme_waba, acme_owner, staff_appeals, days_ago, warning
):
    from datetime import timedelta

    from django.utils import timezone

    blocked_at = timezone.now() - timedelta(days=days_ago, hours=1)
    ticket = open_appeal(acme, acme_waba, acme_owner, blocked_at=blocked_at)
    ticket = move(ticket, acme, [("submit", acme_owner, {})])
    client_page = web(acme, acme_owner).get(f"/appeals/{ticket.pk}/").content.decode()
    staff_page = web(None, staff_appeals).get(f"/staff/appeals/acme/{ticket.pk}/").content.decode()

    for page in (client_page, staff_page):
        if warning:
            assert warning.replace("'", "&#x27;") in page
        else:
            assert "90-day appeal deadline" not in page


def test_the_staff_inbox_pages_by_sla_keeping_its_filters(web, acme, staff_appeals):
    from appeals.selectors import INBOX_PAGE_SIZE
    from tenants.models import WorkItem, WorkKind

    WorkItem.objects.bulk_create(
        WorkItem(
            kind=WorkKind.APPEAL,
            client=acme,
            object_id=str(n),
            title=f"Appeal {n:03d}",
            status="submitted",
            sort_key=1_900_000_000 + n // 2,  # pairs share a due time: the id breaks the tie
            data={"assignee_id": staff_appeals.pk},
        )
        for n in range(INBOX_PAGE_SIZE + 7)
    )
    http = web(None, staff_appeals)

    first = http.get("/staff/appeals/?status=submitted&mine=1").content.decode()
    assert first.count("/staff/appeals/acme/") == INBOX_PAGE_SIZE
    cursor = first.split("after=")[1].split('"')[0]
    assert "status=submitted&amp;mine=1&amp;after=" in first
    second = http.get(f"/staff/appeals/?status=submitted&mine=1&after={cursor}").content.decode()
    shown = [f"Appeal {n:03d}" in first + second for n in range(INBOX_PAGE_SIZE + 7)]
    assert all(shown)
    assert second.count("/staff/appeals/acme/") == 7
    assert "after=" not in second  # the last page


def test_staff_opening_an_appeal_is_on_the_clients_activity_once_per_session(
    web, acme, acme_waba, acme_owner, staff_appeals
):
    from portal.audit.models import AuditLog

    ticket = move(open_appeal(acme, acme_waba, acme_owner), acme, [("submit", acme_owner, {})])
    http = web(None, staff_appeals)
    for _ in range(2):
        assert http.get(f"/staff/appeals/{acme.slug}/{ticket.pk}/").status_code == 200

    opened = AuditLog.objects.filter(action="appeal.staff_opened", client=acme)
    assert opened.count() == 1
    activity = web(acme, acme_owner).get("/settings/activity/").content.decode()
    assert "BSP staff opened your appeal" in activity
