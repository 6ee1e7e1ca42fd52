"""Staff's internal notes stay with staff: not on the client's page, API, e-mail or export."""

import io
import zipfile

import pytest
from django.core import mail
from django_tenants.utils import schema_context

from appeals import services
from portal.audit.models import AuditLog
from tests.appeals.conftest import move, open_appeal

SECRET = "Client looks like a spammer, check the 131048 spike"


@pytest.fixture
def noted(
    acme, acme_waba, acme_owner, staff_appeals, eager_tasks, django_capture_on_commit_callbacks
):
    ticket = open_appeal(acme, acme_waba, acme_owner)
    ticket = move(ticket, acme, [("submit", acme_owner, {}), ("start_review", staff_appeals, {})])
    mail.outbox.clear()
    with schema_context(acme.schema_name), django_capture_on_commit_callbacks(execute=True):
        services.appeal_message_post(
            ticket=ticket, actor=staff_appeals, client=acme, body=SECRET, internal=True
        )
        services.appeal_message_post(
            ticket=ticket, actor=staff_appeals, client=acme, body="Please send the opt-in page."
        )
    return ticket


def test_not_on_the_client_page(web, acme, acme_owner, noted):
    page = web(acme, acme_owner).get(f"/appeals/{noted.pk}/").content.decode()

    assert "Please send the opt-in page." in page
    assert SECRET not in page
    assert "Internal note" not in page


def test_not_in_the_api(api, acme, acme_owner, noted):
    body = api(acme, user=acme_owner).get(f"/api/v1/appeals/{noted.pk}/messages/").json()

    assert [m["body"] for m in body["results"]] == ["Please send the opt-in page."]
    assert SECRET not in str(api(acme, user=acme_owner).get(f"/api/v1/appeals/{noted.pk}/").json())


def test_not_in_e_mail(noted, acme_owner, acme_admin):
    # The public reply is e-mailed to the client's owners and admins; the note to nobody.
    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].to) == sorted([acme_owner.email, acme_admin.email])
    assert "Please send the opt-in page." in mail.outbox[0].body
    assert all(SECRET not in m.body and SECRET not in m.subject for m in mail.outbox)


def test_not_in_the_conversation_export(web, acme, acme_owner, noted):
    response = web(acme, acme_owner).get(f"/appeals/{noted.pk}/thread.csv")

    text = response.content.decode()
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "Please send the opt-in page." in text
    assert SECRET not in text


def test_not_in_the_evidence_bundle(acme, acme_owner, noted):
    with schema_context(acme.schema_name):
        attachment = services.evidence_bundle_attach(ticket=noted, actor=acme_owner, client=acme)
        content = attachment.file.read()
    with zipfile.ZipFile(io.BytesIO(content)) as bundle:
        texts = [bundle.read(name).decode() for name in bundle.namelist()]
    assert texts
    assert all(SECRET not in text for text in texts)


def test_not_in_the_audit_trail_the_client_can_read(acme, staff_appeals, noted):
    from django.core.files.uploadedfile import SimpleUploadedFile

    with schema_context(acme.schema_name):
        services.appeal_message_post(
            ticket=noted,
            actor=staff_appeals,
            client=acme,
            body="see the file",
            internal=True,
            upload=SimpleUploadedFile("spammer-proof.txt", b"x", "text/plain"),
        )
    rows = AuditLog.objects.filter(client=acme, action="appeal.note_added")
    assert rows.count() == 2
    assert SECRET not in str(rows[0].after)
    # The file of a note is marked internal and its name stays out of the trail.
    files = list(AuditLog.objects.filter(client=acme, action="appeal.file_added"))
    assert [row.after.get("internal") for row in files] == [True]
    assert all("spammer" not in str(row.after) for row in AuditLog.objects.filter(client=acme))


def test_but_staff_see_it(web, acme, staff_appeals, noted):
    page = web(None, staff_appeals).get(f"/staff/appeals/acme/{noted.pk}/").content.decode()

    assert SECRET in page
    assert "Internal note" in page


def test_a_client_cannot_write_an_internal_note(acme, acme_owner, noted):
    from django.core.exceptions import PermissionDenied

    with schema_context(acme.schema_name), pytest.raises(PermissionDenied):
        services.appeal_message_post(
            ticket=noted, actor=acme_owner, client=acme, body="hidden?", internal=True
        )


def test_a_file_on_an_internal_note_is_not_downloadable_by_the_client(
    web, acme, staff_appeals, acme_owner, noted
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    with schema_context(acme.schema_name):
        note = services.appeal_message_post(
            ticket=noted,
            actor=staff_appeals,
            client=acme,
            body="screenshot",
            internal=True,
            upload=SimpleUploadedFile("proof.txt", b"internal proof", "text/plain"),
        )
        file_id = note.attachments.get().pk
    assert web(acme, acme_owner).get(f"/appeals/{noted.pk}/files/{file_id}/").status_code == 404
    staff = web(None, staff_appeals).get(f"/staff/appeals/acme/{noted.pk}/files/{file_id}/")
    assert b"".join(staff.streaming_content) == b"internal proof"


def test_the_export_does_not_carry_spreadsheet_formulas(
    web, acme, acme_owner, staff_appeals, noted
):
    with schema_context(acme.schema_name):
        services.appeal_message_post(
            ticket=noted, actor=staff_appeals, client=acme, body='=HYPERLINK("http://x","y")'
        )
    text = web(acme, acme_owner).get(f"/appeals/{noted.pk}/thread.csv").content.decode()

    assert "'=HYPERLINK(" in text
    assert ',"=HYPERLINK(' not in text


def test_not_in_the_htmx_conversation(web, acme, acme_owner, noted):
    response = web(acme, acme_owner).post(
        f"/appeals/{noted.pk}/messages/", {"body": "Sent it."}, HTTP_HX_REQUEST="true"
    )
    partial = response.content.decode()

    assert "Please send the opt-in page." in partial
    assert "Sent it." in partial
    assert SECRET not in partial


def test_not_in_the_api_list(api, acme, acme_owner, noted):
    listed = api(acme, user=acme_owner).get("/api/v1/appeals/").json()
    assert SECRET not in str(listed)
