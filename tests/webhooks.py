"""Helpers for tests that post Meta webhooks: envelopes in Meta's shape, signed like Meta signs."""

from __future__ import annotations

import json

from django.conf import settings

from portal.meta.signatures import sign


def envelope(waba_id: str, field: str, value: dict, *, time: int | None = 1_763_000_000) -> dict:
    entry = {"id": waba_id, "changes": [{"field": field, "value": value}]}
    if time is not None:
        entry["time"] = time
    return {"object": "whatsapp_business_account", "entry": [entry]}


def body_of(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


def post(http, body: bytes, *, secret: str | None = None, signature: str | None = None):
    """POST to the webhook endpoint on the public host, signed with the app secret."""
    header = signature if signature is not None else sign(body, secret or settings.META_APP_SECRET)
    return http.post(
        "/webhooks/meta",
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=header,
    )


def apply_change(
    client,
    field: str,
    value: dict,
    *,
    entry_id: str | None = None,
    time: int | None = 1_763_000_000,
    key: str | None = None,
):
    """Drive one change through its field's parser and applier as the pipeline will: parse,
    then apply inside the client's schema and a savepoint. Returns the applier's `Applied`
    (raises `WebhookRejected` when the parser refuses the value)."""
    from datetime import UTC, datetime

    from django.db import transaction
    from django.utils import timezone
    from django_tenants.utils import schema_context

    from portal.meta.webhooks.contract import Applied, Change, handler_for
    from tests.assets import ACME_WABA

    handler = handler_for(field)
    assert handler is not None, f"no handler registered for {field}"
    change = Change(
        field=field,
        entry_id=entry_id or ACME_WABA,
        entry_time=datetime.fromtimestamp(time, tz=UTC) if time is not None else None,
        key=key or _key(field, value, time),
        data=handler.parser(value),
        received_at=timezone.now(),
    )
    with schema_context(client.schema_name), transaction.atomic():
        return handler.applier(change) or Applied()


def apply_batch(client, field: str, values: list[dict], *, entry_id: str | None = None):
    """Many changes of one field through its batch applier (the set-based path)."""
    from django.db import transaction
    from django.utils import timezone
    from django_tenants.utils import schema_context

    from portal.meta.webhooks.contract import Change, handler_for
    from tests.assets import ACME_WABA

    handler = handler_for(field)
    assert handler is not None
    assert handler.batch_applier is not None
    changes = [
        Change(
            field=field,
            entry_id=entry_id or ACME_WABA,
            entry_time=None,
            key=_key(field, value, None),
            data=handler.parser(value),
            received_at=timezone.now(),
        )
        for value in values
    ]
    with schema_context(client.schema_name), transaction.atomic():
        return handler.batch_applier(changes), changes


def _key(field: str, value: dict, time) -> str:
    import hashlib

    return hashlib.sha256(json.dumps([field, value, time], sort_keys=True).encode()).hexdigest()
