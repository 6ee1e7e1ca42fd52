"""Resumable Upload through GraphClient against the simulator: a session, the bytes, the handle;
templates with media headers are created with a handle the simulator issued, and refused
with one it never issued, as Meta does."""

from __future__ import annotations

import pytest

from portal.meta.errors import MetaError
from portal.meta.types import TemplateCategory, TemplateStatus
from tests.meta.conftest import WABA

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
BODY = {"type": "BODY", "text": "Hello {{1}}, here is the photo of your new sofa. Enjoy it."}


def test_upload_returns_a_handle_and_the_simulator_keeps_the_file(sim, client):
    handle = client.upload_file(
        app_id="100000000000001", file_name="sofa.png", file_type="image/png", data=PNG
    )

    assert handle.startswith("4::")
    assert sim.state.upload_handles[handle] == {
        "file_name": "sofa.png",
        "file_type": "image/png",
        "bytes": len(PNG),
    }
    paths = [(r["method"], r["path"].split("?")[0]) for r in sim.state.request_log]
    assert paths[-2][1].endswith("/100000000000001/uploads")
    assert paths[-1][1].split("/")[-1].startswith("upload:")


def test_a_media_header_with_an_issued_handle_is_created(sim, client):
    handle = client.upload_file(app_id="1", file_name="a.png", file_type="image/png", data=PNG)

    created = client.create_template(
        WABA,
        name="sofa_photo",
        language="en_US",
        category=TemplateCategory.UTILITY,
        components=[
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": [handle]}},
            BODY,
        ],
    )

    assert created.status is TemplateStatus.PENDING


@pytest.mark.parametrize("example", [{}, {"header_handle": ["4::bm90:made-up"]}])
def test_a_media_header_without_an_issued_handle_is_refused(sim, client, example):
    with pytest.raises(MetaError) as refused:
        client.create_template(
            WABA,
            name="sofa_photo",
            language="en_US",
            category=TemplateCategory.UTILITY,
            components=[{"type": "HEADER", "format": "IMAGE", "example": example}, BODY],
        )

    assert (refused.value.code, refused.value.subcode) == (100, 2388047)


def test_an_upload_of_a_type_meta_does_not_take_is_refused(sim, client):
    with pytest.raises(MetaError) as refused:
        client.upload_file(
            app_id="1", file_name="a.exe", file_type="application/x-msdownload", data=b"MZ"
        )

    assert refused.value.code == 100


def test_an_authentication_template_without_body_text_is_created(sim, client):
    created = client.create_template(
        WABA,
        name="login_code",
        language="en_US",
        category=TemplateCategory.AUTHENTICATION,
        components=[
            {"type": "BODY", "add_security_recommendation": True},
            {"type": "FOOTER", "code_expiration_minutes": 10},
            {
                "type": "BUTTONS",
                "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}],
            },
        ],
    )

    assert created.category is TemplateCategory.AUTHENTICATION
