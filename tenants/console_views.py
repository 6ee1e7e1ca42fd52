"""A client's own settings pages on its host: API keys, members and invitations, notifications,
and the activity trail. Owners and admins manage keys and members; every member sets their own
notifications and may read the activity. Views only call services and selectors."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.formats import localize
from django.utils.safestring import mark_safe
from django.utils.timezone import localtime
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.audit import selectors as audit_selectors
from portal.rows import escape
from portal.template_dates import date_filter
from tenants import members, notifications, services
from tenants.actors import require_area
from tenants.forms import (
    ActivityFilterForm,
    ApiKeyCreateForm,
    InvitationAcceptForm,
    InviteForm,
    NotificationForm,
    RoleForm,
)
from tenants.middleware import bind_session_to_schema
from tenants.models import ApiKey, Invitation, Membership, User
from tenants.permissions import MANAGERS, Area
from tenants.selectors import members_of_client

ACTIVITY_PER_PAGE = 50
_SHOWN_KEY = "console.new_api_key"


def _errors_of(exc: ValidationError) -> str:
    return " ".join(exc.messages)


# --- API keys ---------------------------------------------------------------------------------


@require_area(Area.SETTINGS, roles=MANAGERS)
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    """The client's keys (active and revoked) and the form for a new one. A new key's secret is
    shown once, on the page right after it is made, and never again."""
    form = ApiKeyCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            key, raw = services.api_key_create(
                client=request.tenant,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                actor=request.user,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            request.session[_SHOWN_KEY] = {"id": key.pk, "raw": raw}
            return redirect("console-api-keys")
    shown = request.session.pop(_SHOWN_KEY, None)
    return render(
        request,
        "tenants/console/api_keys.html",
        {
            "form": form,
            "keys": list(ApiKey.objects.filter(client=request.tenant).select_related("created_by")),
            "shown": shown,
        },
        status=400 if form.errors else 200,
    )


def _key_of_tenant(request: HttpRequest, key_id: int) -> ApiKey:
    return get_object_or_404(ApiKey, pk=key_id, client=request.tenant)


@require_area(Area.SETTINGS, roles=MANAGERS)
@require_POST
def api_key_rotate(request: HttpRequest, key_id: int) -> HttpResponse:
    key = _key_of_tenant(request, key_id)
    try:
        new, raw = services.api_key_rotate(api_key=key, actor=request.user)
    except ValidationError as exc:
        messages.error(request, _errors_of(exc))
    else:
        request.session[_SHOWN_KEY] = {"id": new.pk, "raw": raw, "rotated": key.prefix}
    return redirect("console-api-keys")


@require_area(Area.SETTINGS, roles=MANAGERS)
@require_POST
def api_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    key = _key_of_tenant(request, key_id)
    services.api_key_revoke(api_key=key, actor=request.user)
    messages.success(request, f"Key {key.name} ({key.prefix}…) is revoked; it stops working now.")
    return redirect("console-api-keys")


# --- Members and invitations ------------------------------------------------------------------


def _accept_url(request: HttpRequest) -> str:
    port = request.get_port()
    default_port = "443" if request.is_secure() else "80"
    return members.invitation_accept_url(
        scheme=request.scheme,
        client=request.tenant,
        port="" if port in ("", default_port) else port,
    )


@require_area(Area.SETTINGS, roles=MANAGERS)
@require_http_methods(["GET", "POST"])
def member_list(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation, _ = members.invitation_create(
                client=request.tenant,
                actor=request.user,
                accept_url=_accept_url(request),
                **form.cleaned_data,
            )
        except ValidationError as exc:
            form.add_error("role" if exc.code == "owner" else "email", exc)
        else:
            messages.success(
                request,
                f"Invitation sent to {invitation.email}; the link works once, for "
                f"{members.INVITATION_DAYS} days.",
            )
            return redirect("console-members")
    now = timezone.now()
    invitations = list(
        Invitation.objects.filter(client=request.tenant).select_related("invited_by")[:50]
    )
    for invitation in invitations:
        invitation.current_state = invitation.state(now)
    return render(
        request,
        "tenants/console/members.html",
        {
            "form": form,
            "members": list(members_of_client(client=request.tenant)),
            "invitations": invitations,
            "roles": RoleForm.base_fields["role"].choices,
        },
        status=400 if form.errors else 200,
    )


def _membership_of_tenant(request: HttpRequest, membership_id: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user", "client"),
        pk=membership_id,
        client=request.tenant,
    )


@require_area(Area.SETTINGS, roles=MANAGERS)
@require_POST
def member_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = _membership_of_tenant(request, membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a role.")
        return redirect("console-members")
    try:
        members.membership_change_role(
            membership=membership, role=form.cleaned_data["role"], actor=request.user
        )
    except ValidationError as exc:
        messages.error(request, _errors_of(exc))
    else:
        messages.success(request, f"{membership.user.email} is now {form.cleaned_data['role']}.")
    return redirect("console-members")


@require_area(Area.SETTINGS, roles=MANAGERS)
@require_POST
def member_remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = _membership_of_tenant(request, membership_id)
    try:
        members.membership_remove(membership=membership, actor=request.user)
    except ValidationError as exc:
        messages.error(request, _errors_of(exc))
    else:
        messages.success(request, f"{membership.user.email} no longer has access.")
    return redirect("console-members")


@require_area(Area.SETTINGS, roles=MANAGERS)
@require_POST
def invitation_revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation, pk=invitation_id, client=request.tenant)
    members.invitation_revoke(invitation=invitation, actor=request.user)
    messages.success(request, f"The invitation to {invitation.email} is withdrawn.")
    return redirect("console-members")


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The link from the e-mail (no sign-in needed): set a password, or confirm the existing
    account's, and join. A used, withdrawn or expired link says so."""
    try:
        invitation = members.invitation_lookup(client=request.tenant, token=token)
    except members.InvitationInvalid as exc:
        return render(
            request,
            "tenants/console/invitation_invalid.html",
            {"message": str(exc), "reason": exc.reason},
            status=410 if exc.reason != "unknown" else 404,
        )
    existing = User.objects.filter(email__iexact=invitation.email).exists()
    form = InvitationAcceptForm(request.POST or None, existing_account=existing)
    if request.method == "POST" and form.is_valid():
        try:
            _, user = members.invitation_accept(
                client=request.tenant,
                token=token,
                password=form.cleaned_data["password"],
                full_name=form.cleaned_data.get("full_name", ""),
            )
        except members.InvitationInvalid as exc:
            return render(
                request,
                "tenants/console/invitation_invalid.html",
                {"message": str(exc), "reason": exc.reason},
                status=410,
            )
        except ValidationError as exc:
            form.add_error("password", exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            bind_session_to_schema(request)
            messages.success(request, f"Welcome to {request.tenant.name}.")
            return redirect("home")
    return render(
        request,
        "tenants/console/invitation_accept.html",
        {"invitation": invitation, "form": form, "existing": existing},
        status=400 if form.errors else 200,
    )


# --- Notifications ----------------------------------------------------------------------------


@require_area(Area.SETTINGS)
@require_http_methods(["GET", "POST"])
def notification_settings(request: HttpRequest) -> HttpResponse:
    """The signed-in member's own alert e-mails. BSP staff entering a client have no membership
    here (their alerts go by the account manager rule)."""
    membership = (
        Membership.objects.select_related("client", "notification_setting")
        .filter(client=request.tenant, user=request.user)
        .first()
    )
    if membership is None:
        raise PermissionDenied("Notification settings belong to the client's members.")
    preference = notifications.preference_for(membership)
    form = NotificationForm(
        request.POST or None,
        initial={"severities": list(preference.severities), "delivery": preference.delivery},
    )
    if request.method == "POST" and form.is_valid():
        notifications.notification_setting_update(
            membership=membership, actor=request.user, **form.cleaned_data
        )
        messages.success(request, "Your notification settings are saved.")
        return redirect("console-notifications")
    return render(
        request,
        "tenants/console/notifications.html",
        {"form": form, "preference": preference},
        status=400 if form.errors else 200,
    )


# --- Activity ---------------------------------------------------------------------------------


def _activity_rows(request: HttpRequest):
    form = ActivityFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    rows = audit_selectors.client_activity(client=request.tenant, **filters)
    return form, rows


def _activity_row_html(rows: list) -> None:
    """Each audit row's markup (`row.html`), written here once a row instead of by the template's
    tags and its loop over the row's values (~15 lookups and escapes a row were most of the
    page's render). The markup is what the row template wrote (tests/tenants/
    test_activity_rows.py holds them side by side); values are localized and escaped as the
    template's output was."""
    for row in rows:
        at = localtime(row.at)
        detail = ""
        if row.after:
            detail = "; ".join(
                f"{escape(localize(k))}: {escape(localize(v))}" for k, v in row.after.items()
            )
        row.html = mark_safe(  # noqa: S308 - every value in it is escaped
            f'\n      <tr data-action="{escape(row.action)}">\n'
            f'        <td><time datetime="{escape(date_filter(at, "c"))}">'
            f"{escape(date_filter(at, 'Y-m-d H:i'))}</time></td>\n"
            f"        <td>{escape(row.actor_label or 'system')}</td>\n"
            f"        <td>{escape(row.label)}</td>\n"
            f'        <td class="muted">{detail}</td>\n      </tr>\n    '
        )


@require_area(Area.SETTINGS)
@require_GET
def activity(request: HttpRequest) -> HttpResponse:
    form, rows = _activity_rows(request)
    page = Paginator(rows.select_related(None), ACTIVITY_PER_PAGE).get_page(request.GET.get("page"))
    for row in page:
        row.label = audit_selectors.action_label(row.action)
    _activity_row_html(list(page))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "tenants/console/activity.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "actions": audit_selectors.client_actions(client=request.tenant),
        },
        status=400 if form.errors else 200,
    )


@require_area(Area.SETTINGS)
@require_GET
def activity_export(request: HttpRequest) -> HttpResponse:
    form, rows = _activity_rows(request)
    if form.errors:
        return HttpResponse(" ".join(m for ms in form.errors.values() for m in ms), status=400)
    response = StreamingHttpResponse(
        audit_selectors.activity_csv_lines(rows), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = (
        f'attachment; filename="activity-{request.tenant.slug}-{stamp}.csv"'
    )
    return response
