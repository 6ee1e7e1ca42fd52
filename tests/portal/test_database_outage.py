"""With the database unreachable, every kind of caller is told 503 + Retry-After, never a 500.

A real gunicorn (deploy/gunicorn.conf.py) serves the portal with DATABASE_URL pointing at a port
where nothing listens; with DEBUG on (`make run`) and off (production) alike.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from portal.meta.signatures import HEADER, sign

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SECRET = "outage-test-app-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(port: int, method: str, path: str, host: str, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture(params=["true", "false"], ids=["debug", "production"])
def portal_without_database(request):
    port = _free_port()
    dead = _free_port()  # bound a moment ago and released: nothing listens there now
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings.base",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{dead}/portal",
        "DEBUG": request.param,
        "SECRET_KEY": "outage-test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        "PORTAL_DOMAIN": "localhost",
        "SECURE_COOKIES": "false",
        "SECURE_SSL_REDIRECT": "false",
        "STATIC_MANIFEST": "false",  # no collectstatic here
        "META_APP_SECRET": SECRET,
        "LOG_LEVEL": "CRITICAL",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "2",
    }
    command = [
        sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
        "--bind", f"127.0.0.1:{port}", "portal.wsgi:application",
    ]  # fmt: skip
    proc = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "gunicorn exited"
            assert time.monotonic() < deadline, "gunicorn did not answer"
            try:
                _request(port, "GET", "/healthz", "localhost")
                break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_a_signed_in_page_answers_503_with_retry_after(portal_without_database):
    status, headers, body = _request(
        portal_without_database,
        "GET",
        "/staff/",
        "localhost",
        headers={"Cookie": f"sessionid={'s' * 32}"},
    )

    assert status == 503
    assert headers["Retry-After"] == "5"
    assert headers["Content-Type"].startswith("text/html")
    assert b"Temporarily unavailable" in body


def test_a_client_host_page_answers_503(portal_without_database):
    status, headers, body = _request(portal_without_database, "GET", "/", "acme.localhost")

    assert (status, headers["Retry-After"]) == (503, "5")
    assert b"Temporarily unavailable" in body


def test_the_api_answers_problem_details(portal_without_database):
    status, headers, body = _request(
        portal_without_database,
        "GET",
        "/api/v1/me/",
        "acme.localhost",
        headers={"Authorization": "Bearer pk_nothing", "Accept": "application/json"},
    )

    assert status == 503
    assert headers["Content-Type"] == "application/problem+json"
    assert headers["Retry-After"] == "5"
    assert json.loads(body) == {
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "The database is unavailable. Please try again in a few seconds.",
        "code": "database_unavailable",
    }


def test_a_signed_webhook_answers_503_so_meta_retries(portal_without_database):
    body = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()

    status, headers, answer = _request(
        portal_without_database,
        "POST",
        "/webhooks/meta",
        "localhost",
        body=body,
        headers={"Content-Type": "application/json", HEADER: sign(body, SECRET)},
    )

    assert (status, headers["Retry-After"]) == (503, "5")
    assert json.loads(answer)["code"] == "database_unavailable"


def test_the_readiness_probe_still_names_the_database(portal_without_database):
    status, _, body = _request(portal_without_database, "GET", "/readyz", "10.0.0.1")

    assert status == 503
    assert b"database" in body
