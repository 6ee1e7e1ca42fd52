"""Webhook signing secrets (`whsec_` + base64 of 24 random bytes, as Standard Webhooks uses),
stored encrypted with the portal's credentials key."""

from __future__ import annotations

import base64
import secrets as random

from portal.meta.credentials import at_rest_cipher  # the one key for secrets at rest

PREFIX = "whsec_"


def secret_new() -> str:
    return PREFIX + base64.b64encode(random.token_bytes(24)).decode()


def secret_encrypt(secret: str) -> str:
    return at_rest_cipher().encrypt(secret.encode()).decode()


def secret_decrypt(token: str) -> str:
    return at_rest_cipher().decrypt(token.encode()).decode()


def secret_hint(secret: str) -> str:
    return secret[: len(PREFIX) + 4]
