"""Other clients' files and recovery items are out of reach even where ids coincide; every POST
(client pages, staff pages, the API with a session) needs the CSRF token."""

import pytest
from django.core.files.base import ContentFile
from django.test import Client as HttpClient
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from appeals import services
from appeals.models import AppealAttachment, AppealMessage, AppealTicket, RecoveryItem
from tests.appeals.conftest import move, open_appeal
from tests.conftest import host_of
from tests.factories.appeals import RecoveryItemFactory


def _file(client, ticket, content, name="proof.txt"):
    with schema_context(client.schema_name):
        return services.attachment_add(
            ticket=ticket,
            actor=ticket.created_by,
            client=client,
            upload=_upload(name, content),
        )


def _upload(name, content):
    upload = ContentFile(content, name=name)
    upload.size = len(content)
    return upload


@pytest.fixture
def twins(acme, globex, acme_waba, globex_waba, acme_owner, globex_owner):
    """An appeal with a file in each client, with the same ids in both schemas."""
    g_ticket = open_appeal(globex, globex_waba, globex_owner)
    g_file = _file(globex, g_ticket, b"globex secret")
    with schema_context(acme.schema_name):
        AppealTicket.objects.filter(pk=g_ticket.pk).delete()
    a_ticket = open_appeal(acme, acme_waba, acme_owner)
    with schema_context(acme.schema_name):
        AppealTicket.objects.filter(pk=a_ticket.pk).update(id=g_ticket.pk)
        a_ticket = AppealTicket.objects.get(pk=g_ticket.pk)
    a_file = _file(acme, a_ticket, b"acme own file")
    with schema_context(acme.schema_name):
        AppealAttachment.objects.filter(pk=a_file.pk).update(id=g_file.pk)
    return g_ticket.pk, g_file.pk


def test_the_same_ids_reach_only_this_clients_file(web, acme, acme_owner, staff_appeals, twins):
    ticket_id, file_id = twins
    client_side = web(acme, acme_owner).get(f"/appeals/{ticket_id}/files/{file_id}/")
    staff_side = web(None, staff_appeals).get(f"/staff/appeals/acme/{ticket_id}/files/{file_id}/")

    assert b"".join(client_side.streaming_content) == b"acme own file"
    assert b"".join(staff_side.streaming_content) == b"acme own file"
    with schema_context(acme.schema_name):
        assert AppealAttachment.objects.get(pk=file_id).file.name.startswith(
            f"{acme.schema_name}/appeals/"
        )


def test_another_clients_file_is_not_found(
    web, acme, globex, globex_waba, globex_owner, acme_owner, staff_appeals
):
    g_ticket = open_appeal(globex, globex_waba, globex_owner)
    g_file = _file(globex, g_ticket, b"globex secret")
    with schema_context(acme.schema_name):
        assert not AppealTicket.objects.filter(pk=g_ticket.pk).exists()

    assert (
        web(acme, acme_owner).get(f"/appeals/{g_ticket.pk}/files/{g_file.pk}/").status_code == 404
    )
    staff = web(None, staff_appeals).get(f"/staff/appeals/acme/{g_ticket.pk}/files/{g_file.pk}/")
    assert staff.status_code == 404


def test_another_clients_recovery_item_cannot_be_ticked(
    web, acme, globex, globex_waba, acme_owner, globex_owner, staff_appeals
):
    ticket = move(
        open_appeal(globex, globex_waba, globex_owner),
        globex,
        [
            ("submit", globex_owner, {}),
            ("start_review", staff_appeals, {}),
            ("mark_ready", staff_appeals, {}),
            ("submit_to_meta", staff_appeals, {"meta_case_reference": "BSH-1"}),
            ("record_outcome", staff_appeals, {"outcome": "reversed"}),
            ("start_recovery", globex_owner, {}),
        ],
    )
    with schema_context(globex.schema_name):
        item = RecoveryItem.objects.filter(ticket=ticket).first()
    with schema_context(acme.schema_name):
        assert not RecoveryItem.objects.filter(pk=item.pk).exists()

    response = web(acme, acme_owner).post(f"/appeals/recovery/{item.pk}/", {"done": "1"})
    assert response.status_code == 404
    with schema_context(globex.schema_name):
        assert RecoveryItem.objects.get(pk=item.pk).done_at is None


CLIENT_POSTS = [
    "/appeals/new/",
    "/appeals/{id}/answers/",
    "/appeals/{id}/messages/",
    "/appeals/{id}/evidence/",
    "/appeals/{id}/steps/submit/",
    "/appeals/recovery/{item}/",
]
STAFF_POSTS = [
    "/staff/appeals/acme/{id}/steps/start_review/",
    "/staff/appeals/acme/{id}/messages/",
    "/staff/appeals/acme/{id}/assign/",
    "/staff/appeals/acme/{id}/evidence/",
]
API_POSTS = [
    "/api/v1/appeals/",
    "/api/v1/appeals/{id}/messages/",
    "/api/v1/appeals/{id}/transitions/",
]


def _counts(acme):
    with schema_context(acme.schema_name):
        return (
            list(AppealTicket.objects.values_list("status", flat=True)),
            AppealMessage.objects.count(),
            AppealAttachment.objects.count(),
            RecoveryItem.objects.filter(done_at__isnull=False).count(),
        )


@pytest.mark.parametrize("path", CLIENT_POSTS + STAFF_POSTS + API_POSTS)
def test_every_post_needs_the_csrf_token(acme, acme_waba, acme_owner, staff_appeals, path):
    ticket = open_appeal(acme, acme_waba, acme_owner)
    with schema_context(acme.schema_name):
        item = RecoveryItemFactory(ticket=ticket)
    staff = path.startswith("/staff/")
    cls = APIClient if path.startswith("/api/") else HttpClient
    http = cls(enforce_csrf_checks=True, HTTP_HOST=host_of(None if staff else acme))
    http.force_login(staff_appeals if staff else acme_owner)
    before = _counts(acme)

    response = http.post(
        path.format(id=ticket.pk, item=item.pk),
        {"body": "x", "action": "submit", "done": "1", "priority": "urgent", "title": "x"},
    )

    assert response.status_code == 403
    assert _counts(acme) == before
