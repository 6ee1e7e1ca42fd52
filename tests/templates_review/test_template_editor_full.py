"""The full template editor: every header kind (with a stored example file for media), named
and positional parameters with examples, every button kind as rows, the authentication
category with Meta's fixed body, code expiry and OTP buttons; the submission check (lint
errors block, warnings need "I have read the warnings"); tenants and roles."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import schema_context

from portal.audit.models import AuditLog
from templates_review.choices import ReviewState
from templates_review.forms import components_from_fields, fields_from_revision
from templates_review.linter import lint_template
from templates_review.models import MessageTemplate
from tests.factories import MessageTemplateFactory

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"\x00" * 64
BASE = {
    "name": "sofa_delivery",
    "language": "en_US",
    "category": "UTILITY",
    "parameter_format": "positional",
    "body": "Hello {{1}}, your sofa arrives on {{2}} between nine and noon. Thank you.",
    "examples": "Ana\nMonday",
}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def buttons(*rows: dict) -> dict:
    data = {"buttons-TOTAL_FORMS": str(len(rows)), "buttons-INITIAL_FORMS": "0"}
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"buttons-{i}-{key}"] = value
    return data


def in_schema(client, fn):
    with schema_context(client.schema_name):
        return fn()


# --- fields to components and back ----------------------------------------------------------


def test_every_non_authentication_part_becomes_metas_components():
    data = {
        **BASE,
        "parameter_format": "named",
        "header_format": "TEXT",
        "header_text": "Hi {{first_name}}",
        "header_example": "first_name=Ana",
        "body": "Your order {{order_id}} ships on {{ship_date}} from our warehouse. Thanks.",
        "examples": "order_id=A-1\nship_date=Monday",
        "footer": "Reply STOP to opt out",
        **buttons(
            {"type": "QUICK_REPLY", "text": "Track"},
            {"type": "QUICK_REPLY", "text": "Stop"},
            {
                "type": "URL",
                "text": "Open",
                "url": "https://acme.example/o/{{1}}",
                "example": "https://acme.example/o/A-1",
            },
            {"type": "URL", "text": "Shop", "url": "https://acme.example/"},
            {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+14155550100"},
            {"type": "COPY_CODE", "example": "SAVE10"},
            {"type": "", "text": "ignored blank row"},
        ),
    }

    assert components_from_fields(data) == [
        {
            "type": "HEADER",
            "format": "TEXT",
            "text": "Hi {{first_name}}",
            "example": {
                "header_text_named_params": [{"param_name": "first_name", "example": "Ana"}]
            },
        },
        {
            "type": "BODY",
            "text": data["body"],
            "example": {
                "body_text_named_params": [
                    {"param_name": "order_id", "example": "A-1"},
                    {"param_name": "ship_date", "example": "Monday"},
                ]
            },
        },
        {"type": "FOOTER", "text": "Reply STOP to opt out"},
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "QUICK_REPLY", "text": "Track"},
                {"type": "QUICK_REPLY", "text": "Stop"},
                {
                    "type": "URL",
                    "text": "Open",
                    "url": "https://acme.example/o/{{1}}",
                    "example": ["https://acme.example/o/A-1"],
                },
                {"type": "URL", "text": "Shop", "url": "https://acme.example/"},
                {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+14155550100"},
                {"type": "COPY_CODE", "example": "SAVE10"},
            ],
        },
    ]


def test_the_authentication_category_takes_metas_body_expiry_and_a_one_tap_button():
    data = {
        **BASE,
        "category": "AUTHENTICATION",
        "auth_security": "on",
        "auth_expiry": "10",
        "otp_type": "ONE_TAP",
        "otp_text": "Copy code",
        "otp_autofill": "Autofill",
        "otp_package": "com.acme.app",
        "otp_signature": "K8a/AINcGX7",
    }

    components = components_from_fields(data)

    assert components == [
        {"type": "BODY", "add_security_recommendation": True},
        {"type": "FOOTER", "code_expiration_minutes": 10},
        {
            "type": "BUTTONS",
            "buttons": [
                {
                    "type": "OTP",
                    "otp_type": "ONE_TAP",
                    "text": "Copy code",
                    "autofill_text": "Autofill",
                    "supported_apps": [
                        {"package_name": "com.acme.app", "signature_hash": "K8a/AINcGX7"}
                    ],
                }
            ],
        },
    ]
    assert (
        lint_template(
            name="login_code", language="en_US", category="AUTHENTICATION", components=components
        )
        == []
    )


@pytest.mark.parametrize(
    "components",
    [
        [
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::x:y"]}},
            {
                "type": "BODY",
                "text": "See {{1}} here for the pictures, please.",
                "example": {"body_text": [["Ana"]]},
            },
            {
                "type": "BUTTONS",
                "buttons": [{"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+1415"}],
            },
        ],
        [
            {"type": "BODY", "add_security_recommendation": False},
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "OTP",
                        "otp_type": "ZERO_TAP",
                        "text": "Copy code",
                        "autofill_text": "Autofill",
                        "supported_apps": [
                            {"package_name": "com.a.b", "signature_hash": "K8a/AINcGX7"}
                        ],
                        "zero_tap_terms_accepted": True,
                    }
                ],
            },
        ],
    ],
    ids=["image_header_and_phone", "zero_tap"],
)
def test_fields_from_a_revision_give_the_same_components_back(components):
    category = (
        "AUTHENTICATION"
        if components[0].get("add_security_recommendation") is not None
        else "UTILITY"
    )

    class Revision:
        name, language, parameter_format = "t", "en_US", "positional"

    Revision.category = category
    Revision.components = components

    assert components_from_fields(fields_from_revision(Revision)) == components


# --- the linter's OTP and expiry rules ------------------------------------------------------


def _codes(components, category="AUTHENTICATION"):
    return [
        f.code
        for f in lint_template(name="t", language="en_US", category=category, components=components)
        if f.severity == "error"
    ]


@pytest.mark.parametrize(
    ("button", "footer", "expected"),
    [
        ({"type": "OTP", "otp_type": "SMS"}, None, ["otp.type"]),
        ({"type": "OTP", "otp_type": "ONE_TAP", "text": "Copy"}, None, ["otp.app_missing"]),
        (
            {
                "type": "OTP",
                "otp_type": "ONE_TAP",
                "text": "Copy",
                "supported_apps": [{"package_name": "acme", "signature_hash": "short"}],
            },
            None,
            ["otp.package_invalid", "otp.signature_invalid"],
        ),
        (
            {
                "type": "OTP",
                "otp_type": "ZERO_TAP",
                "text": "Copy",
                "supported_apps": [{"package_name": "com.a.b", "signature_hash": "K8a/AINcGX7"}],
            },
            None,
            ["otp.zero_tap_terms"],
        ),
        (
            {"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy", "autofill_text": "A" * 26},
            None,
            ["otp.autofill_too_long"],
        ),
        ({"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy"}, 91, ["auth.code_expiration"]),
        ({"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy"}, 0, ["auth.code_expiration"]),
        ({"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy"}, 90, []),
    ],
)
def test_otp_buttons_and_the_code_expiry_follow_metas_rules(button, footer, expected):
    components = [{"type": "BODY", "add_security_recommendation": True}]
    if footer is not None:
        components.append({"type": "FOOTER", "code_expiration_minutes": footer})
    components.append({"type": "BUTTONS", "buttons": [button]})

    assert _codes(components) == expected


def test_otp_buttons_are_for_authentication_only_and_auth_has_no_header():
    otp = {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "C"}]}
    body = {"type": "BODY", "text": "Your order ships today from our warehouse, thank you."}

    assert _codes([body, otp], category="UTILITY") == ["otp.category"]
    assert _codes(
        [
            {"type": "HEADER", "format": "TEXT", "text": "Code"},
            {"type": "BODY", "add_security_recommendation": True},
            otp,
        ]
    ) == ["auth.header_not_allowed"]


def test_a_stored_example_file_stands_for_the_handle_of_a_draft():
    components = [
        {"type": "HEADER", "format": "DOCUMENT"},
        {"type": "BODY", "text": "Your invoice is attached to this message, thank you."},
    ]

    assert _codes(components, category="UTILITY") == ["header.handle_missing"]
    assert (
        lint_template(
            name="t",
            language="en_US",
            category="UTILITY",
            components=components,
            header_example_stored=True,
        )
        == []
    )


# --- the editor page -------------------------------------------------------------------------


def test_an_image_header_with_its_example_file_is_saved_with_the_draft(
    web, acme, acme_waba, acme_agent
):
    response = web(acme, acme_agent).post(
        "/templates/new/",
        {
            **BASE,
            "header_format": "IMAGE",
            "header_file": SimpleUploadedFile("sofa.png", PNG, content_type="image/png"),
            **buttons({"type": "QUICK_REPLY", "text": "Thanks"}),
        },
    )

    assert response.status_code == 302
    template = in_schema(acme, lambda: MessageTemplate.objects.get(name="sofa_delivery"))
    assert template.components[0] == {"type": "HEADER", "format": "IMAGE"}
    assert template.components[-1] == {
        "type": "BUTTONS",
        "buttons": [{"type": "QUICK_REPLY", "text": "Thanks"}],
    }
    assert template.header_example_type == "image/png"
    with template.header_example.open("rb") as stored:
        assert stored.read() == PNG
    assert template.header_example.name.startswith(f"template-examples/{acme.schema_name}/")
    assert AuditLog.objects.filter(action="template.header_example_set", client=acme).count() == 1
    detail = web(acme, acme_agent).get(f"/templates/{template.pk}/")
    assert 'data-code="header.handle_missing"' not in detail.content.decode()


def test_an_example_of_the_wrong_kind_is_a_form_error_and_nothing_is_saved(
    web, acme, acme_waba, acme_agent
):
    response = web(acme, acme_agent).post(
        "/templates/new/",
        {
            **BASE,
            "header_format": "IMAGE",
            "header_file": SimpleUploadedFile("sofa.png", PDF, content_type="image/png"),
        },
    )

    assert response.status_code == 400
    assert response.context["form"].errors == {
        "header_file": [
            "A image header needs a JPEG or PNG image as its example; this file is not one."
        ]
    }
    assert not in_schema(acme, lambda: MessageTemplate.objects.exists())


def test_add_a_button_adds_a_row_and_saves_nothing(web, acme, acme_waba, acme_agent):
    response = web(acme, acme_agent).post(
        "/templates/new/",
        {**BASE, **buttons({"type": "QUICK_REPLY", "text": "Yes"}), "add_button": "1"},
    )

    assert response.status_code == 200
    assert response.context["buttons"].total_form_count() == 2
    assert 'name="buttons-1-type"' in response.content.decode()
    assert not in_schema(acme, lambda: MessageTemplate.objects.exists())


def test_changing_a_media_header_to_text_drops_the_stored_example(web, acme, acme_waba, acme_agent):
    http = web(acme, acme_agent)
    http.post(
        "/templates/new/",
        {**BASE, "header_format": "DOCUMENT", "header_file": SimpleUploadedFile("i.pdf", PDF)},
    )
    template = in_schema(acme, lambda: MessageTemplate.objects.get(name="sofa_delivery"))
    assert template.header_example_type == "application/pdf"

    http.post(
        f"/templates/{template.pk}/edit/",
        {**BASE, "header_format": "TEXT", "header_text": "Your sofa"},
    )

    template = in_schema(acme, lambda: MessageTemplate.objects.get(pk=template.pk))
    assert not template.header_example
    assert template.components[0] == {"type": "HEADER", "format": "TEXT", "text": "Your sofa"}


def test_another_clients_member_cannot_edit_or_upload_here(
    web, acme, acme_waba, globex, globex_owner
):
    template = in_schema(acme, lambda: MessageTemplateFactory(name="acme_only"))

    response = web(globex, globex_owner).post(
        f"/templates/{template.pk}/edit/",
        {**BASE, "header_format": "IMAGE", "header_file": SimpleUploadedFile("a.png", PNG)},
    )

    assert response.status_code == 404
    after = in_schema(acme, lambda: MessageTemplate.objects.get(pk=template.pk))
    assert (after.revision_count, bool(after.header_example)) == (1, False)


# --- submitting: errors block, warnings need acknowledging ----------------------------------


def test_lint_errors_block_submitting(web, acme, acme_waba, acme_agent):
    template = in_schema(
        acme,
        lambda: MessageTemplateFactory(
            name="broken", components=[{"type": "BODY", "text": "{{1}}"}]
        ),
    )
    http = web(acme, acme_agent)

    page = http.get(f"/templates/{template.pk}/").content.decode()
    response = http.post(f"/templates/{template.pk}/submit/", {"warnings_read": "1"}, follow=True)

    assert "Fix the errors below to submit." in page
    assert "Fix the 4 errors the checks found before submitting" in response.content.decode()
    state = in_schema(acme, lambda: MessageTemplate.objects.get(pk=template.pk).review_state)
    assert state == ReviewState.DRAFT


def test_warnings_need_i_have_read_the_warnings(web, acme, acme_waba, acme_agent):
    body = {"type": "BODY", "text": "Big news: our spring catalogue is out now, have a look."}
    template = in_schema(
        acme, lambda: MessageTemplateFactory(name="spring", category="marketing", components=[body])
    )
    http = web(acme, acme_agent)

    page = http.get(f"/templates/{template.pk}/").content.decode()
    refused = http.post(f"/templates/{template.pk}/submit/", follow=True)
    state = in_schema(acme, lambda: MessageTemplate.objects.get(pk=template.pk).review_state)
    assert "I have read the warnings" in page
    assert "tick “I have read the warnings”" in refused.content.decode()
    assert state == ReviewState.DRAFT

    http.post(f"/templates/{template.pk}/submit/", {"warnings_read": "1"})

    state = in_schema(acme, lambda: MessageTemplate.objects.get(pk=template.pk).review_state)
    assert state == ReviewState.SUBMITTED
