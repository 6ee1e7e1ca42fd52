"""Meta signs each webhook POST: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`,
keyed with the app secret. Verify the raw bytes, before any parsing."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="


def sign(body: bytes, app_secret: str) -> str:
    """The header value Meta would send for `body`."""
    return _PREFIX + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, header_value: str | None, app_secrets: list[str] | tuple[str, ...]) -> bool:
    """True if `header_value` signs `body` with one of `app_secrets` (constant-time compare)."""
    if not header_value or not header_value.startswith(_PREFIX):
        return False
    expected = header_value.encode()
    valid = False
    for secret in app_secrets:
        # Compare against every secret (no early exit) so timing does not reveal which matched.
        valid |= hmac.compare_digest(sign(body, secret).encode(), expected)
    return valid
