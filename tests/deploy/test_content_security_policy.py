"""Every page carries a Content Security Policy that allows no inline script or style, and our
pages need none."""

from __future__ import annotations

import re

import pytest

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
STYLE_ELEMENT_OR_ATTRIBUTE = re.compile(r"<style\b|\sstyle=", re.IGNORECASE)


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    parsed = {}
    for part in header.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


@pytest.mark.parametrize("on_client_host", [False, True])
def test_login_page_has_a_strict_policy_and_no_inline_code(web, acme, on_client_host):
    response = web(acme if on_client_host else None).get("/auth/login/")
    html = response.content.decode()

    assert response.status_code == 200
    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert INLINE_SCRIPT.findall(html) == []
    assert STYLE_ELEMENT_OR_ATTRIBUTE.findall(html) == []
    # htmx would otherwise inject an inline <style> for its indicators, which the policy blocks.
    assert """<meta name="htmx-config" content='{"includeIndicatorStyles": false}'>""" in html


def test_signed_in_dashboard_has_the_policy_and_no_inline_code(web, acme, acme_owner):
    response = web(acme, acme_owner).get("/")
    html = response.content.decode()

    assert response.status_code == 200
    assert directives(response)["script-src"] == ["'self'"]
    assert INLINE_SCRIPT.findall(html) == []
    assert STYLE_ELEMENT_OR_ATTRIBUTE.findall(html) == []


def test_forms_may_post_only_to_the_portals_own_hosts(web):
    """Signing in on the public host ends on the client's host (hand-off redirect)."""
    response = web(None).get("/auth/login/")

    assert directives(response)["form-action"] == ["'self'", "localhost:*", "*.localhost:*"]
