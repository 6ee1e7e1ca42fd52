"""Meta's Graph API errors as our exceptions, keeping Meta's code, subcode and trace id.

Meta's error body: `{"error": {"message", "type", "code", "error_subcode", "error_data":
{"details"}, "fbtrace_id", "is_transient"}}` (meta-platform.md §5.4). `error_from_response`
turns it into the most specific subclass:

- `MetaAuthError`: token or permission problems (codes 0, 3, 10, 190, 200-299).
- `MetaNotFound`: the object does not exist or is not visible (HTTP 404, code 100 subcode 33).
- `MetaRateLimited`: throttled (HTTP 429, codes 4, 17, 80007, 80008) or retries exhausted;
  `retry_after` (seconds) tells the caller when to try again.
- `MetaTransportError`: no usable HTTP answer (connection refused, timeout, non-JSON body).
- `MetaTemplateEditRefused`: Meta refused a template edit (status not APPROVED/REJECTED/PAUSED,
  or the approved-template limits: 10 edits per 30 days, 1 per 24 hours).

`plain_message` gives plain words for the common codes, for people who are not Meta experts.
"""

from __future__ import annotations

from typing import Any

# Throttling codes (meta-platform.md §6): app (4), user (17), WABA (80007, 80008).
RATE_LIMIT_CODES = frozenset({4, 17, 80007, 80008})
AUTH_CODES = frozenset({0, 3, 10, 190})
NOT_FOUND_SUBCODE = 33
# "Message template status can't be changed": in review, or the approved-template edit limits.
TEMPLATE_STATUS_LOCKED_SUBCODE = 2388039

# Plain words per code (meta-platform.md §5.4).
_PLAIN_BY_CODE: dict[int, str] = {
    0: "Meta did not accept the access token; the BSP's system-user token needs attention.",
    3: "The Meta app lacks the capability for this call; check the app's permissions.",
    4: "Too many calls from our Meta app right now; we will try again shortly.",
    10: "The token does not have permission for this action; check the system user's assets.",
    17: "Too many calls for this user token right now; we will try again shortly.",
    100: "Meta rejected a parameter of the request.",
    190: "The Meta access token is invalid or has expired; the BSP must renew it.",
    368: "The WhatsApp account is restricted or disabled for a policy violation.",
    80007: "The WhatsApp account's rate limit was reached; we will try again later.",
    80008: "Too many calls to this WhatsApp account; we will try again later.",
    130429: "The number is sending faster than its throughput allows.",
    130472: "The message was held back as part of a Meta marketing experiment.",
    130497: "The account is not allowed to message users in this country.",
    131026: "The message could not be delivered (not a WhatsApp user or outdated app).",
    131031: "The WhatsApp account is locked; check its health status and appeal if needed.",
    131037: "The number needs an approved display name before it can send.",
    131042: "There is a problem with the account's payment method.",
    131045: "The phone number is not registered correctly; it must be re-registered.",
    131047: "More than 24 hours passed since the user's last reply; send a template instead.",
    131048: "Sending is limited because too many earlier messages were blocked or reported "
    "as spam.",
    131049: "Meta did not deliver this marketing message to keep engagement healthy; "
    "wait at least 24 hours before trying this user again.",
    131050: "The user stopped marketing messages from this business; do not send them again.",
    131056: "Too many messages to the same user in a short time; try this user later.",
    131057: "The account is in maintenance; try again in a minute.",
    131063: "Marketing messages are disabled for this number on the Cloud API.",
    131064: "Messaging is limited because templates were misclassified; it lifts after the "
    "enforcement period.",
    132000: "The number of template parameters does not match the template.",
    132001: "The template does not exist or is not approved in this language.",
    132005: "The translated template text is too long.",
    132007: "The template content breaks WhatsApp's policies.",
    132012: "The template parameters are in the wrong format.",
    132015: "The template is paused because of low quality.",
    132016: "The template was paused too many times and is now permanently disabled.",
    133010: "The phone number is not registered on WhatsApp.",
    133016: "Too many register/deregister attempts; wait before trying again.",
}
_PLAIN_BY_SUBCODE: dict[int, str] = {
    33: "Meta could not find this object, or our token cannot see it.",
    2388019: "The WhatsApp account has reached its limit of message templates.",
    2388024: "A template with this name already exists in this language.",
    2388039: "The template cannot be changed in its current state (for example while in review, "
    "or because an approved template may be edited only once per 24 hours and 10 times "
    "per 30 days).",
    2388040: "A field of the template is longer than Meta allows.",
    2388047: "The template header is not in a format Meta accepts.",
    2388072: "The template body is not in a format Meta accepts.",
    2388073: "The template footer is not in a format Meta accepts.",
    2388293: "The template has too many parameters for the length of its text.",
    2388299: "The template may not start or end with a parameter.",
}


