"""Host routing and tenant access.

`PortalTenantMiddleware` picks the schema from the host (unknown hosts are a 404);
`TenantAccessMiddleware` lets only members (and audited staff) into a client's host.
"""

from __future__ import annotations

import copy
import threading
import time

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.db import connection
from django.db.models.signals import post_delete, post_save
from django.http import Http404
from django.shortcuts import render
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.utils import get_public_schema_name

from tenants import services
from tenants.models import Client, Domain
from tenants.selectors import clients_for_user, tenant_access_for

# The schema a session was created on. Cookies are host-only already; this also makes a session
# cookie copied to another client's host worthless there.
SESSION_SCHEMA_KEY = "_portal_schema"

# Paths on a client host that handle their own authentication.
OPEN_PREFIXES = ("/auth/", "/static/", "/api/", "/healthz", "/readyz", "/favicon.ico")


class _HostCache:
    """host → client, kept for TENANT_HOST_CACHE_SECONDS in this process.

    Every request looked the host up (two round trips: the search path, then the row); an API
    integration calling the pre-send check before each send paid them each time. Only what was
    read outside any transaction (so committed) is kept or served; any save or delete of a client
    or a domain in this process empties it, and other processes see a change within the TTL (a
    suspended client's members are turned away at most that much later). Each request gets its
    own copy of the client, so nothing one request sets on it reaches another.
    """

    def __init__(self) -> None:
        self.entries: dict[str, tuple[float, Client]] = {}
        self.lock = threading.Lock()

    @staticmethod
    def usable() -> bool:
        return settings.TENANT_HOST_CACHE_SECONDS > 0 and not connection.in_atomic_block

    def get(self, hostname: str) -> Client | None:
        entry = self.entries.get(hostname)
        if entry is None or entry[0] <= time.monotonic() or not self.usable():
            return None
        return copy.copy(entry[1])

    def put(self, hostname: str, client: Client) -> None:
        if self.usable():
            expires = time.monotonic() + settings.TENANT_HOST_CACHE_SECONDS
            with self.lock:
                self.entries[hostname] = (expires, copy.copy(client))

    def clear(self, **kwargs) -> None:
        with self.lock:
            self.entries.clear()


host_cache = _HostCache()
for _model in (Client, Domain):
    post_save.connect(host_cache.clear, sender=_model, dispatch_uid=f"host_cache_{_model}_save")
    post_delete.connect(host_cache.clear, sender=_model, dispatch_uid=f"host_cache_{_model}_delete")


class PortalTenantMiddleware(TenantMainMiddleware):
    """django-tenants' routing, with PORTAL_DOMAIN always the public site."""

    def get_tenant(self, domain_model, hostname):
        if hostname == settings.PORTAL_DOMAIN:
            # The public site needs no row: an unsaved client naming the public schema.
            return Client(schema_name=get_public_schema_name(), name="BSP portal", slug="")
        tenant = host_cache.get(hostname)
        if tenant is not None:
            return tenant
        tenant = super().get_tenant(domain_model, hostname)
        if tenant.is_template:
            raise domain_model.DoesNotExist
        host_cache.put(hostname, tenant)
        return tenant

    def no_tenant_found(self, request, hostname):
        raise Http404(f"No client is served at {hostname}.")


class TenantAccessMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tenant = getattr(request, "tenant", None)
        request.tenant_access = None
        if request.user.is_authenticated:
            bound = request.session.setdefault(SESSION_SCHEMA_KEY, connection.schema_name)
            if bound != connection.schema_name:
                logout(request)
        if tenant is None or connection.schema_name == get_public_schema_name():
            return self.get_response(request)
        if request.path.startswith(OPEN_PREFIXES):
            return self.get_response(request)
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        # One read of the user's memberships serves the access check and the layout's tenant
        # switcher (tenants.context_processors), which would otherwise ask again.
        memberships = clients_for_user(user=request.user)
        request.user_memberships = (request.user.pk, memberships)
        access = tenant_access_for(user=request.user, client=tenant, memberships=memberships)
        if access is None:
            return render(request, "tenants/no_access.html", {"client": tenant}, status=403)
        request.tenant_access = access
        if access.is_staff_entry:
            session_key = f"staff_entry:{tenant.pk}"
            if not request.session.get(session_key):
                services.staff_entry_record(user=request.user, client=tenant, request=request)
                request.session[session_key] = True
        return self.get_response(request)


def bind_session_to_schema(request) -> None:
    """Called right after a login: this session belongs to the current host's schema."""
    request.session[SESSION_SCHEMA_KEY] = connection.schema_name
