"""Logs and error reports that say which client and which request they came from.

- `RequestIdMiddleware` gives every request an id (the proxy's `X-Request-ID` when it is sane,
  a fresh one otherwise), returns it in the response and writes one access line per request.
- `JsonFormatter` writes one JSON object per line with the schema (the client) and the request
  id; in a Celery worker the schema is the task's (tenant-schemas-celery sets the connection) and
  the request id is the one of the request that queued the task (carried in a message header),
  else the task id.
- `error_reporting_init` turns on Sentry (or any Sentry-compatible service) when `SENTRY_DSN` is
  set; events carry the same two tags.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

REQUEST_ID_HEADER = "X-Request-ID"
# The Celery message header that carries the request id of the request that queued a task.
TASK_REQUEST_ID_HEADER = "portal_request_id"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "portal_request_id", default=None
)

access_log = logging.getLogger("portal.request")

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
_RECORD_ATTRS = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys()
) | {"message", "asctime", "request"}


def current_schema() -> str | None:
    """The schema of this thread's database connection, without touching the database."""
    try:
        from django.db import connection

        return getattr(connection, "schema_name", None)
    except Exception:  # logging must never fail: settings may not be configured yet
        return None


def current_request_id() -> str | None:
    request_id = request_id_var.get()
    if request_id is not None:
        return request_id
    try:
        from celery import current_task
    except ImportError:  # pragma: no cover - celery is a dependency
        return None
    task = current_task
    request = getattr(task, "request", None) if task else None
    if request is None:
        return None
    return (
        (request.headers or {}).get(TASK_REQUEST_ID_HEADER)
        or request.get(TASK_REQUEST_ID_HEADER)
        or request.id
    )


def stamp_task_with_request_id(headers: dict | None = None, **_: Any) -> None:
    """`before_task_publish` receiver: a task queued while serving a request (or running a task
    that was) carries that request's id, so its log lines can be found from the request's."""
    if headers is None or TASK_REQUEST_ID_HEADER in headers:
        return
    request_id = current_request_id()
    if request_id is not None:
        headers[TASK_REQUEST_ID_HEADER] = request_id


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, schema, request_id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "schema": current_schema(),
            "request_id": current_request_id(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class RequestIdMiddleware:
    """Sets the request id for logs, answers with it, and writes one access line per request.

    Placed right after the health checks so probes do not flood the log; the access line is
    written after the inner middleware ran, so it carries the client's schema.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            access_log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            return response
        finally:
            request_id_var.reset(token)


def _tag_event(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Sentry `before_send`: tag each event with the client's schema and the request id."""
    tags = event.setdefault("tags", {})
    schema = current_schema()
    if schema:
        tags["schema"] = schema
    request_id = current_request_id()
    if request_id:
        tags["request_id"] = request_id
    return event


def error_reporting_init(
    *, dsn: str, environment: str, release: str | None, traces_sample_rate: float
) -> None:
    """Send unhandled errors of web and worker processes to a Sentry-compatible service.

    No personal data is sent (`send_default_pii=False`): the portal holds consent records and
    phone numbers, and the error service is a third party.
    """
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        traces_sample_rate=traces_sample_rate,
        send_default_pii=False,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        before_send=_tag_event,
    )
