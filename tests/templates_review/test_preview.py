from __future__ import annotations

from django.template.loader import render_to_string

from templates_review.preview import Preview, PreviewButton, render_preview, whatsapp_html

ORDER_TEMPLATE = [
    {
        "type": "HEADER",
        "format": "TEXT",
        "text": "Order {{1}}",
        "example": {"header_text": ["A-1"]},
    },
    {
        "type": "BODY",
        "text": "Hi {{1}}, your order *{{2}}* arrives on {{3}}.",
        "example": {"body_text": [["Ana", "A-1", "Monday"]]},
    },
    {"type": "FOOTER", "text": "Acme Retail"},
    {
        "type": "BUTTONS",
        "buttons": [
            {"type": "URL", "text": "Track", "url": "https://acme.example/t/{{1}}"},
            {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+15550100"},
            {"type": "QUICK_REPLY", "text": "Thanks"},
        ],
    },
]


def test_positional_examples_fill_header_and_body():
    preview = render_preview(components=ORDER_TEMPLATE)

    assert preview == Preview(
        header_text="Order A-1",
        header_media=None,
        body="Hi Ana, your order *A-1* arrives on Monday.",
        footer="Acme Retail",
        buttons=(
            PreviewButton("Track", "url"),
            PreviewButton("Call us", "phone"),
            PreviewButton("Thanks", "quick_reply"),
        ),
    )
    assert preview.shown_buttons == preview.buttons
    assert preview.has_more_buttons is False


def test_named_examples_fill_the_body():
    preview = render_preview(
        components=[
            {
                "type": "BODY",
                "text": "Hello {{first_name}}, table for {{party_size}}.",
                "example": {
                    "body_text_named_params": [
                        {"param_name": "first_name", "example": "Ana"},
                        {"param_name": "party_size", "example": "4"},
                    ]
                },
            }
        ],
        parameter_format="named",
    )

    assert preview.body == "Hello Ana, table for 4."


def test_a_parameter_without_example_stays_visible():
    preview = render_preview(
        components=[
            {"type": "BODY", "text": "Hi {{1}}, order {{2}}.", "example": {"body_text": [["Ana"]]}}
        ]
    )

    assert preview.body == "Hi Ana, order {{2}}."


def test_media_header_shows_its_kind():
    preview = render_preview(
        components=[{"type": "HEADER", "format": "document"}, {"type": "BODY", "text": "Invoice"}]
    )

    assert (preview.header_media, preview.header_media_label, preview.header_text) == (
        "DOCUMENT",
        "Document",
        None,
    )


def test_authentication_template_shows_metas_text():
    preview = render_preview(
        components=[
            {"type": "BODY", "add_security_recommendation": True},
            {"type": "FOOTER", "code_expiration_minutes": 10},
            {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]},
        ]
    )

    assert preview.body == (
        "*123456* is your verification code.\nFor your security, do not share this code."
    )
    assert preview.footer == "This code expires in 10 minutes."
    assert preview.buttons == (PreviewButton("Copy code", "copy_code"),)


def test_more_than_three_buttons_show_two_and_see_all_options():
    quick = [{"type": "QUICK_REPLY", "text": f"Option {i}"} for i in range(4)]
    preview = render_preview(
        components=[{"type": "BODY", "text": "Pick"}, {"type": "BUTTONS", "buttons": quick}]
    )

    assert [b.label for b in preview.shown_buttons] == ["Option 0", "Option 1"]
    assert preview.has_more_buttons is True


def test_whatsapp_formatting_is_rendered_after_escaping():
    html = whatsapp_html("*Bold* _it_ ~gone~ ```x = 1```\n<script>alert(1)</script> 2*3*4")

    assert html == (
        "<strong>Bold</strong> <em>it</em> <s>gone</s> <code>x = 1</code><br>"
        "&lt;script&gt;alert(1)&lt;/script&gt; 2*3*4"
    )


def test_malformed_components_give_an_empty_preview():
    preview = render_preview(components=["BODY", {"type": 3}, {"type": "BUTTONS", "buttons": "x"}])

    assert preview == Preview(None, None, "", None, ())


def test_partial_renders_a_chat_bubble():
    preview = render_preview(components=ORDER_TEMPLATE)

    html = render_to_string("templates_review/partials/preview.html", {"preview": preview})

    assert '<p class="wa-header">Order A-1</p>' in html
    assert (
        '<p class="wa-body">Hi Ana, your order <strong>A-1</strong> arrives on Monday.</p>' in html
    )
    assert '<p class="wa-footer">Acme Retail</p>' in html
    assert html.count('class="wa-button ') == 3
    assert "See all options" not in html
    assert "style=" not in html


def test_partial_escapes_example_values_and_shows_media_and_more_buttons():
    preview = render_preview(
        components=[
            {"type": "HEADER", "format": "IMAGE"},
            {"type": "BODY", "text": "Hi {{1}}!", "example": {"body_text": [["<b>Ana</b>"]]}},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "<i>x</i>"}] * 4},
        ]
    )

    html = render_to_string("templates_review/partials/preview.html", {"preview": preview})

    assert '<div class="wa-media wa-media-image"><span>Image</span></div>' in html
    assert "Hi &lt;b&gt;Ana&lt;/b&gt;!" in html
    assert "&lt;i&gt;x&lt;/i&gt;" in html
    assert html.count('class="wa-button ') == 3  # two buttons and "See all options"
    assert "See all options" in html
