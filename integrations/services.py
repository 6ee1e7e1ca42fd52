"""Writes for a client's webhook endpoints and their deliveries (inside the client's schema)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from integrations import notify
from integrations.choices import EVENT_GROUPS, EVENT_TYPES, DeliveryState, EndpointState
from integrations.events import event_emit
from integrations.models import WebhookDelivery, WebhookEndpoint
from integrations.secrets import secret_encrypt, secret_hint, secret_new
from integrations.urlsafety import url_check
from portal.audit.services import audit_record
from tenants.selectors import current_client


class EndpointInputError(ValueError):
    """Bad endpoint input; `field` names what to fix."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass
class EndpointWithSecret:
    """An endpoint and its secret in clear: only returned by create and rotate."""

    endpoint: WebhookEndpoint
    secret: str


def event_types_clean(types) -> list[str]:
    known = set(EVENT_TYPES) | {f"{g}.*" for g in EVENT_GROUPS}
    cleaned = sorted(set(types or []))
    unknown = [t for t in cleaned if t not in known]
    if unknown:
        raise EndpointInputError("event_types", f"Unknown event types: {', '.join(unknown)}.")
    return cleaned


def _user(actor):
    return actor if getattr(actor, "_meta", None) and getattr(actor, "pk", None) else None


def _user_id(actor):
    user = _user(actor)
    return user.pk if user else None


def endpoint_create(
    *, url: str, actor, description: str = "", event_types=()
) -> EndpointWithSecret:
    from integrations.urlsafety import UnsafeUrl

    try:
        url_check(url)
    except UnsafeUrl as exc:
        raise EndpointInputError("url", str(exc)) from None
    types = event_types_clean(event_types)
    secret = secret_new()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            url=url,
            description=description,
            event_types=types,
            secret_encrypted=secret_encrypt(secret),
            secret_hint=secret_hint(secret),
            created_by_id=_user_id(actor),
        )
        audit_record(
            action="webhook_endpoint.created",
            actor=actor,
            client=current_client(),
            target=endpoint,
            after={"url": url, "event_types": types},
        )
    return EndpointWithSecret(endpoint=endpoint, secret=secret)


def endpoint_update(
    *, endpoint: WebhookEndpoint, actor, url=None, description=None, event_types=None
) -> WebhookEndpoint:
    from integrations.urlsafety import UnsafeUrl

    changes = {}
    if url is not None and url != endpoint.url:
        try:
            url_check(url)
        except UnsafeUrl as exc:
            raise EndpointInputError("url", str(exc)) from None
        changes["url"] = url
    if description is not None:
        changes["description"] = description
    if event_types is not None:
        changes["event_types"] = event_types_clean(event_types)
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint.pk).first()
        if locked is None:  # deleted meanwhile by another request
            raise Http404("No such webhook endpoint.")
        before = {k: getattr(locked, k) for k in changes}
        for k, v in changes.items():
            setattr(locked, k, v)
        locked.updated_at = timezone.now()
        locked.save(update_fields=[*changes, "updated_at"])
        audit_record(
            action="webhook_endpoint.updated",
            actor=actor,
            client=current_client(),
            target=locked,
            before=before,
            after=changes,
        )
    return locked


def endpoint_rotate_secret(
    *, endpoint: WebhookEndpoint, actor, overlap_hours: float | None = None
) -> EndpointWithSecret:
    """A new secret; the old one keeps signing (alongside) for the overlap period."""
    hours = settings.WEBHOOK_SECRET_OVERLAP_HOURS if overlap_hours is None else overlap_hours
    secret = secret_new()
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.previous_secret_encrypted = locked.secret_encrypted
        locked.previous_secret_expires_at = timezone.now() + timedelta(hours=hours)
        locked.secret_encrypted = secret_encrypt(secret)
        locked.secret_hint = secret_hint(secret)
        locked.updated_at = timezone.now()
        locked.save(
            update_fields=[
                "previous_secret_encrypted",
                "previous_secret_expires_at",
                "secret_encrypted",
                "secret_hint",
                "updated_at",
            ]
        )
        audit_record(
            action="webhook_endpoint.secret_rotated",
            actor=actor,
            client=current_client(),
            target=locked,
            after={"overlap_until": locked.previous_secret_expires_at.isoformat()},
        )
    return EndpointWithSecret(endpoint=locked, secret=secret)


