"""`portal.template_urls.url_filler`: links reversed once a page build what `reverse` builds."""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.template_urls import url_filler


@pytest.fixture(autouse=True)
def _public_urls(settings):
    """The staff pages' routes are the public host's."""
    settings.ROOT_URLCONF = settings.PUBLIC_SCHEMA_URLCONF


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("switch", ["acme"]),
        ("staff-link-waba", ["globex-logistics_2"]),
        ("staff-appeal-detail", ["acme", "918273640"]),
        ("staff-template-action", ["acme", 7, "request_changes"]),
    ],
)
def test_it_builds_what_reverse_builds(name, args):
    assert url_filler(name, len(args))(*args) == reverse(name, args=args)


def test_each_call_fills_its_own_values():
    fill = url_filler("staff-appeal-detail", 2)

    assert [fill("acme", 1), fill("globex", 22)] == [
        "/staff/appeals/acme/1/",
        "/staff/appeals/globex/22/",
    ]
