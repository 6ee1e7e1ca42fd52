"""API keys get JSON only: the browsable API (and any HTML page, like the API docs) is for
signed-in sessions. A key asking for HTML (`Accept: text/html`, `?format=api`) gets JSON when it
accepts it too, else a 406 problem."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation

HTML_FORMATS = frozenset({"api", "html"})


def is_api_key_request(request) -> bool:
    """An `Authorization: Bearer …` request: decided from the header, before (and whatever)
    authentication answers, so a bad key is refused in JSON too."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    return header[:7].lower() == "bearer "


class KeysGetJson(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if is_api_key_request(request):
            format_query = format_suffix or request.query_params.get(
                self.settings.URL_FORMAT_OVERRIDE
            )
            if format_query in HTML_FORMATS:
                raise exceptions.NotAcceptable(
                    "API keys get JSON only; the browsable API is for signed-in sessions."
                )
            renderers = [r for r in renderers if r.format not in HTML_FORMATS]
            if not renderers:
                raise exceptions.NotAcceptable(
                    "API keys get JSON only; this page is for signed-in sessions."
                )
        return super().select_renderer(request, renderers, format_suffix)
