"""`e164_certain` answers only what phonenumbers would: on every region's example numbers, in
international and national writing, and on near misses of each (a digit more, a digit less, a
digit changed), it gives phonenumbers' E.164 or None, never another answer."""

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from compliance.e164 import e164_certain


def phonenumbers_e164(text: str, region: str | None) -> str | None:
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)


def near_misses(digits: str) -> list[str]:
    found = [digits, digits + "0", digits[:-1], digits + "12"]
    for at in range(0, len(digits), 2):
        found.append(digits[:at] + str((int(digits[at]) + 3) % 10) + digits[at + 1 :])
    return found


def samples() -> list[tuple[str, str]]:
    """(text, region) pairs from every region's example numbers of every type."""
    out = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (
            PhoneNumberType.MOBILE,
            PhoneNumberType.FIXED_LINE,
            PhoneNumberType.TOLL_FREE,
            PhoneNumberType.VOIP,
        ):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, PhoneNumberFormat.E164)
            national = phonenumbers.format_number(example, PhoneNumberFormat.NATIONAL)
            national_digits = "".join(ch for ch in national if ch.isdigit())
            for digits in near_misses(e164[1:]):
                out.append(("+" + digits, region))
                out.append(("+" + digits[:2] + " " + digits[2:], region))
            for digits in near_misses(national_digits):
                out.append((digits, region))
                out.append((digits[:4] + " " + digits[4:], region))
    return out


def test_every_answer_is_phonenumbers_own():
    checked = certain = 0
    for text, region in samples():
        got = e164_certain(text, region)
        checked += 1
        if got is not None:
            certain += 1
            assert got == phonenumbers_e164(text, region), (text, region)
    # it must also be useful: most well-formed international examples are answered
    assert checked > 20_000
    assert certain > checked // 4


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("+447911123456", "GB", "+447911123456"),
        ("+44 7911 123457", None, "+447911123457"),
        ("07911 123458", "GB", "+447911123458"),
        ("+12015550125", "GB", "+12015550125"),
        ("+4915112345678", "GB", "+4915112345678"),
        ("+44791112345", "GB", None),  # a digit short: phonenumbers words the reason
        ("0049 151 12345679", "GB", None),  # an international prefix: phonenumbers reads it
        ("(201) 555-0124", "US", None),  # punctuation: phonenumbers reads it
        ("+440 7911 123456", "GB", None),  # a national prefix after the country code
        ("07911 123458", None, None),  # national digits without a region
    ],
)
def test_plain_numbers(text, region, expected):
    assert e164_certain(text, region) == expected
