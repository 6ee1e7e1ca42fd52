"""The portal's `date` filter answers exactly as Django's, faster, for the formats pages use."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from django.template import Context, Template
from django.template.defaultfilters import date as django_date
from django.utils import timezone as django_timezone

from portal.template_dates import date_filter

FORMATS = ["Y-m-d H:i", "Y-m-d H:i:s", "H:i:s", "Y-m-d", "c", "r", "DATETIME_FORMAT", "D j M"]
VALUES = [
    datetime(2026, 3, 9, 7, 5, 3, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(999, 1, 2, 3, 4, 5),
    datetime(2026, 3, 9, 7, 5, 3, 120, tzinfo=UTC),
    datetime(2026, 3, 9, 7, 5, 3),
    date(2026, 2, 28),
    None,
    "",
    "not a date",
]


def outcome(filter_, value, fmt):
    try:
        return filter_(value, fmt)
    except Exception as exc:  # Django's filter raises for some: the portal's must too
        return type(exc)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_the_filter_answers_what_djangos_answers(fmt, value):
    assert outcome(date_filter, value, fmt) == outcome(django_date, value, fmt)


def test_templates_use_it_in_the_current_time_zone_as_djangos_does(settings):
    settings.TIME_ZONE = "Asia/Kolkata"
    at = datetime(2026, 3, 9, 20, 0, tzinfo=UTC)
    with django_timezone.override("Asia/Kolkata"):
        rendered = Template('{{ at|date:"Y-m-d H:i" }}').render(Context({"at": at}))
    assert rendered == "2026-03-10 01:30"
    builtins = Template("{% load i18n %}").engine.template_builtins
    assert [lib.filters["date"] for lib in builtins if "date" in lib.filters][-1] is date_filter


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_a_row_writes_a_date_as_the_template_writes_it(fmt, value):
    """`portal.rows.local_date` is `{{ value|date:fmt }}`: local time first, then escaped."""
    from portal.rows import local_date

    template = Template("{{ value|date:fmt }}")
    with django_timezone.override("Asia/Kolkata"):
        try:
            expected = template.render(Context({"value": value, "fmt": fmt}))
        except Exception as exc:
            expected = type(exc)
        assert outcome(local_date, value, fmt) == expected
