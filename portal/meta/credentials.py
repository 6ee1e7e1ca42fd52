"""The BSP's Meta secrets: stored encrypted (Fernet, META_CREDENTIALS_KEY), never logged.

Environment values (META_APP_SECRET, META_VERIFY_TOKEN, META_SYSTEM_USER_TOKEN) serve until a
credential of that kind is stored; stored ones win. Decrypted values are cached in the process
for a minute, so the webhook hot path does not query for them on every delivery.
"""

from __future__ import annotations

import time

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from portal.audit.services import audit_record
from portal.meta.models import CredentialKind, MetaCredential

_CACHE_SECONDS = 60
_cache: dict[str, tuple[float, tuple[str, ...]]] = {}
_ENV_FALLBACK = {
    CredentialKind.APP_SECRET: "META_APP_SECRET",
    CredentialKind.VERIFY_TOKEN: "META_VERIFY_TOKEN",
    CredentialKind.SYSTEM_USER_TOKEN: "META_SYSTEM_USER_TOKEN",
}


def at_rest_cipher() -> Fernet:
    """The one cipher for every secret the portal keeps at rest (Meta credentials, outbound
    webhook signing secrets): Fernet under META_CREDENTIALS_KEY."""
    key = settings.META_CREDENTIALS_KEY
    if not key:
        raise ImproperlyConfigured("META_CREDENTIALS_KEY is required to store Meta credentials.")
    try:
        return Fernet(key.encode())
    except ValueError as exc:
        raise ImproperlyConfigured(f"META_CREDENTIALS_KEY is not a Fernet key: {exc}") from None


def credential_store(
    *, kind: CredentialKind, label: str, secret: str, actor=None, replace: bool = False
) -> MetaCredential:
    """Store a secret encrypted. `replace` deactivates the others of its kind (after rotation)."""
    if not secret.strip():
        raise ValueError("The secret is empty.")
    with transaction.atomic():
        if replace:
            MetaCredential.objects.filter(kind=kind, is_active=True).update(is_active=False)
        credential = MetaCredential.objects.create(
            kind=kind,
            label=label,
            ciphertext=at_rest_cipher().encrypt(secret.strip().encode()),
            created_by=actor,
        )
        audit_record(
            action="meta_credential.stored",
            actor=actor,
            target=credential,
            after={"kind": str(kind), "label": label, "replaced_others": replace},
        )
        transaction.on_commit(_cache.clear)
    return credential


def credential_values(kind: CredentialKind) -> tuple[str, ...]:
    """The active secrets of `kind`, newest first (stored ones, else the environment's)."""
    now = time.monotonic()
    cached = _cache.get(kind)
    if cached and cached[0] > now:
        return cached[1]
    stored = list(
        MetaCredential.objects.filter(kind=kind, is_active=True)
        .order_by("-created_at")
        .values_list("ciphertext", flat=True)
    )
    if stored:
        fernet = at_rest_cipher()
        values = []
        for ciphertext in stored:
            try:
                values.append(fernet.decrypt(bytes(ciphertext)).decode())
            except InvalidToken:
                raise ImproperlyConfigured(
                    f"A stored {kind} cannot be decrypted with META_CREDENTIALS_KEY."
                ) from None
    else:
        raw = getattr(settings, _ENV_FALLBACK[kind], "")
        values = [v.strip() for v in raw.split(",") if v.strip()]
    result = tuple(values)
    _cache[kind] = (now + _CACHE_SECONDS, result)
    return result


def app_secrets() -> tuple[str, ...]:
    return credential_values(CredentialKind.APP_SECRET)


def verify_token() -> str | None:
    values = credential_values(CredentialKind.VERIFY_TOKEN)
    return values[0] if values else None


def system_user_token() -> str:
    values = credential_values(CredentialKind.SYSTEM_USER_TOKEN)
    if not values:
        raise ImproperlyConfigured("No Meta system-user token is configured.")
    return values[0]


def clear_cache() -> None:
    _cache.clear()
