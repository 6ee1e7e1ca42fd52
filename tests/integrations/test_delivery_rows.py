"""An endpoint's delivery log rows, written by the view (`_delivery_rows`), are the markup the
row template wrote (side by side, CSRF tokens aside: each is a fresh masking of the same secret),
and a row's replay form still passes the CSRF check."""

from __future__ import annotations

import re

from django.template import Context, Template
from django.test import Client as HttpClient
from django.test import RequestFactory
from django_tenants.utils import schema_context

from integrations import services
from integrations.models import WebhookDelivery
from integrations.views import DELIVERY_ROW_FIELDS, _delivery_rows
from tests.conftest import host_of

# The loop body as the endpoint page had it, before the rows were written by the view.
ROW_TEMPLATE = """{% for d in deliveries %}
      <tr>
        <td><a href="{% url 'webhook-delivery' endpoint.pk d.pk %}">{{ d.event_type }}</a><br><span class="muted">{{ d.created_at|date:"Y-m-d H:i:s" }}</span></td>
        <td>{{ d.get_state_display }}</td>
        <td>{{ d.attempts }}</td>
        <td>{{ d.response_status|default:d.error|default:"—" }}</td>
        <td>{% if d.latency_ms is not None %}{{ d.latency_ms }} ms{% else %}—{% endif %}</td>
        <td><form method="post" action="{% url 'webhook-delivery-replay' endpoint.pk d.pk %}">{% csrf_token %}<button type="submit">Replay</button></form></td>
      </tr>
    {% endfor %}"""  # noqa: E501

TOKEN = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]+')


def test_each_row_is_what_the_row_template_wrote(acme, acme_owner, receiver):
    with schema_context(acme.schema_name):
        endpoint = services.endpoint_create(url=receiver.url, actor=acme_owner).endpoint
        rows = [
            {"state": "pending"},
            {"state": "delivered", "attempts": 1, "response_status": 204, "latency_ms": 0},
            {"state": "failed", "attempts": 9, "error": "refused <&\"'>", "latency_ms": 1200},
            {"state": "failed", "attempts": 2, "response_status": 500, "error": "server"},
        ]
        for n, row in enumerate(rows):
            WebhookDelivery.objects.create(
                endpoint=endpoint, message_id=f"msg_{n}", event_type=f"alert.<{n}>", payload={},
                **row,
            )  # fmt: skip
        deliveries = list(
            WebhookDelivery.objects.filter(endpoint=endpoint).only(*DELIVERY_ROW_FIELDS)
        )
        request = RequestFactory().get("/")
        old = Template(ROW_TEMPLATE).render(
            Context({"deliveries": deliveries, "endpoint": endpoint, "csrf_token": "x"})
        )
        _delivery_rows(request, endpoint, deliveries)
    new = "".join(d.row for d in deliveries)
    assert TOKEN.sub(r"\1T", new) == TOKEN.sub(r"\1T", old)
    assert "refused &lt;&amp;&quot;&#x27;&gt;" in new
    assert "<td>204</td>" in new
    assert "<td>0 ms</td>" in new


def test_a_rows_replay_form_passes_the_csrf_check(acme, acme_owner, receiver):
    with schema_context(acme.schema_name):
        endpoint = services.endpoint_create(url=receiver.url, actor=acme_owner).endpoint
        delivery = services.endpoint_send_test(endpoint=endpoint, actor=acme_owner)
    http = HttpClient(HTTP_HOST=host_of(acme), enforce_csrf_checks=True)
    http.force_login(acme_owner)
    page = http.get(f"/integrations/webhooks/{endpoint.pk}/").content.decode()
    token = TOKEN.search(page.split("deliveries/", 1)[1]).group(0).rsplit('"', 1)[1]

    path = f"/integrations/webhooks/{endpoint.pk}/deliveries/{delivery.pk}/replay/"
    assert http.post(path, {"csrfmiddlewaretoken": token}).status_code == 302
    assert http.post(path, {"csrfmiddlewaretoken": "x" * 64}).status_code == 403
