"""The E.164 form of a phone number written in one of the two plain ways an import file holds
millions of: international digits (`+447911123456`, `+44 7911 123456`) or national digits with
the region's national prefix (`07911 123456` in GB).

phonenumbers' `parse` + `is_valid_number` spends most of its time on what such text does not
need (extracting a number from free text, extensions, letters, carrier codes) and checks the
number type twice. Here the same metadata decides, with one compiled pattern per region and
length. `e164_certain` answers only when the answer is certainly phonenumbers' own: any text it
is unsure of gives None, and the caller (`consent.contact_normalize`) asks phonenumbers, which
also words the reason when a number is not valid. tests/compliance/test_e164.py holds it to
phonenumbers on every region's example numbers and their near misses.
"""

from __future__ import annotations

import re
from functools import cache

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE
from phonenumbers.phonemetadata import PhoneMetadata
from phonenumbers.phonenumberutil import (
    ValidationResult,
    _test_number_length,
)

_PLAIN = re.compile(r"\+?[0-9]+(?: [0-9]+)*")
# phonenumbers' bounds on a national significant number
_MIN_NSN, _MAX_NSN = 2, 17
# the number types `_number_type_helper` tries, in its order (mobile only when its pattern
# differs from the fixed-line one)
_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
)


class _Region:
    """One region's validity rule: the general description and the union of its types."""

    def __init__(self, meta: PhoneMetadata) -> None:
        self.meta = meta
        self.country_code = str(meta.country_code)
        general = meta.general_desc
        self.lengths = frozenset(general.possible_length or ())
        self.general = re.compile(general.national_number_pattern or r"(?!)")
        descs = [getattr(meta, name) for name in _TYPES]
        if not meta.same_mobile_and_fixed_line_pattern:
            descs.append(meta.mobile)
        self.types = [
            (frozenset(d.possible_length or ()), d.national_number_pattern)
            for d in descs
            if d is not None and d.national_number_pattern
        ]
        self.by_length: dict[int, re.Pattern | None] = {}
        self.prefix = (
            re.compile(meta.national_prefix_for_parsing)
            if meta.national_prefix_for_parsing
            else None
        )
        self.idd = re.compile(meta.international_prefix) if meta.international_prefix else None

    def valid(self, nsn: str) -> bool:
        """phonenumbers' `_number_type_helper(nsn) != UNKNOWN`, in two pattern matches."""
        size = len(nsn)
        if self.lengths and size not in self.lengths:
            return False
        if not self.general.fullmatch(nsn):
            return False
        if size not in self.by_length:
            patterns = [p for lengths, p in self.types if not lengths or size in lengths]
            self.by_length[size] = (
                re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
            )
        pattern = self.by_length[size]
        return bool(pattern and pattern.fullmatch(nsn))


@cache
def _region(code: str) -> _Region | None:
    meta = PhoneMetadata.metadata_for_region(code)
    return _Region(meta) if meta is not None else None


@cache
def _leading(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def _valid(code: int, nsn: str) -> bool:
    """phonenumbers' `is_valid_number` for calling code `code` and this national number: the
    region is the code's only one, or the first of its regions whose leading digits match or,
    having none, whose patterns do; then that region's patterns decide."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(code, ())
    if len(regions) == 1:
        region = _region(regions[0])
        return region is not None and region.valid(nsn)
    for name in regions:
        region = _region(name)
        if region is None:
            continue
        if region.meta.leading_digits is not None:
            if _leading(region.meta.leading_digits).match(nsn):
                return region.valid(nsn)
        elif region.valid(nsn):
            return True
    return False


def e164_certain(text: str, region: str | None) -> str | None:
    """The E.164 form of `text` when it is certainly a valid number as phonenumbers reads it
    (`region`: the client's default, for national digits); None when phonenumbers must decide.
    A None is not a verdict: the number may still be valid."""
    if not _PLAIN.fullmatch(text):
        return None
    if text[0] == "+":
        return _international(text[1:].replace(" ", ""))
    return _national(text.replace(" ", ""), region)


def _international(digits: str) -> str | None:
    if digits[0] == "0":
        return None
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    nsn = digits[size:]
    regions = COUNTRY_CODE_TO_REGION_CODE[code]
    main = _region(regions[0]) if regions[0] != "001" else None
    if main is None or not _MIN_NSN <= len(nsn) <= _MAX_NSN or nsn[0] == "0":
        return None  # (non-geographic codes are left to phonenumbers)
    if main.prefix is not None and main.prefix.match(nsn):
        return None  # phonenumbers may strip it as a national prefix
    return f"+{code}{nsn}" if _valid(code, nsn) else None


def _national(digits: str, region: str | None) -> str | None:
    home = _region(region.upper()) if region else None
    if home is None or home.prefix is None or home.meta.national_prefix_transform_rule:
        return None
    code = home.meta.country_code
    if digits.startswith(home.country_code) or (home.idd and home.idd.match(digits)):
        return None  # phonenumbers may read a country code in it
    found = home.prefix.match(digits)
    if found is None or found.groups() or not found.end():
        return None
    nsn = digits[found.end() :]
    if not _MIN_NSN <= len(nsn) <= _MAX_NSN or nsn[0] == "0":
        return None
    if not home.general.fullmatch(nsn):
        return None
    if _test_number_length(nsn, home.meta) != ValidationResult.IS_POSSIBLE:
        return None
    return f"+{code}{nsn}" if _valid(code, nsn) else None
