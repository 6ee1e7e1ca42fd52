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
