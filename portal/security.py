"""Helpers of the production hardening settings (login throttling by django-axes)."""

from __future__ import annotations

from django.conf import settings


def client_ip(request) -> str | None:
    """The client's address, trusting exactly TRUSTED_PROXY_COUNT proxies in front of us.

    With no trusted proxy it is REMOTE_ADDR. Behind an ingress, REMOTE_ADDR is the ingress: the
    client is the entry that many hops from the right of X-Forwarded-For (entries further left
    are written by the client and can be forged).
    """
    remote = request.META.get("REMOTE_ADDR")
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < hops:
        return remote
    return forwarded[-hops]


def login_username(request, credentials) -> str:
    """The e-mail a login attempt is counted against, so `A@x.example` and `a@x.example ` share
    one failure count."""
    return str((credentials or {}).get(settings.AXES_USERNAME_FORM_FIELD) or "").strip().lower()
