"""The simulator's state and rules, without HTTP: Graph API requests in, (status, headers,
body) out; events in, webhook envelopes out; a simulated clock with timers.

Thread-safe: every entry point takes `self.lock`. `server.py` wraps it in an HTTP server.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import math
import random
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from portal.meta.simulator import scenario as scenario_mod
from portal.meta.simulator.common import (
    _VERSION,
    DEFAULT_PAGE_LIMIT,
    DEFAULT_RATE_LIMIT_PER_HOUR,
    ERROR_KINDS,
    HOUR,
    MAX_PAGE_LIMIT,
    NUMBER_DEFAULT_FIELDS,
    TEMPLATE_DEFAULT_FIELDS,
    TRANSPORT_KINDS,
    WABA_DEFAULT_FIELDS,
    GraphError,
    _invalid,
    _not_found,
)
from portal.meta.simulator.events import EventsMixin
from portal.meta.simulator.templates import TemplatesMixin
from portal.meta.simulator.uploads import UploadsMixin

BATCH_LIMIT = 50  # requests in one Graph batch
WABA_EDGES = ("phone_numbers", "message_templates")  # the edges a WABA read may expand


def field_specs(raw: str) -> list[tuple[str, str | None, str]]:
    """Graph's `fields` parameter → (name, limit, subfields) per top-level field:
    "id,phone_numbers.limit(5){id,status},name" → [("id", None, ""),
    ("phone_numbers", "5", "id,status"), ("name", None, "")]."""
    specs, depth, start = [], 0, 0
    parts = []
    for index, char in enumerate(raw):
        if char in "{(":
            depth += 1
        elif char in "})":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(raw[start:index])
            start = index + 1
    parts.append(raw[start:])
    for part in (p.strip() for p in parts):
        if not part:
            continue
        subfields = ""
        if part.endswith("}") and "{" in part:
            part, subfields = part[: part.index("{")], part[part.index("{") + 1 : -1]
        name, *modifiers = part.split(".")
        limit = None
        for modifier in modifiers:
            if modifier.startswith("limit(") and modifier.endswith(")"):
                limit = modifier[6:-1]
        specs.append((name.strip(), limit, subfields))
    return specs


class Simulator(EventsMixin, TemplatesMixin, UploadsMixin):
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
        self.calls = 0  # Graph calls, each request of a batch counted (as Meta's rate limit does)
        self.requests = 0  # HTTP requests (a batch is one)
        self.in_flight = self.most_in_flight = 0  # Graph calls being answered at once
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
        self._uploads_init(str(data.get("app_id") or ""))
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
        """The plain field names asked for (an expanded edge's name, without what it asks)."""
        raw = query.get("fields")
        if not raw:
            return list(default)
        return [spec[0] for spec in field_specs(raw)]

    def _waba_edges(self, waba: dict, raw_fields: str, path: str) -> dict:
        """Meta's field expansion on a WABA: `phone_numbers{...}` and
        `message_templates.limit(N){...}` come back nested, each as its edge's first page
        (`{"data": [...], "paging": {...}}`, `paging.next` the edge's own URL)."""
        out: dict[str, Any] = {}
        for name, limit, subfields in field_specs(raw_fields):
            if name not in WABA_EDGES:
                continue
            query = {"fields": subfields} if subfields else {}
            if limit is not None:
                query["limit"] = limit
            out[name] = self._edge(waba, name, query, f"{path.rstrip('/')}/{name}")
        return out

    def _edge(self, waba: dict, edge: str, query: dict, path: str) -> dict:
        if edge == "phone_numbers":
            fields = self._fields(query, NUMBER_DEFAULT_FIELDS)
            items = [self._number_json(self.numbers[n], fields) for n in waba["number_ids"]]
        else:
            fields = self._fields(query, TEMPLATE_DEFAULT_FIELDS)
            items = [
                self._template_json(self.templates[t], fields)
                for t in waba["template_ids"]
                if self._template_matches(self.templates[t], query)
            ]
        return self._page(items, path, query)

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
        `POST /` with `batch` is a batch request (`_batch`).
        """
        with self.lock:
            self.requests += 1
            segments = [s for s in path.split("/") if s]
            top = not segments or (len(segments) == 1 and _VERSION.match(segments[0]))
            if method == "POST" and top and isinstance(body, dict) and "batch" in body:
                return self._batch(path, body, token)
            return self._handle_one(method, path, query, body, token)

    def _batch(
        self, path: str, body: dict, token: str | None
    ) -> tuple[int, dict[str, str], Any, list[dict], dict | None]:
        """Graph's batch request: `batch=[{"method", "relative_url", "body"?}]`, at most
        BATCH_LIMIT, answered with one `{"code", "headers": [{"name", "value"}], "body": JSON
        text}` per request, in order. Each counts as a call against the WABA's rate limit."""
        trace = f"Asim{next(self._trace):08d}"
        requests = body.get("batch")
        if isinstance(requests, str):
            try:
                requests = json.loads(requests)
            except ValueError:
                requests = None
        try:
            if not token or token not in self.tokens:
                raise GraphError(401, 190, "Invalid OAuth access token - Cannot parse access token")
            if not isinstance(requests, list) or not requests:
                raise _invalid(None, "Invalid batch", "batch must be a non-empty JSON array.")
            if len(requests) > BATCH_LIMIT:
                raise _invalid(
                    None,
                    "Too many requests in batch message",
                    f"Maximum batch size is {BATCH_LIMIT}.",
                )
        except GraphError as exc:
            return exc.http_status, exc.headers, exc.body(trace), [], None
        version = next((s for s in path.split("/") if s), "")
        answers, webhooks = [], []
        for item in requests:
            item = item if isinstance(item, dict) else {}
            split = urlsplit("/" + str(item.get("relative_url") or "").lstrip("/"))
            query = dict(parse_qsl(split.query, keep_blank_values=True))
            item_path = f"/{version}{split.path}" if version else split.path
            item_body = item.get("body") if isinstance(item.get("body"), dict) else {}
            status, headers, data, produced, _ = self._handle_one(
                str(item.get("method") or "GET").upper(), item_path, query, item_body, token
            )
            webhooks += produced
            answers.append(
                {
                    "code": status,
                    "headers": [{"name": k, "value": v} for k, v in headers.items()],
                    "body": json.dumps(data, separators=(",", ":")),
                }
            )
        headers = {"x-fb-trace-id": trace}
        return 200, headers, answers, webhooks, None

    def _handle_one(
        self, method: str, path: str, query: dict[str, str], body: Any, token: str | None
    ) -> tuple[int, dict[str, str], dict | None, list[dict], dict | None]:
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
        if object_id.startswith("upload:") and not rest:
            if method == "POST":
                data = body if isinstance(body, bytes) else b""
                return 200, self._upload_write(object_id, query.get("file_offset", "0"), data), []
            return 200, self._upload_status(object_id), []
        if rest == ["uploads"] and method == "POST":
            return 200, self._upload_start(object_id, query), []
        if not isinstance(body, dict):
            body = {}
        if not rest:
            if method == "GET":
                if object_id in self.wabas:
                    waba = self.wabas[object_id]
                    data = self._waba_json(waba, self._fields(query, WABA_DEFAULT_FIELDS))
                    data.update(self._waba_edges(waba, query.get("fields") or "", path))
                    return 200, data, []
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
            return 200, self._edge(self.wabas[object_id], edge, query, path), []
        if edge == "message_templates" and object_id in self.wabas:
            waba = self.wabas[object_id]
            if method == "GET":
                return 200, self._edge(waba, edge, query, path), []
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

    @contextmanager
    def call_in_flight(self) -> Iterator[None]:
        """Around answering one Graph call: how many are under way at once (a client's real
        concurrency, which the fleet benchmark holds to its configured one)."""
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self.lock:
                self.in_flight -= 1

    def snapshot(self) -> dict:
        """A JSON-able copy of the state (GET /_sim/state)."""
        with self.lock:
            return json.loads(
                json.dumps(
                    {
                        "now": self.now,
                        "start_time": self.start_time,
                        "calls": self.calls,
                        "requests": self.requests,
                        "most_in_flight": self.most_in_flight,
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
