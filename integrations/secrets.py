"""Webhook signing secrets (`whsec_` + base64 of 24 random bytes, as Standard Webhooks uses),
stored encrypted with the portal's credentials key."""

from __future__ import annotations

import base64
import secrets as random

from portal.meta.credentials import _fernet  # the one key for credentials at rest

PREFIX = "whsec_"


def secret_new() -> str:
    return PREFIX + base64.b64encode(random.token_bytes(24)).decode()


def secret_encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def secret_decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def secret_hint(secret: str) -> str:
    return secret[: len(PREFIX) + 4]