class MetaError(Exception):
    """An error answered by (or on the way to) Meta's Graph API."""

    def __init__(
        self,
        message: str = "",
        *,
        code: int | None = None,
        subcode: int | None = None,
        error_type: str | None = None,
        details: str | None = None,
        fbtrace_id: str | None = None,
        is_transient: bool = False,
        http_status: int | None = None,
        raw: dict | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.error_type = error_type
        self.details = details
        self.fbtrace_id = fbtrace_id
        self.is_transient = is_transient
        self.http_status = http_status
        self.raw = raw or {}

    @property
    def plain_message(self) -> str:
        """Plain words for people; falls back to Meta's own message."""
        if self.subcode in _PLAIN_BY_SUBCODE:
            return _PLAIN_BY_SUBCODE[self.subcode]
        if self.code is not None:
            if self.code in _PLAIN_BY_CODE:
                return _PLAIN_BY_CODE[self.code]
            if 200 <= self.code <= 299:
                return "The token lacks a permission this action needs; check the system user."
        return self.message or "Meta returned an error."

    def __str__(self) -> str:
        parts = [self.message or self.__class__.__name__]
        if self.code is not None:
            parts.append(f"code={self.code}")
        if self.subcode is not None:
            parts.append(f"subcode={self.subcode}")
        if self.http_status is not None:
            parts.append(f"http={self.http_status}")
        if self.fbtrace_id:
            parts.append(f"fbtrace_id={self.fbtrace_id}")
        return " ".join(parts)


class MetaAuthError(MetaError):
    """The token is invalid, expired or lacks a permission (codes 0, 3, 10, 190, 200-299)."""


class MetaNotFound(MetaError):
    """The object does not exist or the token cannot see it."""


class MetaTransportError(MetaError):
    """No usable answer from Meta: connection failure, timeout, unreadable body."""


class MetaRateLimited(MetaError):
    """Throttled, or retries exhausted: try again after `retry_after` seconds (None: unknown).

    The client raises it instead of blocking when the wait would exceed its `max_backoff`, so a
    Celery task can `retry(countdown=exc.retry_after)`. `last_error` is the final error seen.
    """

    def __init__(
        self,
        message: str = "",
        *,
        retry_after: float | None = None,
        last_error: MetaError | None = None,
        **kwargs: Any,
    ) -> None:
        if last_error is not None:
            for name in ("code", "subcode", "error_type", "details", "fbtrace_id", "http_status"):
                kwargs.setdefault(name, getattr(last_error, name))
            kwargs.setdefault("is_transient", True)
            kwargs.setdefault("raw", last_error.raw)
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.last_error = last_error


class MetaUnavailable(MetaRateLimited, MetaTransportError):
    """Meta could not be reached after every retry: both a transport error and a retry-later."""


class MetaTemplateEditRefused(MetaError):
    """Meta refused a template edit: wrong status, or the approved-template edit limits."""


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def error_kwargs(body: Any, http_status: int | None) -> dict[str, Any]:
    """The MetaError keyword arguments read from Meta's error body (tolerant of odd shapes)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return {"message": f"HTTP {http_status}", "http_status": http_status, "raw": {}}
    error_data = error.get("error_data")
    details = error_data.get("details") if isinstance(error_data, dict) else None
    return {
        "message": str(error.get("message") or f"HTTP {http_status}"),
        "code": _int_or_none(error.get("code")),
        "subcode": _int_or_none(error.get("error_subcode")),
        "error_type": error.get("type"),
        "details": details if details is None else str(details),
        "fbtrace_id": error.get("fbtrace_id"),
        "is_transient": bool(error.get("is_transient", False)),
        "http_status": http_status,
        "raw": error,
    }


def error_class(code: int | None, subcode: int | None, http_status: int | None) -> type[MetaError]:
    """The most specific exception class for an error (before retry decisions)."""
    if code is not None and (code in AUTH_CODES or 200 <= code <= 299):
        return MetaAuthError
    if code in RATE_LIMIT_CODES or http_status == 429:
        return MetaRateLimited
    if http_status == 404 or (code == 100 and subcode == NOT_FOUND_SUBCODE):
        return MetaNotFound
    return MetaError


def error_from_body(body: Any, http_status: int | None) -> MetaError:
    """A MetaError subclass for Meta's error body `{"error": {...}}`."""
    kwargs = error_kwargs(body, http_status)
    cls = error_class(kwargs.get("code"), kwargs.get("subcode"), http_status)
    message = kwargs.pop("message")
    return cls(message, **kwargs)
