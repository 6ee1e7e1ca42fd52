"""Pages for a client's outbound webhooks (owners and admins): endpoints, their delivery log,
replay, secret rotation, pause and delete. Each action calls one service."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_POST

from integrations import selectors, services
from integrations.choices import EndpointState
from integrations.forms import EndpointForm
from integrations.models import WebhookDelivery
from portal.rows import csrf_field, escape, local_date
from portal.template_urls import url_filler
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


# What a row of an endpoint's delivery log shows of a delivery (`_delivery_rows`).
DELIVERY_ROW_FIELDS = (
    "endpoint_id", "event_type", "created_at", "state", "attempts", "response_status", "error",
    "latency_ms",
)  # fmt: skip


def _delivery_rows(request: HttpRequest, endpoint, deliveries: list) -> None:
    """Each delivery's row of the log (`delivery.row`), written here once a row instead of by
    the template's tags and filters (two `{% url %}`, a CSRF field, a date and a choice label a
    row were most of the page's render). The markup is what the row template wrote
    (tests/integrations/test_delivery_rows.py holds them side by side); values are escaped."""
    detail = url_filler("webhook-delivery", 2)
    replay = url_filler("webhook-delivery-replay", 2)
    states = {str(k): str(v) for k, v in WebhookDelivery._meta.get_field("state").flatchoices}
    # One masked CSRF token for all the replay forms, as `{% csrf_token %}` gave them (the
    # context's one lazy token); masking it a row costs ~100 µs of random numbers each.
    csrf = csrf_field(get_token(request))
    for d in deliveries:
        answer = d.response_status or d.error or "—"
        latency = f"{d.latency_ms} ms" if d.latency_ms is not None else "—"
        sent = local_date(d.created_at, "Y-m-d H:i:s")
        d.row = mark_safe(  # noqa: S308 - every value in it is escaped
            "\n      <tr>\n"
            f'        <td><a href="{escape(detail(endpoint.pk, d.pk))}">'
            f"{escape(d.event_type)}</a>"
            f'<br><span class="muted">{sent}</span></td>\n'
            f"        <td>{escape(states.get(d.state, d.state))}</td>\n"
            f"        <td>{escape(d.attempts)}</td>\n"
            f"        <td>{escape(answer)}</td>\n"
            f"        <td>{escape(latency)}</td>\n"
            f'        <td><form method="post" action="{escape(replay(endpoint.pk, d.pk))}">'
            f"{csrf}"
            '<button type="submit">Replay</button></form></td>\n'
            "      </tr>\n    "
        )


@require_area(Area.INTEGRATIONS, roles=MANAGERS)
def endpoint_detail(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = selectors.endpoint_get(endpoint_id=endpoint_id)
    deliveries = list(selectors.deliveries_of(endpoint=endpoint).only(*DELIVERY_ROW_FIELDS)[:100])
    _delivery_rows(request, endpoint, deliveries)
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
