"""Sign-in, the tenant switcher, the client dashboard shell and the staff console."""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponsePermanentRedirect,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme

from portal.exports import csv_download, list_querystring
from portal.template_urls import url_filler
from tenants import selectors, services
from tenants.actors import Actor, request_may
from tenants.choices import ClientStatus
from tenants.forms import ClientCreateForm, FleetFilterForm, LinkWabaForm, LoginForm
from tenants.middleware import bind_session_to_schema
from tenants.models import Client
from tenants.permissions import Area
from tenants.staff_rows import console_rows_html, fleet_rows_html


def staff_required(area: Area):
    """BSP staff whose role reaches `area` (tenants.permissions.STAFF_AREAS); others get a 403,
    anonymous users the login page. Views naming a client check it with `staff_client_get`."""
    if not isinstance(area, Area):  # the old bare `@staff_required` (is_staff only) is gone
        raise TypeError("staff_required needs the view's area: @staff_required(Area.X)")

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(request: HttpRequest, *args, **kwargs):
            actor = Actor.staff(request.user) if request.user.is_staff else None
            if actor is None or not actor.may(area):
                raise PermissionDenied("Your staff role does not reach this part of the portal.")
            request.actor = actor
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def staff_client_get(request: HttpRequest, slug: str, area: Area) -> Client:
    """The client a staff page names, if the signed-in staff member's role reaches `area` of it
    (an account manager: their own clients only); else a 404, as for a client that is not."""
    client = get_object_or_404(selectors.clients_routable(), slug=slug)
    if not Actor.staff(request.user).may(area, client=client):
        raise Http404("No such client.")
    return client


def client_url(request: HttpRequest, client: Client, path: str = "/") -> str:
    """An absolute URL on `client`'s host, keeping the scheme and port of this request."""
    port = request.get_port()
    default_port = "443" if request.is_secure() else "80"
    suffix = "" if port in ("", default_port) else f":{port}"
    return f"{request.scheme}://{services.client_host(client)}{suffix}{path}"


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on a first visit (and pages without our layout, like the
    admin, link none): send them to ours instead of a 404."""
    from django.templatetags.static import static

    return HttpResponsePermanentRedirect(static("portal/favicon.svg"))


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    template_name = "tenants/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        tenant = self.request.tenant
        context["login_client"] = None if tenant.is_public else tenant
        return context

    def form_valid(self, form):
        response = super().form_valid(form)
        bind_session_to_schema(self.request)
        return response


class LogoutView(auth_views.LogoutView):
    pass


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Public host: pick a client, or go to the staff console. Client host: the dashboard."""
    if connection.schema_name != "public":
        return dashboard(request)
    memberships = selectors.clients_for_user(user=request.user)
    if not request.user.is_staff and len(memberships) == 1:
        return switch(request, memberships[0].client.slug)
    return render(request, "tenants/workspaces.html", {"memberships": memberships})


# Where entering a client lands for a staff role that does not reach its dashboard.
AREA_LANDINGS = ((Area.TEMPLATES, "template-list"), (Area.APPEALS, "appeal-list"))


def dashboard(request: HttpRequest) -> HttpResponse:
    """The client's dashboard; staff whose role does not reach it (a template reviewer, an
    appeals agent) land on the part of the client their role works instead."""
    from compliance.views import dashboard as compliance_dashboard

    if not request_may(request, Area.NUMBERS):
        for area, url_name in AREA_LANDINGS:
            if request_may(request, area):
                return redirect(url_name)
        raise PermissionDenied("Your role does not reach this part of the portal.")
    return compliance_dashboard(request)


@login_required
def switch(request: HttpRequest, slug: str) -> HttpResponse:
    """Carry this login to another client's host with a single-use hand-off."""
    client = get_object_or_404(selectors.clients_routable(), slug=slug)
    if selectors.tenant_access_for(user=request.user, client=client) is None:
        raise PermissionDenied("No access to this client.")
    ticket = services.login_handoff_issue(user=request.user, client=client)
    query = {"t": ticket.token}
    next_path = request.GET.get("next", "")
    if next_path.startswith("/") and not next_path.startswith("//"):  # a path on that host
        query["next"] = next_path
    return HttpResponseRedirect(client_url(request, client, f"/auth/handoff/?{urlencode(query)}"))


def handoff(request: HttpRequest) -> HttpResponse:
    """Redeem a hand-off on a client host and start this host's own session."""
    client = request.tenant
    user = services.login_handoff_redeem(token=request.GET.get("t", ""), client=client)
    if user is None or selectors.tenant_access_for(user=user, client=client) is None:
        messages.error(request, "That sign-in link has expired. Please sign in again.")
        return redirect("login")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    bind_session_to_schema(request)
    next_url = request.GET.get("next", "/")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = "/"
    return redirect(next_url)


_CLIENT_STATUS_LABELS = dict(ClientStatus.choices)


