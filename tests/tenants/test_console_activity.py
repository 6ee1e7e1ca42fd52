"""The activity page: the client's own audit trail (BSP staff entries included), filtered by
who, what and when, exported as CSV with formula-like cells guarded."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from portal.audit.models import AuditLog
from portal.audit.services import audit_record
from tenants.services import staff_appeal_opened_record, staff_entry_record
from tests.factories.appeals import AppealTicketFactory

pytestmark = pytest.mark.django_db


def _row(client, action, actor=None, days_ago=0, after=None):
    row = audit_record(action=action, actor=actor, client=client, after=after)
    AuditLog.objects.filter(pk=row.pk).update(at=timezone.now() - timedelta(days=days_ago))
    return row


def _csv(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_the_trail_shows_staff_entries_in_plain_words_and_never_another_clients_rows(
    web, acme, globex, acme_viewer, staff_appeals, globex_owner, acme_waba
):
    AuditLog.objects.filter(client__in=[acme, globex]).delete()
    staff_entry_record(user=staff_appeals, client=acme)
    with schema_context(acme.schema_name):
        appeal = AppealTicketFactory(account=acme_waba)
        staff_appeal_opened_record(user=staff_appeals, client=acme, appeal=appeal)
    _row(globex, "api_key.created", actor=globex_owner)

    response = web(acme, acme_viewer).get("/settings/activity/")

    assert response.status_code == 200
    rows = list(response.context["page"])
    assert [(r.action, r.label, r.actor_label) for r in rows] == [
        ("appeal.staff_opened", "BSP staff opened your appeal", "appeals@bsp.example"),
        ("client.staff_entry", "BSP staff opened your portal", "appeals@bsp.example"),
    ]
    assert "owner@globex.example" not in response.content.decode()


def test_filters_by_actor_action_and_dates(web, acme, acme_owner, acme_admin):
    AuditLog.objects.filter(client=acme).delete()
    _row(acme, "api_key.created", actor=acme_owner, days_ago=10)
    _row(acme, "api_key.revoked", actor=acme_owner, days_ago=3)
    _row(acme, "membership.removed", actor=acme_admin, days_ago=1)
    http = web(acme, acme_owner)
    today = timezone.localdate()

    def actions(**params):
        return [r.action for r in http.get("/settings/activity/", params).context["page"]]

    assert actions(actor="owner@") == ["api_key.revoked", "api_key.created"]
    assert actions(action="api_key") == ["api_key.revoked", "api_key.created"]
    assert actions(since=str(today - timedelta(days=4))) == [
        "membership.removed",
        "api_key.revoked",
    ]
    assert actions(until=str(today - timedelta(days=2))) == ["api_key.revoked", "api_key.created"]
    assert actions(actor="admin@", since=str(today - timedelta(days=4))) == ["membership.removed"]


def test_an_inverted_date_range_is_a_form_error(web, acme, acme_owner):
    today = timezone.localdate()
    params = {"since": str(today), "until": str(today - timedelta(days=1))}

    page = web(acme, acme_owner).get("/settings/activity/", params)
    export = web(acme, acme_owner).get("/settings/activity.csv", params)

    assert page.status_code == 400
    assert "“From” must be on or before “Until”." in page.content.decode()
    assert export.status_code == 400


def test_the_export_is_filtered_formula_safe_and_only_this_clients(
    web, acme, globex, acme_owner, globex_owner
):
    AuditLog.objects.filter(client__in=[acme, globex]).delete()
    _row(acme, "consent.opt_in", actor='=HYPERLINK("http://evil")', days_ago=1)
    _row(acme, "api_key.created", actor=acme_owner)
    _row(globex, "api_key.created", actor=globex_owner)

    response = web(acme, acme_owner).get("/settings/activity.csv")
    filtered = web(acme, acme_owner).get("/settings/activity.csv", {"action": "consent"})

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="activity-acme-')
    rows = _csv(response)
    assert rows[0] == [
        "at",
        "actor",
        "action",
        "description",
        "object_type",
        "object_id",
        "ip_address",
    ]
    assert [r[1:4] for r in rows[1:]] == [
        ["owner@acme.example", "api_key.created", "API key created"],
        ['\'=HYPERLINK("http://evil")', "consent.opt_in", "Opt-in recorded"],
    ]
    assert [r[2] for r in _csv(filtered)[1:]] == ["consent.opt_in"]


def test_signed_out_and_other_clients_people_cannot_read_it(web, acme, globex_owner, outsider):
    assert web(acme).get("/settings/activity/").status_code == 302
    assert web(acme, globex_owner).get("/settings/activity/").status_code == 403
    assert web(acme, outsider).get("/settings/activity.csv").status_code == 403


def test_the_activity_page_takes_a_fixed_number_of_queries(
    web, acme, acme_owner, django_assert_num_queries
):
    for n in range(60):
        _row(acme, "consent.opt_in", actor=acme_owner, after={"n": n})
    http = web(acme, acme_owner)
    http.get("/settings/activity/")  # warm the host cache

    with django_assert_num_queries(9):
        response = http.get("/settings/activity/", {"page": 2})

    assert response.status_code == 200
