"""/healthz and /readyz answer for any host, before routing and the HTTPS redirect."""

from __future__ import annotations

import socket

import pytest
from django.db import OperationalError
from django.test import Client as HttpClient

from portal import health


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("host", ["localhost", "acme.localhost", "10.1.2.3:8000", "portal-web"])
def test_healthz_answers_for_any_host(db, host):
    response = HttpClient(HTTP_HOST=host).get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_unknown_host_is_still_refused_on_other_paths(db):
    response = HttpClient(HTTP_HOST="10.1.2.3:8000").get("/auth/login/")

    assert response.status_code == 404  # no client there: only the probe paths skip routing


def test_readyz_reports_database_and_broker_ok(db):
    response = HttpClient(HTTP_HOST="10.1.2.3").get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok"},
        "failed": [],
    }


def test_readyz_is_503_naming_the_broker_when_it_is_unreachable(db, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"

    response = HttpClient(HTTP_HOST="acme.localhost").get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "broker": "unavailable"},
        "failed": ["broker"],
    }


def test_readyz_is_503_naming_the_database_when_a_query_fails(db, monkeypatch):
    class DownConnection:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr(health, "connection", DownConnection())

    response = HttpClient(HTTP_HOST="localhost").get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "unavailable", "broker": "ok"}
    assert response.json()["failed"] == ["database"]


def test_probes_are_not_redirected_to_https(db, settings):
    settings.SECURE_SSL_REDIRECT = True
    http = HttpClient(HTTP_HOST="localhost")

    assert http.get("/healthz").status_code == 200
    assert http.get("/readyz").status_code == 200
    assert http.get("/auth/login/").status_code == 301  # everything else is redirected