@staff_required(Area.CLIENTS)
def staff_console(request: HttpRequest) -> HttpResponse:
    """Clients by name, 50 a page (keyset: `?after=` the last one shown), searchable."""
    search = request.GET.get("q", "").strip()
    after = _console_cursor(request.GET.get("after", ""))
    page = selectors.STAFF_CONSOLE_PAGE
    clients = selectors.clients_for_staff_console(
        search=search, managed_by=request.actor.list_manager_id, after=after, limit=page
    )
    next_query = ""
    if len(clients) > page:
        clients = clients[:page]
        last = clients[-1]
        next_query = urlencode({**({"q": search} if search else {}), "after": f"{last.pk}"})
    first_query = urlencode({"q": search}) if search else ""
    enter, link_waba = url_filler("switch"), url_filler("staff-link-waba")
    for client in clients:
        client.enter_url, client.link_waba_url = enter(client.slug), link_waba(client.slug)
        # The label made once a row: in the template get_status_display rebuilds the choices.
        client.status_label = _CLIENT_STATUS_LABELS.get(client.status, client.status)
    template = "tenants/partials/client_rows.html" if request.htmx else "tenants/staff_console.html"
    context = {
        "clients": clients,
        "rows": console_rows_html(clients),
        "q": search,
        "next_query": next_query,
        "first_query": first_query,
        "paged": after is not None,
    }
    return render(request, template, context)


def _console_cursor(raw: str) -> tuple[str, int] | None:
    """`after` is the id of the last client shown; its name is read back (one indexed
    lookup), so the link stays short and a bad value just starts from the first page."""
    if not raw.isdigit():
        return None
    name = Client.objects.filter(pk=int(raw)).values_list("name", flat=True).first()
    return None if name is None else (name, int(raw))


@staff_required(Area.CLIENTS)
def staff_client_create(request: HttpRequest) -> HttpResponse:
    form = ClientCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            client = services.client_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{client.name} is ready at {services.client_host(client)}.")
            return redirect("staff-console")
    return render(request, "tenants/client_create.html", {"form": form})


FLEET_CSV_HEADER = [
    "client", "number", "verified_name", "waba_id", "status", "quality", "messaging_limit",
    "health_score", "band", "verification", "ban_state", "last_confirmed_at", "reasons",
]  # fmt: skip


@staff_required(Area.FLEET)
def staff_fleet(request: HttpRequest) -> HttpResponse:
    """Every client's numbers, riskiest first (or sorted, searched and filtered), 50 a page:
    one indexed query on the public work index, never a loop over schemas. `?export=csv`
    downloads every matching row."""
    form = FleetFilterForm(request.GET)
    filters = form.filters()
    managed_by = request.actor.list_manager_id
    if request.GET.get("export") == "csv":
        rows = (
            [
                item.client.slug,
                item.title,
                item.subtitle,
                item.data.get("waba_id"),
                item.status,
                item.data.get("quality"),
                item.data.get("messaging_limit"),
                item.sort_key,
                item.band,
                item.data.get("verification"),
                item.data.get("ban_state"),
                item.data.get("last_confirmed_at"),
                " ".join(item.data.get("reasons") or []),
            ]
            for item in selectors.fleet_numbers(
                **filters, managed_by=managed_by, limit=None
            ).iterator(chunk_size=2000)
        )
        return csv_download(filename="fleet-health.csv", header=FLEET_CSV_HEADER, rows=rows)
    sort = selectors.FLEET_SORTS[filters["sort"]]
    after = selectors.list_cursor_parse(request.GET.get("after"), sort)
    items = list(selectors.fleet_numbers(**filters, managed_by=managed_by, after=after))
    more = selectors.list_cursor_after(items, sort=sort, limit=selectors.FLEET_PAGE_SIZE)
    enter = url_filler("switch")
    for item in items:
        confirmed = item.data.get("last_confirmed_at")
        item.last_confirmed = parse_datetime(confirmed) if confirmed else None
        item.enter_url = enter(item.client.slug)
    return render(
        request,
        "tenants/staff_fleet.html",
        {
            "items": items,
            "rows": fleet_rows_html(items),
            "form": form,
            "filtered": any(v for k, v in filters.items() if k != "sort"),
            "next_query": list_querystring(request.GET, after=more) if more else "",
            "first_query": list_querystring(request.GET, after=None) if after else "",
            "export_query": list_querystring(request.GET, after=None, export="csv"),
        },
    )


@staff_required(Area.CLIENTS)
def staff_link_waba(request: HttpRequest, slug: str) -> HttpResponse:
    from compliance.services import account_link

    client = staff_client_get(request, slug, Area.CLIENTS)
    form = LinkWabaForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account_link(client=client, actor=request.user, **form.cleaned_data)
        except ValueError as exc:
            form.add_error("waba_id", str(exc))
        else:
            messages.success(
                request, f"WABA {form.cleaned_data['waba_id']} linked to {client.name}."
            )
            return redirect("staff-console")
    return render(request, "tenants/link_waba.html", {"form": form, "client": client})
