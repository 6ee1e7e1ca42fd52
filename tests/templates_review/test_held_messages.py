"""Messages Meta holds under template pacing, counted per template: the client's system reports
Meta's send answers (`POST /api/v1/templates/send-results/`); a held message stops being held
when its first delivery status arrives by webhook, when it is reported accepted, or when the
template's hold ends. Another client's key cannot touch this client's templates."""

from django.utils import timezone
from django_tenants.utils import schema_context

from compliance.choices import EventKind
from compliance.models import HealthEvent
from portal.meta.services import webhook_delivery_process, webhook_delivery_store
from templates_review.models import HeldMessage, MessageTemplate
from tenants.services import api_key_create
from tests.assets import ACME_PHONE, ACME_WABA
from tests.factories import MessageTemplateFactory
from tests.webhooks import body_of, envelope

URL = "/api/v1/templates/send-results/"


def _result(wamid: str, status: str = "held_for_quality_assessment", **overrides) -> dict:
    return {
        "message_id": wamid,
        "message_status": status,
        "phone_number_id": ACME_PHONE,
        "template": {"name": "spring_sale", "language": "en_US"},
        **overrides,
    }


def _template(acme, acme_waba):
    with schema_context(acme.schema_name):
        return MessageTemplateFactory(
            account=acme_waba, name="spring_sale", language="en_US", category="marketing"
        )


def _held(acme, template) -> tuple[int, object]:
    with schema_context(acme.schema_name):
        fresh = MessageTemplate.objects.get(pk=template.pk)
        return fresh.held_count, fresh.held_since


def _delivered(wamid: str, status: str = "sent", error: int | None = None) -> None:
    item = {
        "id": wamid,
        "status": status,
        "timestamp": str(int(timezone.now().timestamp())),
        "recipient_id": "447700900123",
    }
    if error:
        item["errors"] = [{"code": error, "title": "Template is Paused"}]
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100001", "phone_number_id": ACME_PHONE},
        "statuses": [item],
    }
    delivery = webhook_delivery_store(
        body=body_of(envelope(ACME_WABA, "messages", value, time=None))
    )
    webhook_delivery_process(delivery_id=delivery)


def test_held_answers_are_counted_and_end_with_a_status_or_an_accept(
    api, acme, acme_waba, acme_number
):
    template = _template(acme, acme_waba)
    _, key = api_key_create(client=acme, name="sender", scopes=["read", "write"])
    results = [
        _result("wamid.H1"),
        _result("wamid.H2"),
        _result("wamid.H3"),
        _result("wamid.A1", "accepted"),
        _result("wamid.X", template={"name": "no_such_template", "language": "en_US"}),
    ]

    response = api(acme, key=key).post(URL, {"results": results}, format="json")

    assert response.status_code == 200, response.content
    assert response.json() == {"recorded": 4, "held": 3, "released": 0, "unknown": [4]}
    count, since = _held(acme, template)
    assert count == 3
    assert since is not None
    with schema_context(acme.schema_name):
        assert HealthEvent.objects.filter(kind=EventKind.TEMPLATE_HELD).count() == 1

    # Reported twice: nothing changes.
    again = api(acme, key=key).post(URL, {"results": results[:2]}, format="json")
    assert again.json()["held"] == 0
    assert _held(acme, template)[0] == 3

    _delivered("wamid.H1", "sent")  # released after a good signal
    _delivered("wamid.H2", "failed", error=132015)  # dropped when the template was paused
    assert _held(acme, template)[0] == 1

    released = api(acme, key=key).post(
        URL, {"results": [_result("wamid.H3", "accepted")]}, format="json"
    )
    assert released.json() == {"recorded": 1, "held": 0, "released": 1, "unknown": []}
    assert _held(acme, template) == (0, None)
    with schema_context(acme.schema_name):
        assert not HeldMessage.objects.exists()
        assert HealthEvent.objects.filter(kind=EventKind.TEMPLATE_HELD).count() == 1


def test_a_message_whose_status_came_first_is_not_held(api, acme, acme_waba, acme_number):
    template = _template(acme, acme_waba)
    _, key = api_key_create(client=acme, name="sender", scopes=["read", "write"])
    _delivered("wamid.EARLY", "delivered")

    response = api(acme, key=key).post(URL, {"results": [_result("wamid.EARLY")]}, format="json")

    assert response.json() == {"recorded": 1, "held": 0, "released": 0, "unknown": []}
    assert _held(acme, template)[0] == 0


def test_the_unpause_ends_the_hold(api, acme, acme_waba, acme_number):
    template = _template(acme, acme_waba)
    _, key = api_key_create(client=acme, name="sender", scopes=["read", "write"])
    api(acme, key=key).post(URL, {"results": [_result("wamid.P1")]}, format="json")
    assert _held(acme, template)[0] == 1

    from templates_review.pacing import template_holds_clear

    with schema_context(acme.schema_name):
        template_holds_clear(template=MessageTemplate.objects.get(), at=timezone.now())
        assert not HeldMessage.objects.exists()
    assert _held(acme, template) == (0, None)


def test_another_client_cannot_touch_these_templates(
    api, acme, globex, acme_waba, acme_number, globex_owner
):
    template = _template(acme, acme_waba)
    _, acme_key = api_key_create(client=acme, name="sender", scopes=["read", "write"])
    api(acme, key=acme_key).post(URL, {"results": [_result("wamid.G1")]}, format="json")
    _, globex_key = api_key_create(client=globex, name="sender", scopes=["read", "write"])

    # Globex's key on its own host: Acme's number and template are unknown there.
    response = api(globex, key=globex_key).post(
        URL, {"results": [_result("wamid.G1", "accepted"), _result("wamid.G2")]}, format="json"
    )
    assert response.json() == {"recorded": 0, "held": 0, "released": 0, "unknown": [0, 1]}
    # Globex's key on Acme's host, or Globex's owner there: refused.
    assert api(acme, key=globex_key).post(
        URL, {"results": [_result("wamid.G3")]}, format="json"
    ).status_code in (401, 403, 404)
    assert api(acme, globex_owner).post(
        URL, {"results": [_result("wamid.G3")]}, format="json"
    ).status_code in (403, 404)
    assert _held(acme, template)[0] == 1
    with schema_context(globex.schema_name):
        assert not HeldMessage.objects.exists()


def test_bad_reports_and_read_only_keys_are_refused_and_store_nothing(
    api, acme, acme_waba, acme_number
):
    template = _template(acme, acme_waba)
    _, key = api_key_create(client=acme, name="sender", scopes=["read", "write"])
    _, read_only = api_key_create(client=acme, name="reader", scopes=["read"])

    bad = api(acme, key=key).post(
        URL,
        {"results": [_result("wamid.B1"), _result("wamid.B2", "delivered")]},
        format="json",
    )
    assert bad.status_code == 400
    assert bad["Content-Type"].startswith("application/problem+json")
    assert "message_status" in str(bad.json())
    assert api(acme, key=key).post(URL, {"results": []}, format="json").status_code == 400
    assert (
        api(acme, key=read_only).post(URL, {"results": [_result("wamid.B3")]}, format="json")
    ).status_code == 403
    assert _held(acme, template)[0] == 0
    with schema_context(acme.schema_name):
        assert not HeldMessage.objects.exists()
