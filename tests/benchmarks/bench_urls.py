"""The public URLconf plus the benchmark's baseline view (see `bench_settings`); never routed
in the project itself."""

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path

from portal.urls_public import urlpatterns as public_urlpatterns
from tenants.models import Client

_SELECT = f"SELECT id, schema_name, name FROM {Client._meta.db_table} WHERE id = %s"  # noqa: S608


def bare_select(request: HttpRequest, pk: int) -> HttpResponse:
    """One primary-key SELECT on a real table (the clients), answered as plain text."""
    with connection.cursor() as cursor:
        cursor.execute(_SELECT, [pk])
        row = cursor.fetchone()
    if row is None:
        return HttpResponse("no such row", status=404, content_type="text/plain")
    return HttpResponse(row[1], content_type="text/plain")


def bare(request: HttpRequest) -> HttpResponse:
    """No query at all: the anchor of the intake target (what Django and the middleware cost)."""
    return HttpResponse("ok", content_type="text/plain")


@login_required
def signed_in(request: HttpRequest) -> HttpResponse:
    """A page behind the sign-in that runs no query of its own: the pages benchmark's anchor
    (the session, the user and, on a client host, the tenant access check)."""
    return HttpResponse(f"ok {request.user.pk}", content_type="text/plain")


urlpatterns = [
    path("bench/bare/", bare, name="bench-bare"),
    path("bench/signed-in/", signed_in, name="bench-signed-in"),
    path("bench/bare/<int:pk>", bare_select, name="bench-bare-select"),
    *public_urlpatterns,
]