# Allowed state moves: (from, to) → the audit action.
TRANSITIONS = {
    (EndpointState.ACTIVE, EndpointState.PAUSED): "paused",
    (EndpointState.PAUSED, EndpointState.ACTIVE): "resumed",
    (EndpointState.DISABLED, EndpointState.ACTIVE): "resumed",
    (EndpointState.ACTIVE, EndpointState.DISABLED): "disabled",
    (EndpointState.PAUSED, EndpointState.DISABLED): "disabled",
}


class EndpointTransitionError(ValueError):
    pass


def endpoint_transition(
    *, endpoint: WebhookEndpoint, to: str, actor, reason: str = ""
) -> WebhookEndpoint:
    """The one place an endpoint's state changes (pause, resume, disable)."""
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if locked.state == to:
            return locked
        action = TRANSITIONS.get((locked.state, to))
        if action is None:
            raise EndpointTransitionError(f"An endpoint that is {locked.state} cannot be {to}.")
        before = locked.state
        locked.state = to
        now = timezone.now()
        locked.updated_at = now
        fields = ["state", "updated_at"]
        if to == EndpointState.DISABLED:
            locked.disabled_at = now
            fields.append("disabled_at")
        if to == EndpointState.ACTIVE:
            locked.failing_since = None
            locked.disabled_at = None
            fields += ["failing_since", "disabled_at"]
        locked.save(update_fields=fields)
        audit_record(
            action=f"webhook_endpoint.{action}",
            actor=actor,
            client=current_client(),
            target=locked,
            before={"state": before},
            after={"state": to, **({"reason": reason} if reason else {})},
        )
        if to == EndpointState.ACTIVE:
            due = WebhookDelivery.objects.filter(
                endpoint=locked, state=DeliveryState.PENDING
            ).values_list("pk", flat=True)
            ids = list(due)
            if ids:
                WebhookDelivery.objects.filter(pk__in=ids).update(next_attempt_at=now)
                from integrations.events import _send_after_commit

                _send_after_commit(ids)
    return locked


def endpoint_disable(*, endpoint: WebhookEndpoint, reason: str) -> WebhookEndpoint:
    """Disable an endpoint that failed for the whole retry period, and tell its owners."""
    locked = endpoint_transition(
        endpoint=endpoint, to=EndpointState.DISABLED, actor=None, reason=reason
    )
    client = current_client()
    notify.email_queue(
        recipients=notify.notification_recipients(
            audience=notify.CLIENT_OWNERS, client=client, event_type="webhook.disabled"
        ),
        subject=f"[{client.name}] Webhook endpoint disabled: {locked.url}",
        body=(
            f"Deliveries to {locked.url} failed for {settings.WEBHOOK_RETRY_HOURS:g} hours, so "
            "the endpoint was disabled. Fix the receiver, then resume the endpoint and replay "
            f"the deliveries you need:\n\nhttps://{client.slug}.{settings.PORTAL_DOMAIN}"
            f"/integrations/webhooks/{locked.pk}/"
        ),
    )
    return locked


def endpoint_delete(*, endpoint: WebhookEndpoint, actor) -> None:
    with transaction.atomic():
        audit_record(
            action="webhook_endpoint.deleted",
            actor=actor,
            client=current_client(),
            target=endpoint,
            before={"url": endpoint.url},
        )
        endpoint.delete()


def delivery_replay(*, delivery: WebhookDelivery, actor) -> WebhookDelivery:
    """Send a delivery again (same `webhook-id`, so receivers can tell a replay), now."""
    from integrations.events import _send_after_commit

    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        before = locked.state
        locked.state = DeliveryState.PENDING
        locked.next_attempt_at = timezone.now()
        # The retry period counts from the replay.
        locked.created_at = timezone.now()
        locked.save(update_fields=["state", "next_attempt_at", "created_at"])
        audit_record(
            action="webhook_delivery.replayed",
            actor=actor,
            client=current_client(),
            target=locked,
            before={"state": before},
        )
        _send_after_commit([locked.pk])
    return locked


def endpoint_send_test(*, endpoint: WebhookEndpoint, actor) -> WebhookDelivery:
    """Queue a `webhook.test` event for this endpoint only."""
    from integrations.events import _send_after_commit, message_id_new

    now = timezone.now()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint,
            message_id=message_id_new(),
            event_type="webhook.test",
            payload={
                "type": "webhook.test",
                "timestamp": now.isoformat(),
                "data": {"endpoint_id": endpoint.pk, "requested_by": str(actor)},
            },
            next_attempt_at=now,
        )
        _send_after_commit([delivery.pk])
    return delivery


__all__ = ["event_emit"]
