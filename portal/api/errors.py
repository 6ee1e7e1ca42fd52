"""Errors as RFC 9457 problem details (`application/problem+json`)."""

from __future__ import annotations

from http import HTTPStatus

from rest_framework import exceptions
from rest_framework.views import exception_handler


def problem_details_handler(exc, context):
    response = exception_handler(exc, context)
    if response is None:
        return None
    status_code = response.status_code
    body: dict = {
        "type": "about:blank",
        "title": HTTPStatus(status_code).phrase,
        "status": status_code,
    }
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        body["detail"] = "The request has invalid fields."
        body["errors"] = data if isinstance(data, dict) else {"non_field_errors": data}
    elif isinstance(data, dict) and "detail" in data:
        body["detail"] = str(data["detail"])
        code = getattr(data["detail"], "code", None)
        if code:
            body["code"] = code
    else:
        body["detail"] = data
    response.data = body
    response.content_type = "application/problem+json"
    return response


def not_found(request, exception=None):
    """404 for an address no URL matches: problem details under /api/, the page elsewhere."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith("/api/"):
        return JsonResponse(
            {
                "type": "about:blank",
                "title": "Not Found",
                "status": 404,
                "detail": "There is nothing at this address.",
            },
            status=404,
            content_type="application/problem+json",
        )
    return page_not_found(request, exception)
