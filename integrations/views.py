"""Pages for a client's outbound webhooks (owners and admins): endpoints, their delivery log,
replay, secret rotation, pause and delete. Each action calls one service."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from integrations import selectors, services
from integrations.choices import EndpointState
from integrations.forms import EndpointForm
from tenants.actors import require_area
from tenants.permissions import MANAGERS, Area


def _secret_page(request, endpoint, secret, what):
    return render(
        request,
        "integrations/secret.html",
        {"endpoint": endpoint, "secret": secret, "what": what},
    )


@require_area(Area.INTEGRATIONS, roles=MANAGERS)
@require_http_methods(["GET", "POST"])
def endpoint_list(request: HttpRequest) -> HttpResponse:
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.endpoint_create(actor=request.user, **form.cleaned_data)
        except services.EndpointInputError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            return _secret_page(request, created.endpoint, created.secret, "created")
    return render(
        request,
        "integrations/endpoint_list.html",
        {"endpoints": selectors.endpoints_list(), "form": form},
        status=400 if form.errors else 200,
    )


@require_area(Area.INTEGRATIONS, roles=MANAGERS)
def endpoint_detail(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = selectors.endpoint_get(endpoint_id=endpoint_id)
    deliveries = list(selectors.deliveries_of(endpoint=endpoint)[:100])
    return render(
        request,
        "integrations/endpoint_detail.html",
        {"endpoint": endpoint, "deliveries": deliveries, "states": EndpointState},
    )


@require_area(Area.INTEGRATIONS, roles=MANAGERS)
def delivery_detail(request: HttpRequest, endpoint_id: int, delivery_id: int) -> HttpResponse:
    endpoint = selectors.endpoint_get(endpoint_id=endpoint_id)
    delivery = selectors.delivery_get(endpoint=endpoint, delivery_id=delivery_id)
    return render(
        request,
        "integrations/delivery_detail.html",
        {
            "endpoint": endpoint,
            "delivery": delivery,
            "attempts": selectors.attempts_of(delivery=delivery),
        },
    )


@require_area(Area.INTEGRATIONS, roles=MANAGERS)
@require_POST
def endpoint_action(request: HttpRequest, endpoint_id: int, action: str) -> HttpResponse:
    endpoint = selectors.endpoint_get(endpoint_id=endpoint_id)
    if action == "rotate":
        rotated = services.endpoint_rotate_secret(endpoint=endpoint, actor=request.user)
        return _secret_page(request, rotated.endpoint, rotated.secret, "rotated")
    if action == "delete":
        services.endpoint_delete(endpoint=endpoint, actor=request.user)
        messages.success(request, f"Endpoint {endpoint.url} deleted.")
        return redirect("webhook-endpoints")
    if action == "test":
        services.endpoint_send_test(endpoint=endpoint, actor=request.user)
        messages.success(request, "A webhook.test event is on its way.")
    elif action in ("pause", "resume"):
        target = EndpointState.PAUSED if action == "pause" else EndpointState.ACTIVE
        try:
            services.endpoint_transition(endpoint=endpoint, to=target, actor=request.user)
        except services.EndpointTransitionError as exc:
            messages.error(request, str(exc))
    else:
        return HttpResponse("Unknown action.", status=404)
    return redirect("webhook-endpoint", endpoint.pk)


@require_area(Area.INTEGRATIONS, roles=MANAGERS)
@require_POST
def delivery_replay(request: HttpRequest, endpoint_id: int, delivery_id: int) -> HttpResponse:
    endpoint = selectors.endpoint_get(endpoint_id=endpoint_id)
    delivery = selectors.delivery_get(endpoint=endpoint, delivery_id=delivery_id)
    services.delivery_replay(delivery=delivery, actor=request.user)
    messages.success(request, f"Delivery {delivery.message_id} will be sent again.")
    return redirect("webhook-endpoint", endpoint.pk)
