"""Meta's webhook POSTs skip the middleware they do not use.

A delivery is one signed POST from a program to the public host: it needs no tenant routing
(the public schema), no session, CSRF, user, messages, htmx, lockout or page headers (CSP,
frame options), and under a campaign's status traffic those layers cost more CPU than storing
the delivery (measured: `python -m tests.benchmarks webhook_intake`). Placed after the health
checks, the request id and access line, and the outage middleware, so the webhook keeps those;
everything else, including the GET handshake, takes the whole stack.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port
from django.urls import reverse
from django_tenants.utils import get_public_schema_name


class WebhookIntakeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._path: str | None = None

    def _webhook_path(self) -> str:
        if self._path is None:
            self._path = reverse("meta-webhook", urlconf=settings.PUBLIC_SCHEMA_URLCONF)
        return self._path

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.method == "POST"
            and request.path_info == self._webhook_path()
            # an http request the security middleware would redirect takes that way
            and (request.is_secure() or not settings.SECURE_SSL_REDIRECT)
            # the endpoint exists on the public host only (get_host checks ALLOWED_HOSTS)
            and split_domain_port(request.get_host())[0] == settings.PORTAL_DOMAIN
        ):
            from portal.meta.views import meta_webhook

            if connection.schema_name != get_public_schema_name():
                connection.set_schema_to_public()
            return meta_webhook(request)
        return self.get_response(request)
