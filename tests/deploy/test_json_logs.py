"""JSON log lines carry the client's schema and the request id; responses carry the id too."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.db import connection

from portal.observability import JsonFormatter, _tag_event, request_id_var


@pytest.fixture
def json_log():
    """`json_log(name)`: the lines a `portal.*` logger wrote through the production formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("portal")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lambda name="portal.request": [
        line for line in map(json.loads, stream.getvalue().splitlines()) if line["logger"] == name
    ]
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def test_access_line_names_the_clients_schema_and_the_proxys_request_id(
    web, acme, acme_owner, json_log
):
    response = web(acme, acme_owner).get("/", HTTP_X_REQUEST_ID="edge-7f3a9c01")

    assert response["X-Request-ID"] == "edge-7f3a9c01"
    [line] = json_log()
    assert line["schema"] == acme.schema_name
    assert line["request_id"] == "edge-7f3a9c01"
    assert (line["level"], line["logger"], line["message"]) == (
        "INFO",
        "portal.request",
        "GET / 200",
    )
    assert (line["method"], line["path"], line["status"]) == ("GET", "/", 200)
    assert isinstance(line["duration_ms"], float)


def test_missing_or_unsafe_request_id_is_replaced_by_a_fresh_one(web, json_log):
    first = web(None).get("/auth/login/")
    second = web(None).get("/auth/login/", HTTP_X_REQUEST_ID='x"\n{"forged": 1}')

    ids = [first["X-Request-ID"], second["X-Request-ID"]]
    assert all(len(request_id) == 32 for request_id in ids)
    assert ids[0] != ids[1]
    lines = json_log()
    assert [line["request_id"] for line in lines] == ids
    assert [line["schema"] for line in lines] == ["public", "public"]


def test_formatter_writes_extras_and_the_exception(db, json_log):
    connection.set_schema("acme")
    token = request_id_var.set("req-12345678")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("portal.test").exception("failed %s", "sync", extra={"waba_id": "1029"})
    finally:
        request_id_var.reset(token)

    [line] = json_log("portal.test")
    assert (line["level"], line["message"]) == ("ERROR", "failed sync")
    assert (line["schema"], line["request_id"]) == ("acme", "req-12345678")
    assert line["waba_id"] == "1029"
    assert line["exc"].splitlines()[-1] == "ValueError: boom"


def test_error_reports_are_tagged_with_schema_and_request_id(db):
    connection.set_schema("globex")
    token = request_id_var.set("req-87654321")
    try:
        event = _tag_event({"tags": {"component": "web"}}, {})
    finally:
        request_id_var.reset(token)

    assert event["tags"] == {"component": "web", "schema": "globex", "request_id": "req-87654321"}


def test_a_task_queued_by_a_request_logs_with_that_requests_id(db, json_log):
    from celery.signals import before_task_publish

    from tenants.tasks import client_housekeeping

    headers: dict = {}
    token = request_id_var.set("req-queued-01")
    try:
        before_task_publish.send(sender=client_housekeeping.name, headers=headers, body=None)
    finally:
        request_id_var.reset(token)
    assert headers["portal_request_id"] == "req-queued-01"

    # On the worker: the task's log lines carry the queuing request's id, not the task id.
    from celery._state import _task_stack

    def log_as_task(task_id: str, task_headers: dict, message: str) -> None:
        _task_stack.push(client_housekeeping)
        client_housekeeping.push_request(id=task_id, headers=task_headers)
        try:
            logging.getLogger("portal.test").info(message)
        finally:
            client_housekeeping.pop_request()
            _task_stack.pop()

    log_as_task("task-id-1", headers, "queued by a request")
    log_as_task("task-id-2", {}, "queued by beat")
    assert [line["request_id"] for line in json_log("portal.test")] == [
        "req-queued-01",
        "task-id-2",
    ]
