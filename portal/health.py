"""`/healthz` (the process answers) and `/readyz` (it can reach the database and the broker).

Probes come from the orchestrator to the pod IP or the service name, not to a client's host, so
these two paths are answered by a middleware placed first: before host routing (an unknown host is
a 404 there), before ALLOWED_HOSTS is consulted (the host is never read) and before
SecurityMiddleware's HTTPS redirect (probes speak plain HTTP inside the cluster). They reveal
nothing but "ok" or the name of the failing dependency.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import JsonResponse

logger = logging.getLogger(__name__)

LIVENESS_PATHS = frozenset({"/healthz", "/healthz/"})
READINESS_PATHS = frozenset({"/readyz", "/readyz/"})
BROKER_TIMEOUT_SECONDS = 2.0


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_broker() -> None:
    """Open (and close) a connection to the Celery broker, Redis or RabbitMQ alike."""
    from kombu import Connection

    with Connection(
        settings.CELERY_BROKER_URL,
        connect_timeout=BROKER_TIMEOUT_SECONDS,
        transport_options={"socket_connect_timeout": BROKER_TIMEOUT_SECONDS, "max_retries": 0},
    ) as broker:
        broker.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT_SECONDS
        )


READINESS_CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "broker": check_broker,
}


def readiness() -> JsonResponse:
    checks: dict[str, str] = {}
    for name, check in READINESS_CHECKS.items():
        try:
            check()
        except Exception as exc:  # any failure means "not ready"; the log says which and why
            logger.warning("readiness check %s failed: %r", name, exc)
            checks[name] = "unavailable"
        else:
            checks[name] = "ok"
    failed = sorted(name for name, state in checks.items() if state != "ok")
    return JsonResponse(
        {"status": "unavailable" if failed else "ok", "checks": checks, "failed": failed},
        status=503 if failed else 200,
    )


class HealthCheckMiddleware:
    """Answers the two probe paths for any host; every other request passes through."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path in LIVENESS_PATHS:
            return JsonResponse({"status": "ok"})
        if request.path in READINESS_PATHS:
            return readiness()
        return self.get_response(request)
