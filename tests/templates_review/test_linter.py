"""The linter table: each case is a minimal template and the exact codes it must produce.

Limits are tested on both sides (at the limit passes, one over fails). Codes are compared as a
sorted list, so a rule that fires twice shows up as two entries.
"""

from __future__ import annotations

import pytest

from templates_review.linter import Finding, Severity, lint_template

GOOD_BODY_TEXT = "Hi {{1}}, your order {{2}} has shipped and arrives on Monday."


def body(text: str = GOOD_BODY_TEXT, *values: str) -> dict:
    if text == GOOD_BODY_TEXT and not values:
        values = ("Ana", "A-1")
    component: dict = {"type": "BODY", "text": text}
    if values:
        component["example"] = {"body_text": [list(values)]}
    return component


def named_body(text: str, **examples: str) -> dict:
    pairs = [{"param_name": k, "example": v} for k, v in examples.items()]
    return {"type": "BODY", "text": text, "example": {"body_text_named_params": pairs}}


def header(text: str, *values: str) -> dict:
    component: dict = {"type": "HEADER", "format": "TEXT", "text": text}
    if values:
        component["example"] = {"header_text": list(values)}
    return component


def media_header(fmt: str, handle: bool = True) -> dict:
    component: dict = {"type": "HEADER", "format": fmt}
    if handle:
        component["example"] = {"header_handle": ["4::aW1hZ2UvanBlZw==:ARb..."]}
    return component


def footer(text: str) -> dict:
    return {"type": "FOOTER", "text": text}


def buttons(*items: dict) -> dict:
    return {"type": "BUTTONS", "buttons": list(items)}


def quick(label: str = "Yes") -> dict:
    return {"type": "QUICK_REPLY", "text": label}


def url(address: str = "https://acme.example/orders", label: str = "Track", **extra) -> dict:
    return {"type": "URL", "text": label, "url": address, **extra}


def phone(number: str = "+15550100200", label: str = "Call us") -> dict:
    return {"type": "PHONE_NUMBER", "text": label, "phone_number": number}


def copy_code(example: str = "SAVE10") -> dict:
    return {"type": "COPY_CODE", "example": example}


