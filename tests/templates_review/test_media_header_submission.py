"""Sending a template with a media header: the stored example is uploaded to the simulator with
Resumable Upload and its handle goes to Meta as example.header_handle; without an app id the
send is refused in plain words and nothing reaches Meta."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from templates_review import services
from templates_review.services import Actor, TemplateSendFailed
from tests.factories import MessageTemplateFactory
from tests.templates_review.conftest import approve_and_send

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 300
COMPONENTS = [
    {"type": "HEADER", "format": "IMAGE"},
    {
        "type": "BODY",
        "text": "Hello {{1}}, this is the sofa you ordered from us, arriving soon.",
        "example": {"body_text": [["Ana"]]},
    },
]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _submitted_with_example(user):
    template = MessageTemplateFactory(name="sofa_photo", components=[dict(c) for c in COMPONENTS])
    author = Actor(principal=user, role="agent", label=user.email)
    services.template_header_example_set(
        template=template,
        upload=SimpleUploadedFile("sofa.png", PNG),
        media_type="image/png",
        actor=author,
    )
    template.refresh_from_db()
    services.template_submission_check(template=template, warnings_acknowledged=True)
    return services.template_submit(template=template, actor=author)


def test_the_example_is_uploaded_and_its_handle_sent_with_the_template(
    in_acme, sim, graph, acme_agent, staff_reviewer, settings
):
    settings.META_APP_ID = "100000000000001"
    template = _submitted_with_example(acme_agent)

    approve_and_send(
        template=template,
        actor=Actor(principal=staff_reviewer, role="template_reviewer"),
        graph=graph,
    )

    template.refresh_from_db()
    at_meta = sim.state.templates[template.meta_id]
    handle = at_meta["components"][0]["example"]["header_handle"][0]
    assert sim.state.upload_handles[handle] == {
        "file_name": template.header_example.name.rsplit("/", 1)[-1],
        "file_type": "image/png",
        "bytes": len(PNG),
    }
    assert template.components[0] == {
        "type": "HEADER",
        "format": "IMAGE",
        "example": {"header_handle": [handle]},
    }
    assert template.revisions.get().components[0] == {"type": "HEADER", "format": "IMAGE"}


def test_without_an_app_id_the_send_is_refused_in_plain_words(
    in_acme, sim, graph, acme_agent, staff_reviewer, settings
):
    settings.META_APP_ID = ""
    template = _submitted_with_example(acme_agent)

    with pytest.raises(TemplateSendFailed, match="META_APP_ID"):
        approve_and_send(
            template=template,
            actor=Actor(principal=staff_reviewer, role="template_reviewer"),
            graph=graph,
        )

    template.refresh_from_db()
    assert template.meta_id is None
    assert "META_APP_ID" in template.send_error
    assert sim.state.upload_handles == {}
