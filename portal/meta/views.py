"""Meta's webhook endpoint (public host): verified, stored, answered; processed after commit."""

from __future__ import annotations

import hmac
import logging
from html import escape

from django.contrib import messages
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from portal.meta import credentials, selectors, services
from portal.meta.models import ChangeState, DeliveryState, WebhookChange, WebhookDelivery
from portal.meta.signatures import HEADER, verify
from portal.outage import outage_response
from tenants.permissions import Area
from tenants.views import staff_required

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 3 * 1024 * 1024  # Meta batches up to 3 MB (Django's own cap is 2.5 MB)


@csrf_exempt
def meta_webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _handshake(request)
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "GET, POST"})
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return HttpResponse("Bad Content-Length.", status=400, content_type="text/plain")
    if declared > MAX_BODY_BYTES:
        return HttpResponse("Payload too large.", status=413, content_type="text/plain")
    # Read the raw stream (not request.body, which applies Django's smaller upload cap).
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return HttpResponse("Payload too large.", status=413, content_type="text/plain")
    try:
        secrets = credentials.app_secrets()
        if not verify(body, request.headers.get(HEADER), secrets):
            return HttpResponse("Invalid signature.", status=401, content_type="text/plain")
        services.webhook_delivery_store(body=body)  # one statement, committed on its own
    except DatabaseError:
        # Not stored, so not answered 200: Meta retries for 7 days.
        logger.warning("Webhook not stored: the database is unavailable", exc_info=True)
        return outage_response(request)
    return HttpResponse(status=200)


def _handshake(request: HttpRequest) -> HttpResponse:
    expected = credentials.verify_token()
    given = request.GET.get("hub.verify_token", "")
    challenge = request.GET.get("hub.challenge", "")
    if (
        request.GET.get("hub.mode") == "subscribe"
        and expected
        and hmac.compare_digest(given.encode(), expected.encode())
    ):
        return HttpResponse(challenge, content_type="text/plain")
    return HttpResponse("Verification failed.", status=403, content_type="text/plain")


def _change_filter(params) -> selectors.ChangeFilter:
    state = params.get("state", ChangeState.FAILED)
    if state not in ChangeState.values:
        state = ChangeState.FAILED
    client = params.get("client", "")
    field = params.get("field", "")
    return selectors.ChangeFilter(
        state=state,
        client_id=int(client) if client.isdigit() else None,
        field=field if field in selectors.field_names() else "",
        error=params.get("error", None),
    )


def _tabs(counts: dict[str, int], choices) -> list[tuple[str, str, int]]:
    return [(value, label, counts[value]) for value, label in choices.choices if value in counts]


def _client_options(selected: int | None) -> SafeString:
    """The client filter's `<option>`s, written here rather than by a template loop: with a
    thousand clients the loop (a variable lookup, an `if` and two escapes an option) was most
    of the page's time. The markup is the loop's: `html.escape` is what autoescaping applies
    to a name, and an id renders as plain digits."""
    from tenants.selectors import clients_routable

    rows = clients_routable().order_by("name").values_list("pk", "name")
    return mark_safe(  # noqa: S308 - every name is escaped above
        "".join(
            f'<option value="{pk}"{" selected" if pk == selected else ""}>{escape(name)}</option>'
            for pk, name in rows
        )
    )


@staff_required(Area.WEBHOOKS)
def staff_webhooks(request: HttpRequest) -> HttpResponse:
    """Every change by state, identical ones grouped, with the reason; deliveries by state."""
    if request.GET.get("view") == "deliveries":
        state = request.GET.get("state", DeliveryState.REJECTED)
        if state not in DeliveryState.values:
            state = DeliveryState.REJECTED
        return render(
            request,
            "meta/staff_webhook_deliveries.html",
            {
                "state": state,
                "tabs": _tabs(selectors.delivery_counts(), DeliveryState),
                "change_tabs": _tabs(selectors.state_counts(), ChangeState),
                "deliveries": selectors.deliveries(state),
            },
        )
    change_filter = _change_filter(request.GET)
    grouped = change_filter.error is None
    return render(
        request,
        "meta/staff_webhooks.html",
        {
            "filter": change_filter,
            "change_tabs": _tabs(selectors.state_counts(), ChangeState),
            "groups": selectors.change_groups(change_filter) if grouped else None,
            "changes": None if grouped else selectors.changes_of_group(change_filter),
            "fields": selectors.field_names(),
            "client_options": _client_options(change_filter.client_id),
            "query": request.GET.urlencode(),
        },
    )


@staff_required(Area.WEBHOOKS)
def staff_webhook_delivery(request: HttpRequest, delivery_id: int) -> HttpResponse:
    delivery = get_object_or_404(WebhookDelivery.objects.all(), pk=delivery_id)
    body, cut = selectors.delivery_body_text(delivery)
    return render(
        request,
        "meta/staff_webhook_delivery.html",
        {
            "delivery": delivery,
            "body": body,
            "cut": cut,
            "changes": delivery.changes.select_related("client").order_by("id")[:500],
        },
    )


@require_POST
@staff_required(Area.WEBHOOKS)
def staff_webhook_retry(request: HttpRequest, change_id: int) -> HttpResponse:
    change = get_object_or_404(WebhookChange, pk=change_id)
    state = services.webhook_change_retry(change=change, actor=request.user)
    if state in (ChangeState.APPLIED, ChangeState.LATE):
        messages.success(request, "The change was applied.")
    elif state is None:
        messages.error(request, "Still no client owns this WABA (or no handler for its field).")
    else:
        error = WebhookChange.objects.values_list("error", flat=True).get(pk=change_id)
        messages.error(request, f"The change is {state} again: {error}")
    return redirect(_back(request))


@require_POST
@staff_required(Area.WEBHOOKS)
def staff_webhook_dismiss(request: HttpRequest, change_id: int) -> HttpResponse:
    change = get_object_or_404(WebhookChange, pk=change_id)
    services.webhook_change_dismiss(change=change, actor=request.user)
    messages.success(request, "The change was dismissed.")
    return redirect(_back(request))


def _back(request: HttpRequest) -> str:
    """Back to the list the action was taken on (only ever a path on this site)."""
    query = request.POST.get("back", "")
    return reverse("staff-webhooks") + ("?" + query if query and "//" not in query else "")