OTP = {"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}
AUTH_BODY = {"type": "BODY", "add_security_recommendation": True}
AUTH_FOOTER = {"type": "FOOTER", "code_expiration_minutes": 10}
OPT_OUT = footer("Reply STOP to unsubscribe")
TRACK_URL = url("https://acme.example/track/{{1}}", example=["https://acme.example/track/A-1"])


def case(case_id: str, expected: list[str], components: list[dict], **fields) -> pytest.param:
    template = {
        "name": "order_update",
        "language": "en_US",
        "category": "UTILITY",
        "parameter_format": "positional",
        **fields,
        "components": components,
    }
    return pytest.param(template, sorted(expected), id=case_id)


CASES = [
    # --- clean templates: no findings at all ---
    case(
        "clean_utility_full",
        [],
        [
            header("Your order {{1}}", "A-1"),
            body(),
            footer("Acme Retail"),
            buttons(TRACK_URL, phone()),
        ],
    ),
    case(
        "clean_marketing_with_opt_out_footer",
        [],
        [body("Our spring collection is here: 20% off everything until Sunday."), OPT_OUT],
        category="MARKETING",
    ),
    case(
        "clean_authentication",
        [],
        [AUTH_BODY, AUTH_FOOTER, buttons(OTP)],
        category="AUTHENTICATION",
        name="login_code",
    ),
    case(
        "clean_authentication_with_text_and_copy_code",
        [],
        [body("{{1}} is your verification code.", "123456"), buttons(copy_code("123456"))],
        category="AUTHENTICATION",
    ),
    case(
        "clean_named_parameters",
        [],
        [
            named_body(
                "Hello {{first_name}}, your table for {{party_size}} is booked. See you soon.",
                first_name="Ana",
                party_size="4",
            )
        ],
        parameter_format="named",
    ),
    case("clean_image_header", [], [media_header("IMAGE"), body("Your receipt is attached.")]),
    case(
        "clean_location_header_in_utility",
        [],
        [media_header("LOCATION", handle=False), body("Your parcel is ready at this shop.")],
    ),
    case("category_and_format_are_case_insensitive", [], [body()], category="utility"),
    case("named_format_token_case_insensitive", [], [body("Thanks!")], parameter_format="NAMED"),
    # --- name ---
    case("name_at_512_chars", [], [body()], name="a" * 512),
    case("name_513_chars", ["name.too_long"], [body()], name="a" * 513),
    case("name_with_capitals", ["name.format"], [body()], name="Order_Update"),
    case("name_with_spaces_and_dash", ["name.format"], [body()], name="order update-2"),
    case("name_empty", ["name.missing"], [body()], name=""),
    # --- language ---
    case("language_two_letters", [], [body()], language="en"),
    case("language_with_region", [], [body()], language="pt_BR"),
    case("language_with_hyphen", ["language.format"], [body()], language="en-US"),
    case("language_a_word", ["language.format"], [body()], language="english"),
    case("language_missing", ["language.missing"], [body()], language=""),
    # --- category and parameter format ---
    case("category_unknown", ["category.unknown"], [body()], category="PROMOTION"),
    case("parameter_format_unknown", ["parameter_format.unknown"], [body()], parameter_format="x"),
    # --- structure ---
    case("body_missing", ["body.missing"], [footer("Acme")]),
    case("body_without_text", ["body.text_missing"], [{"type": "BODY", "text": "  "}]),
    case("two_bodies", ["components.duplicate"], [body(), body()]),
    case(
        "two_headers",
        ["components.duplicate"],
        [header("Hello"), header("Again"), body()],
    ),
    case("unknown_component_type", ["components.unknown_type"], [body(), {"type": "CAROUSEL"}]),
    # --- header ---
    case("header_text_at_60", [], [header("h" * 60), body()]),
    case("header_text_61", ["header.too_long"], [header("h" * 61), body()]),
    case("header_one_parameter", [], [header("Order {{1}} shipped", "A-1"), body()]),
    case(
        "header_two_parameters",
        ["header.too_many_params"],
        [header("Order {{1}} for {{2}}", "A-1", "Ana"), body()],
    ),
    case(
        "header_parameter_without_example", ["param.example_missing"], [header("Hi {{1}}"), body()]
    ),
    case(
        "header_media_without_handle",
        ["header.handle_missing"],
        [media_header("VIDEO", False), body()],
    ),
    case("header_unknown_format", ["header.format_unknown"], [media_header("AUDIO"), body()]),
    case("header_text_empty", ["header.text_missing"], [header(""), body()]),
    # --- body and footer limits ---
    case("body_at_1024", [], [body("x" * 1024)]),
    case("body_1025", ["body.too_long"], [body("x" * 1025)]),
    case("footer_at_60", [], [body(), footer("f" * 60)]),
    case("footer_61", ["footer.too_long"], [body(), footer("f" * 61)]),
    case("footer_with_parameter", ["footer.params_not_allowed"], [body(), footer("Hi {{1}}")]),
    case("footer_without_text", ["footer.text_missing"], [body(), {"type": "FOOTER"}]),
    # --- parameter placement, sequence, ratio ---
    case(
        "param_dangling_start",
        ["param.dangling_start"],
        [body("{{1}}, your order has shipped and arrives on Monday.", "Ana")],
    ),
    case(
        "param_dangling_end",
        ["param.dangling_end"],
        [body("Your order has shipped and will arrive on {{1}}", "Monday")],
    ),
    case(
        "param_trailing_whitespace_still_dangling",
        ["param.dangling_end"],
        [body("Your order has shipped and will arrive on {{1}}  \n", "Monday")],
    ),
    case(
        "param_adjacent_without_space",
        ["param.adjacent"],
        [body("Dear customer, we delivered {{1}}{{2}} to your door today.", "a", "b")],
    ),
    case(
        "param_adjacent_with_space_only",
        ["param.adjacent"],
        [body("Dear customer, we delivered {{1}} {{2}} to your door today.", "a", "b")],
    ),
    case(
        "param_sequence_gap",
        ["param.sequence"],
        [body("Hi {{1}}, your order {{3}} has shipped and arrives today.", "Ana", "A-1")],
    ),
    case(
        "param_sequence_starts_at_2",
        ["param.sequence"],
        [body("Hi {{2}}, your order has shipped and arrives today.", "Ana")],
    ),
    case(
        "param_ratio_exactly_enough_words",
        [],
        [
            body(
                "Hello {{1}}, your order {{2}} for {{3}} will be delivered by {{4}} today.",
                *"abcd",
            )
        ],
    ),
    case(
        "param_ratio_one_word_short",
        ["param.ratio"],
        [body("Hello {{1}}, your order {{2}} for {{3}} will be delivered by {{4}}.", *"abcd")],
    ),
    case(
        "param_ratio_skipped_for_japanese",
        [],
        [body("ご注文{{1}}は発送されました。", "A-1")],
        language="ja",
    ),
    case(
        "param_braces_unclosed",
        ["param.braces"],
        [body("Hi {{1}, your order has shipped and arrives today.")],
    ),
    case(
        "param_single_braces",
        ["param.braces"],
        [body("Hi {1}, your order has shipped and arrives today.")],
    ),
    case(
        "param_special_characters",
        ["param.special_chars"],
        [body("Hi there, you owe {{$amount}} for order {{1}} this week.", "A-1")],
    ),
    case(
        "param_named_in_positional_template",
        ["param.format_mismatch"],
        [named_body("Hello {{first_name}}, your order has shipped today.", first_name="Ana")],
    ),
    case(
        "param_positional_in_named_template",
        ["param.format_mismatch"],
        [body("Hello {{1}}, your order has shipped today.", "Ana")],
        parameter_format="named",
    ),
    case(
        "param_mixed_kinds",
        ["param.mixed"],
        [named_body("Hello {{first_name}}, your order {{1}} has shipped today.", first_name="A")],
        parameter_format="named",
    ),
    case(
        "param_named_with_capitals",
        ["param.name_format"],
        [named_body("Hello {{First_Name}}, your order has shipped today.", First_Name="Ana")],
        parameter_format="named",
    ),
    case(
        "param_named_duplicate_examples",
        ["param.duplicate_name"],
        [
            {
                "type": "BODY",
                "text": "Hello {{first_name}}, your order has shipped today.",
                "example": {
                    "body_text_named_params": [
                        {"param_name": "first_name", "example": "Ana"},
                        {"param_name": "first_name", "example": "Bo"},
                    ]
                },
            }
        ],
        parameter_format="named",
    ),
    case(
        "param_named_example_missing",
        ["param.example_missing"],
        [named_body("Hello {{first_name}}, your order {{order_id}} has shipped.", first_name="A")],
        parameter_format="named",
    ),
    case(
        "param_named_example_unused",
        ["param.example_mismatch"],
        [named_body("Hello {{first_name}}, your order has shipped.", first_name="A", city="B")],
        parameter_format="named",
    ),
    case(
        "param_positional_examples_missing",
        ["param.example_missing"],
        [{"type": "BODY", "text": GOOD_BODY_TEXT}],
    ),
    case(
        "param_positional_example_empty",
        ["param.example_missing"],
        [body(GOOD_BODY_TEXT, "Ana", " ")],
    ),
    case(
        "param_positional_too_many_examples",
        ["param.example_mismatch"],
        [body(GOOD_BODY_TEXT, "Ana", "A-1", "extra")],
    ),
    # --- buttons: counts and types ---
    case(
        "buttons_ten_quick_replies",
        ["buttons.desktop_hidden"],
        [body(), buttons(*[quick(f"Option {i}") for i in range(10)])],
    ),
    case(
        "buttons_eleven_quick_replies",
        ["buttons.too_many", "buttons.desktop_hidden"],
        [body(), buttons(*[quick(f"Option {i}") for i in range(11)])],
    ),
    case("buttons_two_urls", [], [body(), buttons(url(), url(label="Shop"))]),
    case("buttons_three_urls", ["buttons.too_many_url"], [body(), buttons(url(), url(), url())]),
    case("buttons_one_phone", [], [body(), buttons(phone())]),
    case(
        "buttons_two_phones", ["buttons.too_many_phone_number"], [body(), buttons(phone(), phone())]
    ),
    case("buttons_one_copy_code", [], [body(), buttons(copy_code())]),
    case(
        "buttons_two_copy_codes",
        ["buttons.too_many_copy_code"],
        [body(), buttons(copy_code(), copy_code())],
    ),
    case("buttons_empty", ["buttons.empty"], [body(), buttons()]),
    case(
        "buttons_quick_replies_first",
        ["buttons.desktop_hidden"],
        [body(), buttons(quick("Yes"), quick("No"), url())],
    ),
    case(
        "buttons_quick_replies_last",
        ["buttons.desktop_hidden"],
        [body(), buttons(url(), quick("Yes"), quick("No"))],
    ),
    case(
        "buttons_quick_replies_split",
        ["buttons.quick_reply_grouping", "buttons.desktop_hidden"],
        [body(), buttons(quick("Yes"), url(), quick("No"))],
    ),
    case(
        "buttons_quick_replies_in_the_middle",
        ["buttons.quick_reply_grouping", "buttons.desktop_hidden"],
        [body(), buttons(url(), quick("Yes"), phone())],
    ),
    case("buttons_unknown_type", ["buttons.unknown_type"], [body(), buttons({"type": "LINK"})]),
    # --- buttons: fields ---
    case("button_label_at_25", [], [body(), buttons(quick("l" * 25))]),
    case("button_label_26", ["buttons.label_too_long"], [body(), buttons(quick("l" * 26))]),
    case("button_label_missing", ["buttons.label_missing"], [body(), buttons(quick(""))]),
    case(
        "url_at_2000",
        [],
        [body(), buttons(url("https://acme.example/" + "a" * (2000 - 21)))],
    ),
    case(
        "url_2001",
        ["url.too_long"],
        [body(), buttons(url("https://acme.example/" + "a" * (2001 - 21)))],
    ),
    case(
        "url_two_variables",
        ["url.too_many_variables"],
        [body(), buttons(url("https://acme.example/{{1}}/{{2}}", example=["https://a/b/c"]))],
    ),
    case(
        "url_variable_not_at_end",
        ["url.variable_not_at_end"],
        [body(), buttons(url("https://acme.example/{{1}}/track", example=["https://a/1/track"]))],
    ),
    case(
        "url_variable_without_example",
        ["url.example_missing"],
        [body(), buttons(url("https://acme.example/track/{{1}}"))],
    ),
    case("url_not_http", ["url.invalid"], [body(), buttons(url("acme.example/orders"))]),
    case("url_missing", ["url.missing"], [body(), buttons(url(""))]),
    case("phone_at_20", [], [body(), buttons(phone("+" + "1" * 19))]),
    case("phone_21", ["phone.too_long"], [body(), buttons(phone("+" + "1" * 20))]),
    case("phone_missing", ["phone.missing"], [body(), buttons(phone(""))]),
    case("copy_code_example_at_15", [], [body(), buttons(copy_code("C" * 15))]),
    case(
        "copy_code_example_16",
        ["copy_code.example_too_long"],
        [body(), buttons(copy_code("C" * 16))],
    ),
    case(
        "copy_code_example_missing", ["copy_code.example_missing"], [body(), buttons(copy_code(""))]
    ),
    # --- authentication ---
    case(
        "auth_url_button",
        ["auth.url_not_allowed"],
        [AUTH_BODY, buttons(OTP, url())],
        category="AUTHENTICATION",
    ),
    case(
        "auth_url_in_text",
        ["auth.url_not_allowed"],
        [body("{{1}} is your code. Help: https://acme.example/help", "123456"), buttons(OTP)],
        category="AUTHENTICATION",
    ),
    case(
        "auth_media_header",
        ["auth.media_not_allowed"],
        [media_header("IMAGE"), AUTH_BODY, buttons(OTP)],
        category="AUTHENTICATION",
    ),
    case(
        "auth_location_header",
        ["header.location_not_allowed"],
        [media_header("LOCATION", handle=False), AUTH_BODY, buttons(OTP)],
        category="AUTHENTICATION",
    ),
    case(
        "auth_emoji",
        ["auth.emoji_not_allowed"],
        [body("{{1}} is your verification code 🔐", "123456"), buttons(OTP)],
        category="AUTHENTICATION",
    ),
    case(
        "auth_parameter_at_15",
        [],
        [body("{{1}} is your verification code.", "1" * 15), buttons(OTP)],
        category="AUTHENTICATION",
    ),
    case(
        "auth_parameter_16",
        ["auth.param_too_long"],
        [body("{{1}} is your verification code.", "1" * 16), buttons(OTP)],
        category="AUTHENTICATION",
    ),
    case(
        "auth_without_otp_button",
        ["auth.otp_button_missing"],
        [AUTH_BODY, buttons(quick("Not me"))],
        category="AUTHENTICATION",
    ),
    case(
        "auth_without_buttons",
        ["auth.otp_button_missing"],
        [AUTH_BODY],
        category="AUTHENTICATION",
    ),
    # --- policy heuristics ---
    case(
        "policy_promotional_in_utility",
        ["policy.promotional_in_utility"],
        [body("Your order has shipped. Use promo code SPRING for 20% off your next order.")],
    ),
    case(
        "policy_promotional_button_in_utility",
        ["policy.promotional_in_utility"],
        [body("Your order has shipped."), buttons(quick("Shop now"))],
    ),
    case(
        "policy_promotional_words_fine_in_marketing",
        [],
        [body("Flash sale: 30% off, shop now before it ends."), OPT_OUT],
        category="MARKETING",
    ),
    case(
        "policy_shouting_three_words",
        ["policy.shouting"],
        [body("YOUR ORDER has SHIPPED and arrives on Monday.")],
    ),
    case("policy_two_capital_words_fine", [], [body("YOUR ORDER has shipped today.")]),
    case(
        "policy_acronyms_are_not_shouting",
        [],
        [body("Use the OTP or PIN from the FAQ page of the USA store.")],
    ),
    case("policy_punctuation_run", ["policy.punctuation_run"], [body("Your order has shipped!!")]),
    case("policy_ellipsis_fine", [], [body("Your order is on its way...")]),
    case(
        "policy_emoji_run",
        ["policy.emoji_run"],
        [body("Your order has shipped 🎉🎉 🎉")],
    ),
    case("policy_two_emojis_fine", [], [body("Your order has shipped 🎉📦")]),
    case("policy_zwj_family_counts_as_one_emoji", [], [body("A gift for the family 👨‍👩‍👧 👍")]),
    case(
        "policy_url_shortener_in_body",
        ["policy.url_shortener"],
        [body("Track your parcel at bit.ly/3abcd today.")],
    ),
    case(
        "policy_url_shortener_in_button",
        ["policy.url_shortener"],
        [body(), buttons(url("https://tinyurl.com/abcd"))],
    ),
    case(
        "policy_similar_domain_is_not_a_shortener",
        [],
        [body("Track your parcel at https://acme.example/t or about.com today.")],
    ),
    case(
        "policy_marketing_without_opt_out",
        ["policy.no_opt_out_hint"],
        [body("Our spring collection is here: 20% off everything until Sunday.")],
        category="MARKETING",
    ),
    case(
        "policy_marketing_opt_out_quick_reply",
        [],
        [body("Our spring collection is here."), buttons(quick("Unsubscribe"))],
        category="MARKETING",
    ),
    case(
        "policy_asks_for_card_number",
        ["policy.sensitive_numbers"],
        [body("To confirm the payment, reply with your card number and expiry.")],
    ),
    case(
        "policy_asks_for_cvv",
        ["policy.sensitive_numbers"],
        [body("Please reply with the CVV on the back of your card.")],
    ),
    case(
        "policy_asks_for_passport_number",
        ["policy.sensitive_numbers"],
        [body("Send us your passport number to complete check-in.")],
    ),
    case(
        "policy_last_digits_of_card_fine",
        [],
        [body("We charged the card ending in 1234 for your order.")],
    ),
]


@pytest.mark.parametrize(("template", "expected"), CASES)
def test_lint_table(template, expected):
    findings = lint_template(**template)

    assert sorted(f.code for f in findings) == expected


def test_severities_split_hard_rules_policy_and_facts():
    findings = lint_template(
        name="Bad Name",
        language="en",
        category="UTILITY",
        components=[
            body("HURRY, ORDER TODAY, LIMITED stock!!"),
            buttons(url(), quick("Yes"), quick("No")),
        ],
    )

    by_code = {f.code: f.severity for f in findings}
    assert by_code == {
        "name.format": Severity.ERROR,
        "policy.promotional_in_utility": Severity.WARNING,
        "policy.shouting": Severity.WARNING,
        "policy.punctuation_run": Severity.WARNING,
        "buttons.desktop_hidden": Severity.INFO,
    }
    assert [f.severity for f in findings] == sorted(
        (f.severity for f in findings), key=["error", "warning", "info"].index
    )


def test_findings_name_the_component_and_say_what_to_change():
    findings = lint_template(
        name="order_update",
        language="en_US",
        category="UTILITY",
        components=[body(), buttons(url(), url("https://acme.example/{{1}}/x", example=["x"]))],
    )

    assert findings == [
        Finding(
            Severity.ERROR,
            "url.variable_not_at_end",
            "Move the variable to the end of the web address "
            "(e.g. https://example.com/track/{{1}}).",
            "BUTTON[2]",
        )
    ]


def test_language_hint_suggests_the_meta_spelling():
    (finding,) = lint_template(name="a", language="pt-br", category="UTILITY", components=[body()])

    assert finding.code == "language.format"
    assert "(pt_BR?)" in finding.message


@pytest.mark.parametrize(
    "components",
    [
        ["BODY"],
        [{"type": None}],
        [{"type": "BODY", "text": 42, "example": "x"}],
        [{"type": "HEADER", "format": 3, "text": ["a"]}, body()],
        [body(), {"type": "BUTTONS", "buttons": "none"}],
        [body(), {"type": "BUTTONS", "buttons": [1, {"type": "URL", "url": 5, "example": 7}]}],
        [{"type": "BODY", "text": "Hi {{1}} there, all good?", "example": {"body_text": "x"}}],
    ],
    ids=["string", "none_type", "text_not_str", "header_wrong", "buttons_str", "odd_buttons", "ex"],
)
def test_malformed_components_give_findings_not_exceptions(components):
    findings = lint_template(name="x", language="en", category="UTILITY", components=components)

    assert any(f.severity == Severity.ERROR for f in findings)
