"""The host → client look-up kept in memory for a few seconds: right client per host, changes in
this process apply at once, nothing read inside a transaction is kept, entries expire."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tenants import middleware
from tenants.choices import ClientStatus
from tenants.models import Domain
from tenants.services import client_set_status


@pytest.fixture
def cache(monkeypatch):
    """The cache as outside a transaction (a test runs inside one, where it is not used)."""
    middleware.host_cache.clear()
    monkeypatch.setattr(middleware._HostCache, "usable", staticmethod(lambda: True))
    yield middleware.host_cache
    middleware.host_cache.clear()


def domain_queries(queries) -> int:
    return sum("tenants_domain" in q["sql"] for q in queries.captured_queries)


def test_a_host_is_looked_up_once_then_served_from_memory(web, acme, cache):
    assert "Sign in to Acme Retail" in web(acme).get("/auth/login/").content.decode()

    with CaptureQueriesContext(connection) as queries:
        response = web(acme).get("/auth/login/")

    assert "Sign in to Acme Retail" in response.content.decode()
    assert domain_queries(queries) == 0


def test_each_host_is_served_its_own_client(web, acme, globex, acme_viewer, globex_owner, cache):
    for _ in range(2):
        assert "Sign in to Acme Retail" in web(acme).get("/auth/login/").content.decode()
        assert "Globex Logistics" in web(globex).get("/auth/login/").content.decode()
        assert web(acme, acme_viewer).get("/contacts/").status_code == 200
        assert web(globex, acme_viewer).get("/contacts/").status_code == 403
        assert web(acme, globex_owner).get("/contacts/").status_code == 403


def test_a_suspended_client_is_closed_at_once(web, acme, acme_viewer, cache):
    assert web(acme, acme_viewer).get("/contacts/").status_code == 200

    client_set_status(client=acme, status=ClientStatus.SUSPENDED)

    assert web(acme, acme_viewer).get("/contacts/").status_code == 403


def test_a_removed_domain_stops_routing_at_once(web, acme, cache):
    assert web(acme).get("/auth/login/").status_code == 200

    Domain.objects.filter(tenant=acme).first().delete()

    assert web(acme).get("/auth/login/").status_code == 404


def test_entries_expire(web, acme, cache, monkeypatch, settings):
    clock = [1000.0]
    monkeypatch.setattr(middleware.time, "monotonic", lambda: clock[0])
    web(acme).get("/auth/login/")

    clock[0] += settings.TENANT_HOST_CACHE_SECONDS + 0.1
    with CaptureQueriesContext(connection) as queries:
        web(acme).get("/auth/login/")

    assert domain_queries(queries) == 1


def test_a_request_cannot_change_the_kept_client(web, acme, cache):
    web(acme).get("/auth/login/")
    first = middleware.host_cache.get(next(iter(cache.entries)))
    first.name = "Changed by a request"

    assert "Sign in to Acme Retail" in web(acme).get("/auth/login/").content.decode()


def test_nothing_read_inside_a_transaction_is_kept(web, acme):
    middleware.host_cache.clear()
    web(acme).get("/auth/login/")

    assert middleware.host_cache.entries == {}
