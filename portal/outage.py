"""A database outage answers 503 with `Retry-After`, never a 500.

When PostgreSQL is down, refuses clients ("too many clients already") or drops the connection,
psycopg raises and Django wraps it as `OperationalError` or `InterfaceError`. Whatever raised it
(a view, the tenant look-up in a middleware, the session), the caller should be told to come back
shortly: Meta retries a webhook answered 503, a browser shows a page that says so, an API client
gets RFC 9457 problem details.

Django turns an exception into a response inside every middleware layer, so an outer middleware
only ever sees the finished 500. Django sends `got_request_exception` just before building that
500, with the exception being handled: the receiver below marks the request there, and
`DatabaseOutageMiddleware` (right after the request id, before host routing) swaps the 500 for
the 503. This works the same with DEBUG on (`make run`) and off.
"""

from __future__ import annotations

import json
import logging
import sys

from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

DATABASE_ERRORS = (OperationalError, InterfaceError)
# Seconds a client is asked to wait before trying again.
RETRY_AFTER_SECONDS = 5
_MARK = "_portal_database_outage"
# Paths whose callers are programs: they get problem details rather than a page.
_MACHINE_PREFIXES = ("/api/", "/webhooks/")


def note_database_error(sender, request: HttpRequest | None = None, **kwargs) -> None:
    """Receiver of `got_request_exception`: remember a database error on the request."""
    error = sys.exc_info()[1]
    if request is not None and isinstance(error, DATABASE_ERRORS):
        setattr(request, _MARK, error)


got_request_exception.connect(note_database_error, dispatch_uid="portal.outage")


def _wants_problem(request: HttpRequest) -> bool:
    if request.path.startswith(_MACHINE_PREFIXES):
        return True
    accept = request.headers.get("Accept", "")
    return "json" in accept and "html" not in accept


def outage_response(request: HttpRequest) -> HttpResponse:
    """503 problem details for programs, a plain page for people; no database needed."""
    detail = "The database is unavailable. Please try again in a few seconds."
    if _wants_problem(request):
        body = {
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": detail,
            "code": "database_unavailable",
        }
        response = HttpResponse(
            json.dumps(body), status=503, content_type="application/problem+json"
        )
    else:
        # Rendered without the request: context processors read the session and the user,
        # which live in the database that is down.
        try:
            page = render_to_string("503.html", {"detail": detail})
        except Exception:  # e.g. no static manifest yet: the answer must still be the 503
            logger.exception("the 503 page could not be rendered")
            page = f"<!doctype html><title>Temporarily unavailable</title><p>{detail}</p>"
        response = HttpResponse(page, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseOutageMiddleware:
    """Replaces the 500 of a request that failed on a database error with a 503."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        error = getattr(request, _MARK, None)
        if error is None:
            return response
        logger.warning(
            "database unavailable: %s %s answered 503 (%s)",
            request.method,
            request.path,
            str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__,
        )
        return outage_response(request)
