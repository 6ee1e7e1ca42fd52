"""Writing the audit trail. Callers run inside the transaction of the change they record."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.http import HttpRequest
from django.utils import timezone

from portal.audit.models import AuditLog


def audit_record(
    *,
    action: str,
    actor: Any = None,
    client: Any = None,
    target: models.Model | None = None,
    before: dict | None = None,
    after: dict | None = None,
    request: HttpRequest | None = None,
) -> AuditLog:
    """Append one audit row. `actor` may be a user, an API key principal or None (the system)."""
    user = actor if getattr(actor, "_meta", None) and getattr(actor, "pk", None) else None
    return AuditLog.objects.create(
        action=action,
        actor=user,
        actor_label=str(actor) if actor is not None else "",
        client=client if client is not None and not getattr(client, "is_public", False) else None,
        object_type=target._meta.label_lower if target is not None else "",
        object_id=str(target.pk) if target is not None else "",
        before=before,
        after=after,
        ip_address=_client_ip(request) if request is not None else None,
    )


def audit_purge_expired(*, now=None) -> int:
    """Delete rows older than AUDIT_RETENTION_DAYS; returns how many were removed."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.AUDIT_RETENTION_DAYS)
    deleted, _ = AuditLog.objects.filter(at__lt=cutoff).delete()
    return deleted


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None
