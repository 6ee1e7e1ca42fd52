"""The web server's own refusals are part of the contract: production's gunicorn settings refuse a
request line past its limit with a 414 (before the API reads anything), and the schema documents
that answer, and the 431 for an over-long header, for every operation."""

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import database_url_for_tests

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 8190  # deploy/gunicorn.conf.py's default, the figure the schema states


def test_every_operation_documents_the_servers_414_and_431(api, acme, acme_owner):
    schema = api(acme, user=acme_owner).get("/api/schema/?format=json").json()

    operations = [
        (path, method, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert len(operations) > 30
    for path, method, op in operations:
        for code in ("414", "431"):
            assert op["responses"][code]["content"] == {
                "text/html": {"schema": {"type": "string"}}
            }, (
                method,
                path,
                code,
            )
    assert "8,190 bytes" in operations[0][2]["responses"]["414"]["description"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _status(port: int, target: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", target, headers={"Host": "localhost"})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("content-type") or ""
    finally:
        conn.close()


@pytest.fixture
def production_gunicorn(django_db_setup):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "deploy/gunicorn.conf.py",
         "--bind", f"127.0.0.1:{port}", "--workers", "1", "portal.wsgi:application"],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": database_url_for_tests(),
            "DJANGO_SETTINGS_MODULE": "portal.settings.test",
            "LOG_LEVEL": "error",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _status(port, "/healthz")
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("gunicorn did not start")
                time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(20)


def test_production_gunicorn_refuses_a_request_line_past_its_limit_with_a_414(
    production_gunicorn,
):
    # "GET " + target + " HTTP/1.1" is the request line gunicorn measures.
    fits = "/healthz?q=" + "a" * (LIMIT - len("GET /healthz?q= HTTP/1.1"))
    assert _status(production_gunicorn, fits)[0] == 200
    status, content_type = _status(production_gunicorn, fits + "a")
    assert (status, content_type) == (414, "text/html")
