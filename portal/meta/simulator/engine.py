"""The simulator's state and rules, without HTTP: Graph API requests in, (status, headers,
body) out; events in, webhook envelopes out; a simulated clock with timers.

Thread-safe: every entry point takes `self.lock`. `server.py` wraps it in an HTTP server.
"""

from __future__ import annotations

import base64
import fnmatch
import heapq
import itertools
import json
import math
import random
import re
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from portal.meta.simulator import payloads
from portal.meta.simulator import scenario as scenario_mod

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


class Simulator:
    """The simulated Meta: WABAs, numbers, templates, a clock, timers and a request log."""

    def __init__(self, scenario: dict | str, *, public_url: str = "") -> None:
        data = scenario_mod.load(scenario)
        self.lock = threading.RLock()
        self.scenario = data
        self.public_url = public_url
        self.tokens = {str(t) for t in data.get("tokens") or ()}
        self.review_delay = float(data.get("review_delay_seconds", 60))
        self.review_rules = list(data.get("review_rules") or ())
        self.template_limit = int(data.get("template_limit_per_waba", 250))
        self.rate_limit_per_hour = data.get("rate_limit_per_hour")
        self.start_time = float(data.get("start_time") or int(time.time()))
        self.now = self.start_time
        self.wabas: dict[str, dict] = {}
        self.numbers: dict[str, dict] = {}
        self.templates: dict[str, dict] = {}
        self.calls = 0
        self.request_log: deque[dict] = deque(maxlen=10_000)
        self.webhooks: deque[dict] = deque(maxlen=10_000)  # every envelope produced
        self.latency_ms = 0.0
        self.errors: dict[str, Any] = {"rates": {}, "next": []}
        self._error_rng = random.Random(0)  # noqa: S311 - error injection, not cryptography
        self._timers: list[tuple[float, int, dict]] = []
        self._seq = itertools.count()
        self._trace = itertools.count(1)
        self._wamid = itertools.count(1)
        self._new_ids = itertools.count(1)
        self._waba_calls: dict[str, deque[float]] = {}
        for waba in data.get("wabas") or ():
            self._load_waba(waba)
        for event in data.get("events") or ():
            event = dict(event)
            at = float(event.pop("at", 0))
            self._schedule(self.start_time + at, {"kind": "event", "event": event})

    # --- loading ---------------------------------------------------------------------------

    def _load_waba(self, raw: dict) -> None:
        waba = {k: v for k, v in raw.items() if k not in ("phone_numbers", "message_templates")}
        waba["id"] = str(waba["id"])
        waba.setdefault("name", f"WABA {waba['id']}")
        waba.setdefault("currency", "USD")
        waba.setdefault("timezone_id", "1")
        waba.setdefault("message_template_namespace", f"ns_{waba['id']}")
        waba.setdefault("account_review_status", "APPROVED")
        waba.setdefault("business_verification_status", "VERIFIED")
        waba.setdefault("business_id", f"b{waba['id']}")
        waba.setdefault("restrictions", [])
        waba.setdefault("violations", [])
        waba.setdefault("ban_state", None)
        waba.setdefault("ban_date", None)
        waba["number_ids"] = []
        waba["template_ids"] = []
        self.wabas[waba["id"]] = waba
        for number in raw.get("phone_numbers") or ():
            self._load_number(waba, number)
        for template in raw.get("message_templates") or ():
            self._load_template(waba, template)

    def _load_number(self, waba: dict, raw: dict) -> None:
        number = dict(raw)
        number["id"] = str(number["id"])
        number["waba_id"] = waba["id"]
        limit = number.pop("messaging_limit", "TIER_250")
        number.setdefault("whatsapp_business_manager_messaging_limit", limit)
        number.setdefault("messaging_limit_tier", limit)
        if isinstance(number.get("throughput"), str):
            number["throughput"] = {"level": number["throughput"]}
        number.setdefault("throughput", {"level": "STANDARD"})
        number.setdefault("display_phone_number", f"+1 555-{number['id'][-7:]}")
        number.setdefault("verified_name", waba["name"])
        number.setdefault("status", "CONNECTED")
        number.setdefault("quality_rating", "GREEN")
        number.setdefault("name_status", "APPROVED")
        number.setdefault("code_verification_status", "VERIFIED")
        number.setdefault("platform_type", "CLOUD_API")
        number.setdefault("account_mode", "LIVE")
        self.numbers[number["id"]] = number
        waba["number_ids"].append(number["id"])

    def _load_template(self, waba: dict, raw: dict) -> dict:
        template = dict(raw)
        template["id"] = str(template["id"])
        template["waba_id"] = waba["id"]
        template.setdefault("language", "en_US")
        template.setdefault("category", "UTILITY")
        template.setdefault("status", "APPROVED")
        template.setdefault("quality", "GREEN" if template["status"] == "APPROVED" else "UNKNOWN")
        template.setdefault("quality_date", int(self.now))
        template.setdefault("parameter_format", "positional")
        template.setdefault("components", [{"type": "BODY", "text": "Hello"}])
        template.setdefault("rejected_reason", None)
        template.setdefault("pause_count", 0)
        template.setdefault("edit_times", [])
        template["gen"] = 0
        self.templates[template["id"]] = template
        waba["template_ids"].append(template["id"])
        if template["status"] == "PENDING":
            self._schedule_review(template)
        return template

    # --- clock and timers ------------------------------------------------------------------

    def _schedule(self, due: float, action: dict) -> None:
        heapq.heappush(self._timers, (due, next(self._seq), action))

    def advance(self, seconds: float) -> list[dict]:
        """Move the clock by `seconds`, firing due timers in order; their webhooks, in order."""
        with self.lock:
            return self.advance_to(self.now + max(0.0, float(seconds)))

    def advance_to(self, target: float) -> list[dict]:
        with self.lock:
            produced: list[dict] = []
            while self._timers and self._timers[0][0] <= target:
                due, _, action = heapq.heappop(self._timers)
                self.now = max(self.now, due)
                produced.extend(self._fire(action))
            self.now = max(self.now, target)
            return produced

    def pending_timers(self) -> list[dict]:
        with self.lock:
            return [{"due": due, **action} for due, _, action in sorted(self._timers)]

    def _fire(self, action: dict) -> list[dict]:
        kind = action["kind"]
        if kind == "event":
            return self._apply(action["event"])
        template = self.templates.get(action.get("template_id", ""))
        if kind in ("review", "unpause"):
            if template is None or template["gen"] != action["gen"]:
                return []  # the template changed since: this timer is stale
            if kind == "review":
                return self._review(template, action.get("outcome"))
            return self._unpause(template, manual=False)
        if kind == "restriction_expiry":
            waba = self.wabas.get(action["waba_id"])
            if waba is not None:
                waba["restrictions"] = [
                    r for r in waba["restrictions"] if r["expiration"] > self.now
                ]
            return []
        raise ValueError(f"unknown timer {kind!r}")

    # --- webhooks --------------------------------------------------------------------------

    def _emit(self, envelope: dict) -> dict:
        self.webhooks.append(envelope)
        return envelope

    # --- events ----------------------------------------------------------------------------

    def apply(self, event: dict) -> list[dict]:
        """Apply one event now (see the package docstring); the webhooks it produced."""
        with self.lock:
            event = dict(event)
            at = event.pop("at", None)
            if at is not None:
                self._schedule(self.start_time + float(at), {"kind": "event", "event": event})
                return []
            return self._apply(event)

    def _apply(self, event: dict) -> list[dict]:
        kind = event.get("type")
        handler = getattr(self, f"_event_{kind}", None)
        if handler is None:
            raise ValueError(f"unknown event type {kind!r}")
        return handler(event)

    def _waba_of(self, event: dict) -> dict:
        waba_id = str(event.get("waba_id", ""))
        if waba_id not in self.wabas:
            raise ValueError(f"unknown WABA {waba_id!r}")
        return self.wabas[waba_id]

    def _number_of(self, event: dict) -> dict:
        number_id = str(event.get("phone_number_id", ""))
        if number_id not in self.numbers:
            raise ValueError(f"unknown phone number {number_id!r}")
        return self.numbers[number_id]

    def _template_of(self, event: dict) -> dict:
        template_id = str(event.get("template_id", ""))
        if template_id not in self.templates:
            raise ValueError(f"unknown template {template_id!r}")
        return self.templates[template_id]

    def _event_number_quality(self, event: dict) -> list[dict]:
        number = self._number_of(event)
        quality = str(event["quality"])
        previous = number["quality_rating"]
        number["quality_rating"] = quality
        if quality == "RED" and number["status"] == "CONNECTED":
            number["status"] = "FLAGGED"
        elif quality != "RED" and number["status"] == "FLAGGED":
            number["status"] = "CONNECTED"
        if not event.get("legacy") or (quality == "RED") == (previous == "RED"):
            return []  # Meta's current docs send no quality webhook for numbers
        return [
            self._emit(
                payloads.phone_number_quality_update_legacy(
                    number["waba_id"],
                    number["display_phone_number"],
                    event="FLAGGED" if quality == "RED" else "UNFLAGGED",
                    current_limit=str(number["whatsapp_business_manager_messaging_limit"]),
                    time=self.now,
                )
            )
        ]

    def _event_number_status(self, event: dict) -> list[dict]:
        self._number_of(event)["status"] = str(event["status"])
        return []

    def _event_messaging_limit(self, event: dict) -> list[dict]:
        if event.get("phone_number_id"):
            numbers = [self._number_of(event)]
        else:
            waba = self._waba_of(event)
            numbers = [self.numbers[n] for n in waba["number_ids"]]
        limit = str(event["limit"])
        produced = []
        for number in numbers:
            old = str(number.get("whatsapp_business_manager_messaging_limit") or "TIER_NOT_SET")
            number["whatsapp_business_manager_messaging_limit"] = limit
            number["messaging_limit_tier"] = limit
            rank = {t: i for i, t in enumerate(_LIMIT_ORDER)}
            name = event.get("event") or (
                "UPGRADE" if rank.get(limit, 0) >= rank.get(old, 0) else "DOWNGRADE"
            )
            if event.get("legacy"):
                envelope = payloads.phone_number_quality_update_legacy(
                    number["waba_id"],
                    number["display_phone_number"],
                    event=name,
                    current_limit=limit,
                    time=self.now,
                )
            else:
                envelope = payloads.phone_number_quality_update(
                    number["waba_id"],
                    number["display_phone_number"],
                    event=name,
                    max_daily_conversations_per_business=limit,
                    time=self.now,
                )
            produced.append(self._emit(envelope))
        return produced

    def _event_name_update(self, event: dict) -> list[dict]:
        number = self._number_of(event)
        decision = str(event["decision"])
        name = str(event.get("requested_verified_name") or number["verified_name"])
        if decision == "APPROVED":
            number["verified_name"] = name
            number["name_status"] = "APPROVED"
            number.pop("new_display_name", None)
            number.pop("new_name_status", None)
        else:
            number["new_display_name"] = name
            number["new_name_status"] = "DECLINED" if decision == "REJECTED" else "PENDING_REVIEW"
        return [
            self._emit(
                payloads.phone_number_name_update(
                    number["waba_id"],
                    number["display_phone_number"],
                    decision=decision,
                    requested_verified_name=name,
                    rejection_reason=event.get("rejection_reason"),
                    time=self.now,
                )
            )
        ]

    def _event_account_restriction(self, event: dict) -> list[dict]:
        waba = self._waba_of(event)
        types = event.get("restriction_types") or [
            event.get("restriction_type", "RESTRICTED_BIZ_INITIATED_MESSAGING")
        ]
        if "expiration" in event:
            expiration = int(event["expiration"])
        else:
            seconds = float(event.get("seconds", float(event.get("days", 1)) * DAY))
            expiration = int(self.now + seconds)
        items = []
        for restriction_type in types:
            item = {"restriction_type": str(restriction_type), "expiration": expiration}
            if event.get("remediation"):
                item["remediation"] = event["remediation"]
            items.append(item)
            waba["restrictions"] = [
                r for r in waba["restrictions"] if r["restriction_type"] != restriction_type
            ] + [dict(item)]
        self._schedule(float(expiration), {"kind": "restriction_expiry", "waba_id": waba["id"]})
        return [self._emit(payloads.account_update_restriction(waba["id"], items, time=self.now))]

    def _event_account_violation(self, event: dict) -> list[dict]:
        waba = self._waba_of(event)
        violation_type = str(event.get("violation_type", "SPAM"))
        waba["violations"].append({"violation_type": violation_type, "at": int(self.now)})
        return [
            self._emit(payloads.account_update_violation(waba["id"], violation_type, time=self.now))
        ]

    def _event_ban(self, event: dict) -> list[dict]:
        waba = self._waba_of(event)
        state = str(event["state"])
        default_date = self.now + (30 * DAY if state == "SCHEDULE_FOR_DISABLE" else 0)
        ban_date = str(event.get("date") or _date_text(default_date))
        waba["ban_state"] = state
        waba["ban_date"] = ban_date
        return [self._emit(payloads.account_update_ban(waba["id"], state, ban_date, time=self.now))]

    def _event_account_update(self, event: dict) -> list[dict]:
        """Any other `account_update` event, e.g. {"event": "PARTNER_REMOVED", ...extras}."""
        waba = self._waba_of(event)
        extra = {k: v for k, v in event.items() if k not in ("type", "waba_id", "event")}
        return [
            self._emit(payloads.account_update(waba["id"], event["event"], time=self.now, **extra))
        ]

    def _event_account_review(self, event: dict) -> list[dict]:
        waba = self._waba_of(event)
        waba["account_review_status"] = str(event["decision"])
        return [
            self._emit(
                payloads.account_review_update(waba["id"], str(event["decision"]), time=self.now)
            )
        ]

    def _event_business_capability(self, event: dict) -> list[dict]:
        waba = self._waba_of(event)
        limit = event.get("max_daily_conversations_per_business")
        if limit:
            for number_id in waba["number_ids"]:
                self.numbers[number_id]["whatsapp_business_manager_messaging_limit"] = limit
                self.numbers[number_id]["messaging_limit_tier"] = limit
        return [
            self._emit(
                payloads.business_capability_update(
                    waba["id"],
                    max_daily_conversations_per_business=limit,
                    max_daily_conversation_per_phone=event.get("max_daily_conversation_per_phone"),
                    max_phone_numbers_per_business=event.get("max_phone_numbers_per_business"),
                    max_phone_numbers_per_waba=event.get("max_phone_numbers_per_waba"),
                    time=self.now,
                )
            )
        ]

    def _event_account_alert(self, event: dict) -> list[dict]:
        waba = self._waba_of(event)
        return [
            self._emit(
                payloads.account_alerts(
                    waba["id"],
                    entity_type=str(event.get("entity_type", "BUSINESS")),
                    entity_id=str(event.get("entity_id") or waba["business_id"]),
                    alert_type=str(event["alert_type"]),
                    alert_severity=str(event.get("alert_severity", "WARNING")),
                    alert_status=str(event.get("alert_status", "ACTIVE")),
                    alert_description=str(event.get("alert_description", "")),
                    time=self.now,
                )
            )
        ]

    def _template_status_webhook(self, template: dict, event: str, **kwargs: Any) -> dict:
        return self._emit(
            payloads.message_template_status_update(
                template["waba_id"],
                template_id=template["id"],
                name=template["name"],
                language=template["language"],
                event=event,
                category=template["category"],
                time=self.now,
                **kwargs,
            )
        )

    def _event_template_quality(self, event: dict) -> list[dict]:
        template = self._template_of(event)
        quality = str(event["quality"])
        produced = []
        previous = template["quality"]
        if quality != previous:
            template["quality"] = quality
            template["quality_date"] = int(self.now)
            produced.append(
                self._emit(
                    payloads.message_template_quality_update(
                        template["waba_id"],
                        template_id=template["id"],
                        name=template["name"],
                        language=template["language"],
                        previous_quality_score=str(previous),
                        new_quality_score=quality,
                        time=self.now,
                    )
                )
            )
        if quality == "RED" and template["status"] == "APPROVED":
            produced.extend(self._pause(template))
        return produced

    def _pause(self, template: dict) -> list[dict]:
        """RED: first pause 3 h, second 6 h, third time disabled (meta-platform.md §3.3)."""
        template["pause_count"] += 1
        template["gen"] += 1
        count = template["pause_count"]
        if count >= 3:
            template["status"] = "DISABLED"
            return [
                self._template_status_webhook(
                    template,
                    "DISABLED",
                    reason="NONE",
                    other_info_title="DISABLED",
                    other_info_description="Your message template has been disabled because "
                    "it was paused repeatedly for low quality.",
                    disable_date=_iso_date(self.now),
                )
            ]
        seconds = FIRST_PAUSE_SECONDS if count == 1 else SECOND_PAUSE_SECONDS
        template["status"] = "PAUSED"
        template["paused_until"] = int(self.now + seconds)
        self._schedule(
            self.now + seconds,
            {"kind": "unpause", "template_id": template["id"], "gen": template["gen"]},
        )
        title = "FIRST_PAUSE" if count == 1 else "SECOND_PAUSE"
        hours = int(seconds // HOUR)
        return [
            self._template_status_webhook(
                template,
                "PAUSED",
                reason="NONE",
                other_info_title=title,
                other_info_description=f"Your message template has been paused for {hours} "
                "hours because of low quality.",
            )
        ]

    def _unpause(self, template: dict, *, manual: bool) -> list[dict]:
        template["gen"] += 1
        template["status"] = "APPROVED"
        template.pop("paused_until", None)
        description = (
            "Your message template was unpaused."
            if manual
            else "Your message template's pause period ended and it is active again."
        )
        return [
            self._template_status_webhook(
                template,
                "APPROVED",
                reason="NONE",
                other_info_title="UNPAUSE",
                other_info_description=description,
            )
        ]

    def _event_template_review(self, event: dict) -> list[dict]:
        """Decide a PENDING template now: {"outcome": "APPROVED"|"REJECTED", "reason": ...}."""
        template = self._template_of(event)
        outcome = {k: event[k] for k in ("outcome", "reason", "category") if k in event}
        return self._review(template, outcome or None)

    def _event_template_status(self, event: dict) -> list[dict]:
        """Set any status (DISABLED, IN_APPEAL, LOCKED, ...) and send its status webhook."""
        template = self._template_of(event)
        template["gen"] += 1
        template["status"] = str(event["status"])
        return [
            self._template_status_webhook(
                template,
                str(event.get("event") or event["status"]),
                reason=event.get("reason", "NONE"),
                other_info_title=event.get("title"),
                other_info_description=event.get("description"),
            )
        ]

    def _event_template_category(self, event: dict) -> list[dict]:
        """{"correct_category": "MARKETING", "impending": true} announces a change 24 h later
        (and schedules it); impending false (default) changes the category now."""
        template = self._template_of(event)
        correct = str(event["correct_category"])
        if event.get("impending"):
            when = int(self.now + DAY)
            self._schedule(
                float(when),
                {
                    "kind": "event",
                    "event": {
                        "type": "template_category",
                        "template_id": template["id"],
                        "correct_category": correct,
                    },
                },
            )
            return [
                self._emit(
                    payloads.template_category_update_impending(
                        template["waba_id"],
                        template_id=template["id"],
                        name=template["name"],
                        language=template["language"],
                        current_category=template["category"],
                        correct_category=correct,
                        category_update_timestamp=when,
                        time=self.now,
                    )
                )
            ]
        previous = template["category"]
        template["category"] = correct
        return [
            self._emit(
                payloads.template_category_update_completed(
                    template["waba_id"],
                    template_id=template["id"],
                    name=template["name"],
                    language=template["language"],
                    previous_category=previous,
                    new_category=correct,
                    time=self.now,
                )
            )
        ]

    def _next_wamid(self) -> str:
        raw = f"sim.{int(self.now)}.{next(self._wamid)}".encode()
        return "wamid." + base64.b64encode(raw).decode()

    def _event_message_status(self, event: dict) -> list[dict]:
        """{"phone_number_id", "status": sent|delivered|read|failed, "recipient_id",
        "category": marketing|utility|..., "error_codes": [131049], "wamid"}."""
        number = self._number_of(event)
        status = str(event.get("status", "delivered"))
        codes = event.get("error_codes")
        if codes is None and event.get("error_code") is not None:
            codes = [event["error_code"]]
        return [
            self._emit(
                payloads.messages_status(
                    number["waba_id"],
                    phone_number_id=number["id"],
                    display_phone_number=number["display_phone_number"],
                    wamid=str(event.get("wamid") or self._next_wamid()),
                    status=status,
                    recipient_id=str(event.get("recipient_id", "15550009999")),
                    timestamp=self.now,
                    category=event.get("category", "utility" if status != "failed" else None),
                    pricing_model=str(event.get("pricing_model", "PMP")),
                    pricing_type=str(event.get("pricing_type", "regular")),
                    error_codes=[int(c) for c in codes or ()],
                )
            )
        ]

    def _event_inbound_message(self, event: dict) -> list[dict]:
        """{"phone_number_id", "from": "<wa_id>", "text": "STOP", "name": "Ana"}."""
        number = self._number_of(event)
        return [
            self._emit(
                payloads.messages_inbound_text(
                    number["waba_id"],
                    phone_number_id=number["id"],
                    display_phone_number=number["display_phone_number"],
                    from_wa_id=str(event.get("from", "15550009999")),
                    text=str(event.get("text", "STOP")),
                    wamid=str(event.get("wamid") or self._next_wamid()),
                    profile_name=str(event.get("name", "")),
                    timestamp=self.now,
                )
            )
        ]

    def _event_webhook(self, event: dict) -> list[dict]:
        """A raw change: {"waba_id", "field", "value"} wrapped in the envelope."""
        waba_id = str(event["waba_id"])
        if event["field"] == "messages":
            return [self._emit(payloads.messages_envelope(waba_id, event["value"]))]
        return [
            self._emit(payloads.envelope(waba_id, event["field"], event["value"], time=self.now))
        ]

    # --- templates: review, edit ------------------------------------------------------------

    def _schedule_review(self, template: dict) -> None:
        template["gen"] += 1
        self._schedule(
            self.now + self.review_delay,
            {"kind": "review", "template_id": template["id"], "gen": template["gen"]},
        )

    def _outcome_for(self, template: dict) -> dict:
        if template.get("review_outcome"):
            outcome = template["review_outcome"]
            return {"outcome": outcome} if isinstance(outcome, str) else dict(outcome)
        for rule in self.review_rules:
            if fnmatch.fnmatchcase(template["name"], rule.get("match", "*")):
                return dict(rule)
        return {"outcome": "APPROVED"}

    def _review(self, template: dict, outcome: dict | None) -> list[dict]:
        if template["status"] != "PENDING":
            return []
        decision = outcome or self._outcome_for(template)
        template["gen"] += 1
        if str(decision.get("outcome", "APPROVED")).upper() == "REJECTED":
            reason = str(decision.get("reason") or "INVALID_FORMAT")
            template["status"] = "REJECTED"
            template["rejected_reason"] = reason
            rejection_info = None
            if reason == "INVALID_FORMAT":
                rejection_info = {
                    "reason": "The template's parameters are not formatted correctly.",
                    "recommendation": "Check the braces and the order of the parameters.",
                }
            return [
                self._template_status_webhook(
                    template, "REJECTED", reason=reason, rejection_info=rejection_info
                )
            ]
        template["status"] = "APPROVED"
        template["rejected_reason"] = None
        if decision.get("category"):
            template["category"] = str(decision["category"])
        template["quality"] = "UNKNOWN"
        template["quality_date"] = int(self.now)
        return [self._template_status_webhook(template, "APPROVED", reason="NONE")]

    def _validate_components(self, components: Any, parameter_format: str) -> None:
        if not isinstance(components, list) or not components:
            raise _invalid(2388072, "Body is missing", "A template needs a BODY component.")
        body = None
        for component in components:
            if not isinstance(component, dict):
                raise _invalid(None, "Invalid components", "Each component must be an object.")
            kind = str(component.get("type", "")).upper()
            text = str(component.get("text") or "")
            if kind == "BODY":
                body = text
                if len(text) > 1024:
                    raise _invalid(2388040, "Body too long", "The body exceeds 1024 characters.")
            elif kind == "HEADER":
                fmt = str(component.get("format", "TEXT")).upper()
                if fmt not in ("TEXT", "IMAGE", "VIDEO", "GIF", "DOCUMENT", "LOCATION"):
                    raise _invalid(2388047, "Invalid header", f"Unknown header format {fmt}.")
                if fmt == "TEXT" and len(text) > 60:
                    raise _invalid(2388040, "Header too long", "The header exceeds 60 characters.")
            elif kind == "FOOTER":
                if len(text) > 60:
                    raise _invalid(2388040, "Footer too long", "The footer exceeds 60 characters.")
                if _PARAM.search(text):
                    raise _invalid(2388073, "Invalid footer", "A footer cannot hold parameters.")
        if body is None or not body.strip():
            raise _invalid(2388072, "Body is missing", "A template needs a non-empty BODY.")
        params = _PARAM.findall(body)
        if body.count("{{") != body.count("}}") or len(params) != body.count("{{"):
            raise _invalid(2388072, "Invalid body", "The body has mismatched braces.")
        stripped = body.strip()
        if params and (_PARAM.match(stripped) or re.search(r"\{\{[^{}]*\}\}[.!?]?$", stripped)):
            raise _invalid(
                2388299,
                "Leading or trailing parameters not allowed",
                "The body may not start or end with a parameter.",
            )
        words = len(_WORD.findall(_PARAM.sub(" ", body)))
        if params and words < 2 * len(params):
            raise _invalid(
                2388293,
                "Parameters words ratio exceeds limit",
                "The body has too many parameters for its length.",
            )
        if (
            parameter_format == "positional"
            and params
            and params != [str(i) for i in range(1, len(params) + 1)]
        ):
            raise _invalid(2388072, "Invalid body", "Parameters must be {{1}}, {{2}}, ...")

    def _create_template(self, waba: dict, body: dict) -> dict:
        name = str(body.get("name") or "")
        language = str(body.get("language") or "")
        category = str(body.get("category") or "").upper()
        parameter_format = str(body.get("parameter_format") or "positional").lower()
        if not _NAME.match(name):
            raise _invalid(None, "Invalid name", "Names use lowercase letters, digits and _.")
        if not language:
            raise _invalid(None, "Missing language", "The template language is required.")
        if category not in ("MARKETING", "UTILITY", "AUTHENTICATION"):
            raise _invalid(None, "Invalid category", f"Unknown category {category!r}.")
        if parameter_format not in ("positional", "named"):
            raise _invalid(None, "Invalid parameter format", "positional or named.")
        self._validate_components(body.get("components"), parameter_format)
        existing = [self.templates[t] for t in waba["template_ids"]]
        if any(t["name"] == name and t["language"] == language for t in existing):
            raise _invalid(
                2388024,
                "Content in this language already exists",
                f"A template {name} in {language} already exists.",
            )
        if len(existing) >= self.template_limit:
            raise _invalid(
                2388019,
                "Message template limit exceeded",
                f"This WhatsApp Business Account has reached its limit of "
                f"{self.template_limit} message templates.",
            )
        template_id = str(990000000000000 + next(self._new_ids))
        template = self._load_template(
            waba,
            {
                "id": template_id,
                "name": name,
                "language": language,
                "category": category,
                "status": "PENDING",
                "quality": "UNKNOWN",
                "parameter_format": parameter_format,
                "components": body.get("components"),
                "created_by_api": True,
            },
        )
        return {"id": template["id"], "status": "PENDING", "category": category}

    def _edit_template(self, template: dict, body: dict) -> dict:
        status = template["status"]
        if status not in TEMPLATE_EDITABLE:
            raise _invalid(
                2388039,
                "Message template status can't be changed",
                f"A template in status {status} cannot be edited; only APPROVED, REJECTED and "
                "PAUSED templates can.",
            )
        if status == "APPROVED":
            category = body.get("category")
            if category and str(category).upper() != template["category"]:
                raise _invalid(
                    2388039,
                    "Message template status can't be changed",
                    "The category of an approved template cannot be edited.",
                )
            edits = [t for t in template["edit_times"] if t > self.now - 30 * DAY]
            for window, limit in EDIT_WINDOWS:
                if sum(1 for t in edits if t > self.now - window) >= limit:
                    period = "24 hours" if window == DAY else "30 days"
                    raise _invalid(
                        2388039,
                        "Message template status can't be changed",
                        f"An approved template can be edited {limit} time(s) per {period}; "
                        "this limit was reached.",
                    )
        if "components" in body:
            self._validate_components(body["components"], template["parameter_format"])
            template["components"] = body["components"]
        if body.get("category"):
            template["category"] = str(body["category"]).upper()
        if status == "APPROVED":
            template["edit_times"] = [
                t for t in template["edit_times"] if t > self.now - 30 * DAY
            ] + [self.now]
        template["status"] = "PENDING"
        template["rejected_reason"] = None
        template.pop("paused_until", None)
        self._schedule_review(template)
        return {"success": True}

    def _delete_templates(self, waba: dict, query: dict) -> tuple[dict, list[dict]]:
        name = query.get("name")
        if not name:
            raise _invalid(None, "Missing name", "The name parameter is required.")
        hsm_id = query.get("hsm_id")
        targets = [
            self.templates[t]
            for t in waba["template_ids"]
            if self.templates[t]["name"] == name and (not hsm_id or t == hsm_id)
        ]
        if not targets:
            raise _not_found(hsm_id or name)
        if any(t["status"] == "DISABLED" for t in targets):
            raise _invalid(
                2388039,
                "Message template status can't be changed",
                "Disabled templates cannot be deleted.",
            )
        produced = []
        for template in targets:
            template["gen"] += 1
            del self.templates[template["id"]]
            waba["template_ids"].remove(template["id"])
            template["status"] = "DELETED"
            produced.append(self._template_status_webhook(template, "DELETED", reason=None))
        return {"success": True}, produced

    # --- health ---------------------------------------------------------------------------

    def _waba_entities(self, waba: dict) -> list[dict]:
        waba_entity: dict[str, Any] = {"entity_type": "WABA", "id": waba["id"]}
        active = [r for r in waba["restrictions"] if r["expiration"] > self.now]
        if waba.get("ban_state") == "DISABLE":
            waba_entity["can_send_message"] = "BLOCKED"
            waba_entity["errors"] = [
                {
                    "error_code": 141014,
                    "error_description": "The WABA is banned.",
                    "possible_solution": "Request a review in Business Support Home.",
                }
            ]
        elif active or waba.get("ban_state") == "SCHEDULE_FOR_DISABLE":
            waba_entity["can_send_message"] = "LIMITED"
            info = [f"{r['restriction_type']} until {r['expiration']}" for r in active]
            if waba.get("ban_state") == "SCHEDULE_FOR_DISABLE":
                info.append(f"The account is scheduled to be disabled on {waba['ban_date']}.")
            waba_entity["additional_info"] = info
        elif waba.get("account_review_status") not in ("APPROVED", None):
            waba_entity["can_send_message"] = "LIMITED"
            waba_entity["additional_info"] = ["The account has not passed review."]
        else:
            waba_entity["can_send_message"] = "AVAILABLE"
        business: dict[str, Any] = {"entity_type": "BUSINESS", "id": waba["business_id"]}
        if waba.get("business_verification_status") == "VERIFIED":
            business["can_send_message"] = "AVAILABLE"
        else:
            business["can_send_message"] = "LIMITED"
            business["errors"] = [
                {
                    "error_code": 141010,
                    "error_description": "The Business has not passed business verification.",
                    "possible_solution": "Verify the business in Meta Business Suite.",
                }
            ]
        app = {"entity_type": "APP", "id": "sim-app", "can_send_message": "AVAILABLE"}
        return [waba_entity, business, app]

    @staticmethod
    def _rollup(entities: list[dict]) -> dict:
        order = {"AVAILABLE": 0, "LIMITED": 1, "BLOCKED": 2}
        worst = max((e["can_send_message"] for e in entities), key=lambda v: order.get(v, 1))
        return {"can_send_message": worst, "entities": entities}

    def _number_health(self, number: dict) -> dict:
        if "health_status" in number:
            return number["health_status"]
        status = number["status"]
        entity: dict[str, Any] = {
            "entity_type": "PHONE_NUMBER",
            "id": number["id"],
            "can_receive_call_sip": "AVAILABLE",
        }
        if status in ("CONNECTED", "FLAGGED"):
            entity["can_send_message"] = "AVAILABLE"
        elif status in ("BANNED", "DISCONNECTED", "DELETED", "OFFLINE", "UNLINKED"):
            entity["can_send_message"] = "BLOCKED"
        else:
            entity["can_send_message"] = "LIMITED"
            entity["additional_info"] = [f"The number's status is {status}."]
        return self._rollup([entity, *self._waba_entities(self.wabas[number["waba_id"]])])

    def _waba_health(self, waba: dict) -> dict:
        if "health_status" in waba:
            return waba["health_status"]
        return self._rollup(self._waba_entities(waba))

    # --- Graph API: representation --------------------------------------------------------

    @staticmethod
    def _fields(query: dict, default: tuple[str, ...]) -> list[str]:
        raw = query.get("fields")
        if not raw:
            return list(default)
        return [f.strip() for f in raw.split(",") if f.strip()]

    def _waba_json(self, waba: dict, fields: list[str]) -> dict:
        out: dict[str, Any] = {"id": waba["id"]}
        for name in fields:
            if name == "health_status":
                out[name] = self._waba_health(waba)
            elif name in waba and waba[name] is not None and name not in ("restrictions",):
                out[name] = waba[name]
        return out

    def _number_json(self, number: dict, fields: list[str]) -> dict:
        out: dict[str, Any] = {"id": number["id"]}
        for name in fields:
            if name == "health_status":
                out[name] = self._number_health(number)
            elif name in number and number[name] is not None and name != "waba_id":
                out[name] = number[name]
        return out

    def _template_json(self, template: dict, fields: list[str]) -> dict:
        out: dict[str, Any] = {"id": template["id"]}
        for name in fields:
            if name == "quality_score":
                out[name] = {"score": template["quality"], "date": int(template["quality_date"])}
            elif name == "rejected_reason":
                out[name] = template.get("rejected_reason") or "NONE"
            elif name in template and template[name] is not None and name != "waba_id":
                out[name] = template[name]
        return out

    def _page(self, items: list[dict], path: str, query: dict) -> dict:
        try:
            limit = int(query.get("limit") or DEFAULT_PAGE_LIMIT)
        except ValueError as exc:
            raise _invalid(None, "Invalid limit", "limit must be an integer.") from exc
        limit = max(1, min(limit, MAX_PAGE_LIMIT))
        start = 0
        if query.get("after"):
            try:
                start = int(base64.urlsafe_b64decode(query["after"].encode()).decode())
            except (ValueError, UnicodeDecodeError) as exc:
                raise _invalid(None, "Invalid cursor", "The after cursor is invalid.") from exc
        chunk = items[start : start + limit]
        result: dict[str, Any] = {"data": chunk}
        if items:
            end = start + len(chunk)

            def cursor(index: int) -> str:
                return base64.urlsafe_b64encode(str(index).encode()).decode()

            paging: dict[str, Any] = {"cursors": {"before": cursor(start), "after": cursor(end)}}
            if end < len(items):
                params = {k: v for k, v in query.items() if k not in ("after", "before")}
                params["limit"] = str(limit)
                params["after"] = cursor(end)
                paging["next"] = f"{self.public_url}{path}?{urlencode(params)}"
            result["paging"] = paging
        return result

    # --- Graph API: requests --------------------------------------------------------------

    def _owner_waba(self, object_id: str) -> str | None:
        if object_id in self.wabas:
            return object_id
        for table in (self.numbers, self.templates):
            if object_id in table:
                return table[object_id]["waba_id"]
        return None

    def _usage_header(self, waba_id: str | None, regain_minutes: int) -> str:
        key = waba_id or "app"
        calls = self._waba_calls.get(key, ())
        limit = int(self.rate_limit_per_hour or DEFAULT_RATE_LIMIT_PER_HOUR)
        pct = min(100, math.ceil(100 * len(calls) / max(1, limit)))
        return json.dumps(
            {
                key: [
                    {
                        "type": "whatsapp_business_management",
                        "call_count": pct,
                        "total_cputime": max(1, pct // 2) if calls else 0,
                        "total_time": pct,
                        "estimated_time_to_regain_access": regain_minutes,
                    }
                ]
            },
            separators=(",", ":"),
        )

    def _take_injected_error(self, path: str) -> dict | None:
        queue = self.errors.get("next") or []
        for index, item in enumerate(queue):
            if item.get("match") and item["match"] not in path:
                continue
            if int(item.get("skip", 0)) > 0:
                item["skip"] = int(item["skip"]) - 1
                return None
            item["count"] = int(item.get("count", 1)) - 1
            if item["count"] <= 0:
                queue.pop(index)
            return item
        for kind, rate in (self.errors.get("rates") or {}).items():
            if self._error_rng.random() < float(rate):
                return {"kind": str(kind)}
        return None

    def configure(self, *, latency_ms: float | None = None, errors: dict | None = None) -> None:
        """Latency per call, and error injection:

        `errors={"rates": {"429": 0.1, "500": 0.05, "80008": 0.1}, "seed": 1,
                 "next": [{"kind": "500", "count": 2}, {"kind": "429", "retry_after": 3},
                          {"kind": "80008", "regain_minutes": 5, "match": "/phone_numbers"}]}`
        `next` items are consumed in order before rates apply; `match` limits an item to paths
        containing it; `skip: N` lets the next N (matching) calls through first. Shorthand:
        `{"429": 0.1}` means rates. `{}` clears everything. Kinds: 429, 4, 17, 80007, 80008,
        500, 503, 190, drop (connection closed with no answer), timeout (answer after `delay`
        seconds). Items may carry `retry_after` (Retry-After header, seconds) and
        `regain_minutes` (estimated_time_to_regain_access in X-Business-Use-Case-Usage).
        """
        with self.lock:
            if latency_ms is not None:
                self.latency_ms = float(latency_ms)
            if errors is not None:
                errors = dict(errors)
                rates = dict(errors.pop("rates", {}) or {})
                queue = [dict(item) for item in errors.pop("next", []) or []]
                seed = errors.pop("seed", None)
                rates.update({str(k): float(v) for k, v in errors.items()})
                unknown = [
                    k
                    for k in [*rates, *(i.get("kind") for i in queue)]
                    if k not in ERROR_KINDS and k not in TRANSPORT_KINDS
                ]
                if unknown:
                    raise ValueError(f"unknown error kinds: {unknown}")
                self.errors = {"rates": rates, "next": queue}
                if seed is not None:
                    self._error_rng = random.Random(seed)  # noqa: S311

    def handle(
        self, method: str, path: str, query: dict[str, str], body: Any, token: str | None
    ) -> tuple[int, dict[str, str], dict | None, list[dict], dict | None]:
        """One Graph API request → (status, headers, JSON body, webhooks, transport fault).

        `transport fault` is an injected "drop"/"timeout" for the HTTP layer to act out.
        """
        with self.lock:
            self.calls += 1
            trace = f"Asim{next(self._trace):08d}"
            segments = [s for s in path.split("/") if s]
            if segments and _VERSION.match(segments[0]):
                segments = segments[1:]
            waba_key = self._owner_waba(segments[0]) if segments else None
            bucket = self._waba_calls.setdefault(waba_key or "app", deque())
            bucket.append(self.now)
            while bucket and bucket[0] <= self.now - HOUR:
                bucket.popleft()
            headers: dict[str, str] = {}
            regain = 0
            webhooks: list[dict] = []
            fault = None
            try:
                if not token or token not in self.tokens:
                    raise GraphError(
                        401,
                        190,
                        "Invalid OAuth access token - Cannot parse access token",
                    )
                injected = self._take_injected_error(path)
                if injected is not None:
                    kind = injected["kind"]
                    if injected.get("retry_after") is not None:
                        headers["Retry-After"] = str(injected["retry_after"])
                    regain = int(injected.get("regain_minutes") or 0)
                    if kind in TRANSPORT_KINDS:
                        fault = injected
                    else:
                        status, code, error_type, message, transient = ERROR_KINDS[kind]
                        raise GraphError(
                            status, code, message, error_type=error_type, is_transient=transient
                        )
                if fault is None or fault["kind"] == "timeout":
                    if self.rate_limit_per_hour and len(bucket) > int(self.rate_limit_per_hour):
                        regain = max(1, math.ceil((bucket[0] + HOUR - self.now) / 60))
                        status, code, error_type, message, transient = ERROR_KINDS["80007"]
                        raise GraphError(status, code, message, error_type=error_type)
                    status, data, webhooks = self._route(method, segments, query, body, path)
                else:
                    status, data = 0, None
            except GraphError as exc:
                status, data = exc.http_status, exc.body(trace)
                headers.update(exc.headers)
            headers["X-Business-Use-Case-Usage"] = self._usage_header(waba_key, regain)
            headers["X-App-Usage"] = '{"call_count":0,"total_cputime":0,"total_time":0}'
            headers["x-fb-trace-id"] = trace
            self.request_log.append(
                {"method": method, "path": path, "status": status, "at": self.now}
            )
            return status, headers, data, webhooks, fault

    def _route(
        self, method: str, segments: list[str], query: dict, body: Any, path: str
    ) -> tuple[int, dict, list[dict]]:
        if not segments:
            raise GraphError(400, 2500, "Unknown path components", error_type="OAuthException")
        object_id, rest = segments[0], segments[1:]
        if not isinstance(body, dict):
            body = {}
        if not rest:
            if method == "GET":
                if object_id in self.wabas:
                    waba = self.wabas[object_id]
                    return 200, self._waba_json(waba, self._fields(query, WABA_DEFAULT_FIELDS)), []
                if object_id in self.numbers:
                    number = self.numbers[object_id]
                    fields = self._fields(query, NUMBER_DEFAULT_FIELDS)
                    return 200, self._number_json(number, fields), []
                if object_id in self.templates:
                    template = self.templates[object_id]
                    fields = self._fields(query, TEMPLATE_DEFAULT_FIELDS)
                    return 200, self._template_json(template, fields), []
                raise _not_found(object_id)
            if method == "POST" and object_id in self.templates:
                return 200, self._edit_template(self.templates[object_id], body), []
            raise _not_found(object_id)
        edge = "/".join(rest)
        if edge == "phone_numbers" and method == "GET" and object_id in self.wabas:
            waba = self.wabas[object_id]
            fields = self._fields(query, NUMBER_DEFAULT_FIELDS)
            items = [self._number_json(self.numbers[n], fields) for n in waba["number_ids"]]
            return 200, self._page(items, path, query), []
        if edge == "message_templates" and object_id in self.wabas:
            waba = self.wabas[object_id]
            if method == "GET":
                fields = self._fields(query, TEMPLATE_DEFAULT_FIELDS)
                items = [
                    self._template_json(self.templates[t], fields)
                    for t in waba["template_ids"]
                    if self._template_matches(self.templates[t], query)
                ]
                return 200, self._page(items, path, query), []
            if method == "POST":
                return 200, self._create_template(waba, body), []
            if method == "DELETE":
                data, produced = self._delete_templates(waba, query)
                return 200, data, produced
        if edge == "unpause" and method == "POST" and object_id in self.templates:
            template = self.templates[object_id]
            if template["status"] != "PAUSED":
                raise _invalid(
                    2388039,
                    "Message template status can't be changed",
                    f"Only a paused template can be unpaused (status {template['status']}).",
                )
            return 200, {"success": True}, self._unpause(template, manual=True)
        if object_id not in self.wabas and object_id not in self.templates:
            raise _not_found(object_id)
        raise GraphError(400, 2500, f"Unknown path components: /{edge}")

    @staticmethod
    def _template_matches(template: dict, query: dict) -> bool:
        for key in ("name", "language", "category", "status"):
            wanted = query.get(key)
            if wanted and str(template.get(key, "")).upper() not in {
                w.strip().upper() for w in wanted.split(",")
            }:
                return False
        return True

    # --- inspection -----------------------------------------------------------------------

    def snapshot(self) -> dict:
        """A JSON-able copy of the state (GET /_sim/state)."""
        with self.lock:
            return json.loads(
                json.dumps(
                    {
                        "now": self.now,
                        "start_time": self.start_time,
                        "calls": self.calls,
                        "wabas": self.wabas,
                        "numbers": self.numbers,
                        "templates": self.templates,
                        "timers": self.pending_timers(),
                        "webhooks_sent": len(self.webhooks),
                        "latency_ms": self.latency_ms,
                        "errors": self.errors,
                    },
                    default=str,
                )
            )
