"""Meta's webhook endpoint (public host): verified, stored, answered; processed after commit."""

from __future__ import annotations

import hmac

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from portal.meta import credentials, services
from portal.meta.models import ChangeState, WebhookChange
from portal.meta.signatures import HEADER, verify
from tenants.permissions import Area
from tenants.views import staff_required

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
    if not verify(body, request.headers.get(HEADER), credentials.app_secrets()):
        return HttpResponse("Invalid signature.", status=401, content_type="text/plain")
    services.webhook_delivery_store(body=body)
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


@staff_required(Area.WEBHOOKS)
def staff_webhooks(request: HttpRequest) -> HttpResponse:
    """Changes staff must look at: unroutable (unknown WABA, unhandled field) or failed."""
    state = request.GET.get("state", ChangeState.UNROUTABLE)
    if state not in (ChangeState.UNROUTABLE, ChangeState.FAILED):
        state = ChangeState.UNROUTABLE
    changes = list(
        WebhookChange.objects.filter(state=state)
        .select_related("client")
        .order_by("-created_at")[:200]
    )
    return render(request, "meta/staff_webhooks.html", {"changes": changes, "state": state})


@require_POST
@staff_required(Area.WEBHOOKS)
def staff_webhook_retry(request: HttpRequest, change_id: int) -> HttpResponse:
    change = get_object_or_404(WebhookChange, pk=change_id)
    if services.webhook_change_retry(change=change, actor=request.user) == "applied":
        messages.success(request, "The change was applied.")
    else:
        messages.error(request, "Still no client for this WABA (or the change failed again).")
    return redirect("staff-webhooks")
