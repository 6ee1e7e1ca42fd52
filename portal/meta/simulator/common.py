"""What the simulator's parts share: timings, Meta's limits, defaults and error answers."""

import re
from datetime import UTC, datetime
from typing import Any

from portal.meta.simulator import payloads

HOUR = 3600.0
DAY = 86400.0
FIRST_PAUSE_SECONDS = 3 * HOUR
SECOND_PAUSE_SECONDS = 6 * HOUR
EDITS_PER_30_DAYS = 10
EDIT_WINDOWS = ((30 * DAY, EDITS_PER_30_DAYS), (DAY, 1))
DEFAULT_PAGE_LIMIT = 25
MAX_PAGE_LIMIT = 1000
DEFAULT_RATE_LIMIT_PER_HOUR = 5000  # active WABA (meta-platform.md §6), shown in BUC only

WABA_DEFAULT_FIELDS = ("id", "name", "currency", "timezone_id", "message_template_namespace")
NUMBER_DEFAULT_FIELDS = (
    "id",
    "display_phone_number",
    "verified_name",
    "quality_rating",
    "code_verification_status",
    "platform_type",
    "throughput",
)
TEMPLATE_DEFAULT_FIELDS = ("id", "name", "components", "language", "status", "category")
TEMPLATE_EDITABLE = ("APPROVED", "REJECTED", "PAUSED")
REJECTION_REASONS = (
    "ABUSIVE_CONTENT",
    "CATEGORY_NOT_AVAILABLE",
    "INCORRECT_CATEGORY",
    "INVALID_FORMAT",
    "NONE",
    "PROMOTIONAL",
    "SCAM",
    "TAG_CONTENT_MISMATCH",
)
_LIMIT_ORDER = ("TIER_NOT_SET", "TIER_50", "TIER_250", "TIER_1K", "TIER_2K", "TIER_10K")
_LIMIT_ORDER += ("TIER_100K", "TIER_UNLIMITED")
_VERSION = re.compile(r"^v\d+(\.\d+)?$")
_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_PARAM = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)

# Error injection kinds → (HTTP status, Meta code, type, message, is_transient).
ERROR_KINDS: dict[str, tuple[int, int, str, str, bool]] = {
    "429": (429, 4, "OAuthException", "(#4) Application request limit reached", True),
    "4": (400, 4, "OAuthException", "(#4) Application request limit reached", True),
    "17": (400, 17, "OAuthException", "(#17) User request limit reached", True),
    "80007": (
        400,
        80007,
        "OAuthException",
        "(#80007) Business request limit reached for WhatsApp Business Account",
        False,
    ),
    "80008": (
        400,
        80008,
        "OAuthException",
        "(#80008) There have been too many calls to this WhatsApp Business account. "
        "Wait a bit and try again.",
        False,
    ),
    "500": (500, 1, "OAuthException", "An unknown error has occurred.", False),
    "503": (503, 2, "OAuthException", "Service temporarily unavailable", True),
    "190": (
        401,
        190,
        "OAuthException",
        "Error validating access token: Session has expired",
        False,
    ),
}
# Kinds handled by the HTTP layer: "drop" (close the connection without an answer) and
# "timeout" (answer after `delay` seconds, default 5).
TRANSPORT_KINDS = ("drop", "timeout")


class GraphError(Exception):
    """A Meta error answer: `{"error": {...}}` with an HTTP status."""

    def __init__(
        self,
        http_status: int,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        error_type: str = "OAuthException",
        details: str | None = None,
        is_transient: bool = False,
        user_title: str | None = None,
        headers: dict | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.message = message
        self.subcode = subcode
        self.error_type = error_type
        self.details = details
        self.is_transient = is_transient
        self.user_title = user_title
        self.headers = headers or {}

    def body(self, trace_id: str) -> dict:
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.error_type,
            "code": self.code,
            "is_transient": self.is_transient,
            "fbtrace_id": trace_id,
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.details is not None:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        if self.user_title:
            error["error_user_title"] = self.user_title
            error["error_user_msg"] = self.details or self.message
        return {"error": error}


def _invalid(subcode: int | None, title: str, details: str) -> GraphError:
    return GraphError(
        400, 100, "Invalid parameter", subcode=subcode, details=details, user_title=title
    )


def _not_found(object_id: str) -> GraphError:
    return GraphError(
        400,
        100,
        f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be loaded "
        "due to missing permissions, or does not support this operation.",
        subcode=33,
        error_type="GraphMethodException",
    )


def _digits(value: str) -> str:
    return payloads.digits(value)


def _date_text(ts: float) -> str:
    """'April 17, 2025' (how Meta spells `waba_ban_date`)."""
    when = datetime.fromtimestamp(ts, tz=UTC)
    return f"{when.strftime('%B')} {when.day}, {when.year}"


def _iso_date(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")
