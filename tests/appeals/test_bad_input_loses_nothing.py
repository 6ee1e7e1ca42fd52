"""A refused form answers with the reason and keeps what the person typed (pages); nothing is
saved. Files cannot be kept by a browser: the reason asks to choose the file again."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from appeals.models import AppealAttachment, AppealMessage, AppealTicket
from tests.appeals.conftest import move, open_appeal

TYPED = "People tick an unticked box at checkout that names Acme Retail."


def test_the_answers_form_keeps_the_answers_when_refused(web, acme, acme_waba, acme_owner):
    ticket = open_appeal(acme, acme_waba, acme_owner, consent_process="")
    response = web(acme, acme_owner).post(
        f"/appeals/{ticket.pk}/answers/",
        {
            "title": "",
            "api_uses": "Order updates.",
            "consent_process": TYPED,
            "improvement_plan": "Weekly list cleaning.",
            "priority": "normal",
        },
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert TYPED in page
    assert '<p class="field-error">This field is required.</p>' in page
    with schema_context(acme.schema_name):
        assert AppealTicket.objects.get(pk=ticket.pk).consent_process == ""


def test_a_refused_message_keeps_its_text(web, acme, acme_waba, acme_owner):
    ticket = open_appeal(acme, acme_waba, acme_owner)
    http = web(acme, acme_owner)
    bad = {"body": TYPED, "file": SimpleUploadedFile("x.exe", b"MZ")}

    response = http.post(f"/appeals/{ticket.pk}/messages/", bad)
    page = response.content.decode()
    assert response.status_code == 400
    assert TYPED in page
    assert "Attach a PDF, PNG, JPEG, TXT or CSV file. Choose the file again." in page

    bad["file"] = SimpleUploadedFile("x.exe", b"MZ")
    partial = http.post(f"/appeals/{ticket.pk}/messages/", bad, HTTP_HX_REQUEST="true")
    assert TYPED in partial.content.decode()
    with schema_context(acme.schema_name):
        assert (AppealMessage.objects.count(), AppealAttachment.objects.count()) == (0, 0)


def test_a_refused_answer_keeps_its_text(web, acme, acme_waba, acme_owner, staff_appeals):
    ticket = move(
        open_appeal(acme, acme_waba, acme_owner),
        acme,
        [
            ("submit", acme_owner, {}),
            ("start_review", staff_appeals, {}),
            ("request_info", staff_appeals, {"question": "Which page?"}),
        ],
    )
    response = web(acme, acme_owner).post(
        f"/appeals/{ticket.pk}/steps/answer/",
        {"body": TYPED, "file": SimpleUploadedFile("fake.pdf", b"not a pdf")},
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert TYPED in page
    assert "The file&#x27;s content is not a PDF file. Choose the file again." in page
    with schema_context(acme.schema_name):
        assert AppealTicket.objects.get(pk=ticket.pk).status == "waiting_on_client"
        assert AppealMessage.objects.filter(side="client").count() == 0


def test_staff_keep_their_text_when_a_message_or_question_is_refused(
    web, acme, acme_waba, acme_owner, staff_appeals
):
    ticket = move(
        open_appeal(acme, acme_waba, acme_owner),
        acme,
        [("submit", acme_owner, {}), ("start_review", staff_appeals, {})],
    )
    http = web(None, staff_appeals)
    base = f"/staff/appeals/acme/{ticket.pk}"

    response = http.post(
        f"{base}/messages/",
        {"body": TYPED, "internal": "on", "file": SimpleUploadedFile("a.png", b"not png")},
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert TYPED in page
    assert "The file&#x27;s content is not a PNG file. Choose the file again." in page
    assert "Write a message." not in page

    # A question for a step that no longer applies keeps its text too.
    move(ticket, acme, [("mark_ready", staff_appeals, {})])
    response = http.post(f"{base}/steps/request_info/", {"body": TYPED})
    assert response.status_code == 400
    assert TYPED in response.content.decode()
    with schema_context(acme.schema_name):
        assert AppealMessage.objects.count() == 0
        assert AppealTicket.objects.get(pk=ticket.pk).status == "ready_for_meta"
