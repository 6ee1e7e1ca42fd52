"""The Graph API client: real HTTP (httpx) to `{base_url}/{version}/...`.

Reads WABAs, phone numbers and message templates into our typed results
(`portal.meta.types`), and creates, edits, deletes and unpauses templates. Meta's field names
and enum tokens stop here: everything returned uses our enums (`from_meta`, UNKNOWN for a token
we do not know) and keeps Meta's full JSON in `raw`.

Retries: HTTP 5xx, HTTP 429, transport errors and timeouts, Meta codes 4, 17, 80007, 80008 and
any error marked `is_transient` are retried up to `max_retries` times with exponential backoff
and full jitter (`rng.uniform(0, min(max_backoff, backoff_base * 2**attempt))`). A
`Retry-After` header or an `X-Business-Use-Case-Usage` entry with
`estimated_time_to_regain_access` (minutes) replaces the jittered wait. When the wait would
exceed `max_backoff`, or retries run out, `MetaRateLimited` is raised with `retry_after` so
the caller (a Celery task) retries later instead of blocking a worker.

The token is sent only in the Authorization header, never logged, and stripped from the
`paging.next` URLs Meta returns.
"""

from __future__ import annotations

import email.utils
import functools
import json
import logging
import os
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from portal.meta.errors import (
    RATE_LIMIT_CODES,
    TEMPLATE_STATUS_LOCKED_SUBCODE,
    MetaError,
    MetaRateLimited,
    MetaTemplateEditRefused,
    MetaTransportError,
    MetaUnavailable,
    error_from_body,
)
from portal.meta.types import (
    BusinessUseCaseUsage,
    BusinessVerification,
    CanSend,
    CodeVerification,
    CreatedTemplate,
    Health,
    HealthEntity,
    MessagingLimit,
    NameStatus,
    NumberStatus,
    PhoneNumberInfo,
    Quality,
    ReviewStatus,
    TemplateCategory,
    TemplateInfo,
    TemplateStatus,
    ThroughputLevel,
    WabaAssets,
    WabaInfo,
)

logger = logging.getLogger(__name__)

WABA_FIELDS = (
    "id,name,currency,timezone_id,message_template_namespace,account_review_status,"
    "business_verification_status,health_status,owner_business_info,"
    "marketing_messages_onboarding_status"
)
PHONE_NUMBER_FIELDS = (
    "id,display_phone_number,verified_name,status,quality_rating,"
    "whatsapp_business_manager_messaging_limit,messaging_limit_tier,throughput,name_status,"
    "new_display_name,new_name_status,code_verification_status,platform_type,account_mode,"
    "health_status"
)
TEMPLATE_FIELDS = (
    "id,name,language,category,status,quality_score,rejected_reason,parameter_format,components"
)
BUC_HEADER = "X-Business-Use-Case-Usage"
DEFAULT_PAGE_SIZE = 100
BATCH_LIMIT = 50  # requests in one Graph batch request
DEFAULT_MAX_IN_FLIGHT = 4  # calls one client has under way at once
# Past this share (percent) of any use case's limit, one call at a time.
BUSY_USAGE_PERCENT = 75

_DEFAULTS = {
    "META_GRAPH_URL": "https://graph.facebook.com",
    "META_API_VERSION": "v24.0",
    "META_HTTP_TIMEOUT": 10.0,
    "META_MAX_RETRIES": 5,
    "META_MAX_BACKOFF_SECONDS": 30.0,
    "META_MAX_IN_FLIGHT": DEFAULT_MAX_IN_FLIGHT,
}


def _setting(name: str) -> Any:
    """A META_* setting, or its default when Django is not configured (CLI, scripts)."""
    from django.conf import settings

    if settings.configured:
        return getattr(settings, name, _DEFAULTS[name])
    return _DEFAULTS[name]


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verified TLS context for every client: building one costs ~30 ms (loading the CA
    bundle), which a fleet sync creating a client per task would pay thousands of times."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


_THREAD = threading.local()


def _kept_http(base_url: str, timeout: float, token: str) -> httpx.Client:
    """This thread's HTTP client for these settings, kept open from one GraphClient to the next.

    A task builds a GraphClient for each run (the fleet sync, one a client); building an httpx
    client cost more than the sync's own work, and a new one opens a new connection (a TLS
    handshake with Meta) for every task. The kept one reuses its pooled connections; httpx
    drops one idle past its keep-alive expiry. A client for other settings (another token, URL
    or timeout) replaces it; a forked process builds its own."""
    key = (os.getpid(), base_url, timeout, token)
    held = getattr(_THREAD, "http", None)
    if held is not None and held[0] == key:
        return held[1]
    if held is not None and held[0][0] == key[0]:
        held[1].close()
    client = httpx.Client(
        base_url=base_url,
        timeout=timeout,
        verify=_ssl_context(),
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        follow_redirects=False,
    )
    _THREAD.http = (key, client)
    return client


# --- mapping Meta's JSON to our types -------------------------------------------------------

# Worst first: an entity we cannot read counts as worse than AVAILABLE, better than LIMITED.
_CAN_SEND_RANK = {CanSend.AVAILABLE: 0, CanSend.UNKNOWN: 1, CanSend.LIMITED: 2, CanSend.BLOCKED: 3}


def parse_health(raw: Any) -> Health | None:
    """`health_status` → Health; `can_send` is the worst of the entities' `can_send_message`.

    Calling-only fields (`can_receive_call_sip`, ...) are ignored: Meta's top-level value can
    read BLOCKED only because SIP calling is not set up (meta-platform.md §1.7). The top-level
    value is used only when no entity reports a messaging value.
    """
    if not isinstance(raw, dict):
        return None
    entities: list[HealthEntity] = []
    worst: CanSend | None = None
    for item in raw.get("entities") or ():
        if not isinstance(item, dict):
            continue
        has_value = item.get("can_send_message") not in (None, "")
        can_send = CanSend.from_meta(item.get("can_send_message"))
        entities.append(
            HealthEntity(
                entity_type=str(item.get("entity_type") or ""),
                entity_id=str(item.get("id") or ""),
                can_send=can_send,
                errors=tuple(e for e in item.get("errors") or () if isinstance(e, dict)),
                additional_info=tuple(str(x) for x in item.get("additional_info") or ()),
            )
        )
        if has_value and (worst is None or _CAN_SEND_RANK[can_send] > _CAN_SEND_RANK[worst]):
            worst = can_send
    if worst is None:
        worst = CanSend.from_meta(raw.get("can_send_message"))
    return Health(can_send=worst, entities=tuple(entities))


def _str_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _limit_token(value: Any) -> str | None:
    """A TIER_* token from a string, or from an object carrying one (tolerant of shapes)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        for key in ("max_daily_conversations_per_business", "current_limit", "tier", "value"):
            if isinstance(value.get(key), str):
                return value[key]
    return None


def parse_waba(raw: dict) -> WabaInfo:
    return WabaInfo(
        id=str(raw.get("id", "")),
        name=str(raw.get("name") or ""),
        currency=_str_or_none(raw.get("currency")),
        timezone_id=_str_or_none(raw.get("timezone_id")),
        message_template_namespace=_str_or_none(raw.get("message_template_namespace")),
        review_status=ReviewStatus.from_meta(raw.get("account_review_status")),
        business_verification=BusinessVerification.from_meta(
            raw.get("business_verification_status")
        ),
        health=parse_health(raw.get("health_status")),
        raw=raw,
    )


def parse_phone_number(raw: dict) -> PhoneNumberInfo:
    limit = _limit_token(raw.get("whatsapp_business_manager_messaging_limit")) or _limit_token(
        raw.get("messaging_limit_tier")
    )
    throughput = raw.get("throughput")
    level = throughput.get("level") if isinstance(throughput, dict) else throughput
    new_name_status = raw.get("new_name_status")
    return PhoneNumberInfo(
        id=str(raw.get("id", "")),
        display_phone_number=str(raw.get("display_phone_number") or ""),
        verified_name=str(raw.get("verified_name") or ""),
        status=NumberStatus.from_meta(raw.get("status")),
        quality=Quality.from_meta(raw.get("quality_rating")),
        messaging_limit=MessagingLimit.from_meta(limit),
        throughput=ThroughputLevel.from_meta(level if isinstance(level, str) else None),
        name_status=NameStatus.from_meta(raw.get("name_status")),
        new_display_name=_str_or_none(raw.get("new_display_name")),
        new_name_status=None
        if new_name_status in (None, "")
        else NameStatus.from_meta(new_name_status),
        code_verification=CodeVerification.from_meta(raw.get("code_verification_status")),
        platform_type=_str_or_none(raw.get("platform_type")),
        account_mode=_str_or_none(raw.get("account_mode")),
        health=parse_health(raw.get("health_status")),
        raw=raw,
    )


def parse_template(raw: dict) -> TemplateInfo:
    score = raw.get("quality_score")
    quality_token = score.get("score") if isinstance(score, dict) else score
    updated_at = None
    if isinstance(score, dict) and isinstance(score.get("date"), int | float):
        updated_at = datetime.fromtimestamp(score["date"], tz=UTC)
    components = raw.get("components") or ()
    return TemplateInfo(
        id=str(raw.get("id", "")),
        name=str(raw.get("name") or ""),
        language=str(raw.get("language") or ""),
        category=TemplateCategory.from_meta(raw.get("category")),
        status=TemplateStatus.from_meta(raw.get("status")),
        quality=Quality.from_meta(quality_token if isinstance(quality_token, str) else None),
        quality_updated_at=updated_at,
        rejected_reason=_str_or_none(raw.get("rejected_reason")),
        parameter_format=(_str_or_none(raw.get("parameter_format")) or "").lower() or None,
        components=tuple(c for c in components if isinstance(c, dict)),
        raw=raw,
    )


def parse_usage_header(value: str | None) -> dict[str, list[BusinessUseCaseUsage]]:
    """`X-Business-Use-Case-Usage` → {business or WABA id: [usage per use case]}; {} if bad."""
    if not value:
        return {}
    try:
        data = json.loads(value)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}

    def number(entry: dict, key: str) -> int:
        try:
            return int(float(entry.get(key) or 0))
        except (TypeError, ValueError):
            return 0

    usage: dict[str, list[BusinessUseCaseUsage]] = {}
    for business_id, entries in data.items():
        if not isinstance(entries, list):
            continue
        usage[str(business_id)] = [
            BusinessUseCaseUsage(
                business_id=str(business_id),
                use_case=str(entry.get("type") or ""),
                call_count=number(entry, "call_count"),
                total_cputime=number(entry, "total_cputime"),
                total_time=number(entry, "total_time"),
                estimated_time_to_regain_access_minutes=number(
                    entry, "estimated_time_to_regain_access"
                ),
            )
            for entry in entries
            if isinstance(entry, dict)
        ]
    return usage


def _retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After`: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _category_token(category: TemplateCategory) -> str:
    category = TemplateCategory(category)
    if category is TemplateCategory.UNKNOWN:
        raise ValueError("A template needs a known category (marketing, utility, authentication).")
    return category.name


# --- the client -----------------------------------------------------------------------------


class GraphClient:
    """Meta's Graph API for one system-user token. A task may hand it to another thread while it
    waits (the sync does); the client itself has at most `max_in_flight` calls under way at
    once (`get_wabas_assets`), fewer when Meta's usage header says the WABA is busy."""

    def __init__(
        self,
        *,
        token: str,
        base_url: str | None = None,
        version: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        max_backoff: float | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        backoff_base: float = 1.0,
        max_in_flight: int | None = None,
    ) -> None:
        if not token:
            raise ValueError("GraphClient needs a token.")
        self.base_url = (base_url or _setting("META_GRAPH_URL")).rstrip("/")
        self.version = (version or _setting("META_API_VERSION")).strip("/")
        self.timeout = float(timeout if timeout is not None else _setting("META_HTTP_TIMEOUT"))
        self.max_retries = int(
            max_retries if max_retries is not None else _setting("META_MAX_RETRIES")
        )
        self.max_backoff = float(
            max_backoff if max_backoff is not None else _setting("META_MAX_BACKOFF_SECONDS")
        )
        self.page_size = page_size
        self.backoff_base = backoff_base
        self._token = token  # for the upload step's own Authorization scheme; never shown
        self.max_in_flight = max(
            1, int(max_in_flight if max_in_flight is not None else _setting("META_MAX_IN_FLIGHT"))
        )
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._usage: dict[str, list[BusinessUseCaseUsage]] = {}
        # A client of its own for a given transport (tests); else this thread's kept one.
        self._kept = transport is None
        if self._kept:
            self._http = _kept_http(f"{self.base_url}/{self.version}/", self.timeout, token)
        else:
            self._http = httpx.Client(
                base_url=f"{self.base_url}/{self.version}/",
                timeout=self.timeout,
                transport=transport,
                verify=_ssl_context(),
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                follow_redirects=False,
            )

    def __repr__(self) -> str:  # never the token
        return f"<GraphClient {self.base_url}/{self.version}>"

    # -- lifecycle --

    def close(self) -> None:
        """Close a client of its own; the thread's kept one stays open for the next."""
        if not self._kept:
            self._http.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reads --

    def get_waba(self, waba_id: str) -> WabaInfo:
        return parse_waba(self._get(str(waba_id), {"fields": WABA_FIELDS}))

    def list_phone_numbers(self, waba_id: str) -> list[PhoneNumberInfo]:
        return [
            parse_phone_number(item)
            for item in self._paged(f"{waba_id}/phone_numbers", {"fields": PHONE_NUMBER_FIELDS})
        ]

    def get_phone_number(self, phone_number_id: str) -> PhoneNumberInfo:
        return parse_phone_number(self._get(str(phone_number_id), {"fields": PHONE_NUMBER_FIELDS}))

    def list_templates(self, waba_id: str) -> list[TemplateInfo]:
        return [
            parse_template(item)
            for item in self._paged(f"{waba_id}/message_templates", {"fields": TEMPLATE_FIELDS})
        ]

    def get_template(self, template_id: str) -> TemplateInfo:
        return parse_template(self._get(str(template_id), {"fields": TEMPLATE_FIELDS}))

    def get_waba_assets(self, waba_id: str) -> WabaAssets:
        """The WABA, its numbers and its templates in one call (Graph field expansion); an
        edge's further pages (past `page_size`) follow."""
        return self._assets(str(waba_id), self._get(str(waba_id), self._assets_params()))

    def get_wabas_assets(self, waba_ids: list[str]) -> dict[str, WabaAssets | MetaError]:
        """`get_waba_assets` for several WABAs: one batch request per BATCH_LIMIT of them (a
        plain GET for one), then the edges' further pages and the retries of failed ones, at
        most `allowed_in_flight()` at once. Each WABA's result, or the MetaError it ended with."""
        ids = [str(i) for i in waba_ids]
        if len(ids) == 1:
            return {ids[0]: self._or_error(self.get_waba_assets, ids[0])}
        results: dict[str, WabaAssets | MetaError] = {}
        params = self._assets_params()
        for start in range(0, len(ids), BATCH_LIMIT):
            chunk = ids[start : start + BATCH_LIMIT]
            answers = self.batch([("GET", waba_id, params) for waba_id in chunk])
            work = []
            for waba_id, answer in zip(chunk, answers, strict=True):
                if isinstance(answer, dict):
                    work.append((self._assets, waba_id, answer))
                elif self._retryable(answer):  # again on its own, with the client's backoff
                    work.append((self.get_waba_assets, waba_id))
                else:
                    results[waba_id] = answer
            with ThreadPoolExecutor(
                max_workers=self.allowed_in_flight(chunk), thread_name_prefix="graph-call"
            ) as pool:
                futures = {item[1]: pool.submit(self._or_error, *item) for item in work}
            results.update({waba_id: future.result() for waba_id, future in futures.items()})
        return {waba_id: results[waba_id] for waba_id in ids}

    def batch(self, requests: list[tuple[str, str, dict]]) -> list[dict | MetaError]:
        """Graph's batch request (`POST /` with `batch=[{method, relative_url}]`, at most
        BATCH_LIMIT): one HTTP call, each request's body or MetaError, in order. Each request
        counts against Meta's rate limits; its usage header is read as a call's would be."""
        if not 0 < len(requests) <= BATCH_LIMIT:
            raise ValueError(f"A Graph batch holds 1 to {BATCH_LIMIT} requests.")
        batch = [
            {"method": method, "relative_url": f"{path}?{urlencode(params)}" if params else path}
            for method, path, params in requests
        ]
        answers = self._request("POST", "", form={"batch": json.dumps(batch)}, expect=list)
        results: list[dict | MetaError] = []
        for index in range(len(requests)):
            item = answers[index] if index < len(answers) else None
            if not isinstance(item, dict):  # Meta answers null for a request it did not run
                results.append(MetaTransportError("Meta did not answer this batched request"))
                continue
            headers = {
                str(h.get("name", "")).lower(): h.get("value")
                for h in item.get("headers") or ()
                if isinstance(h, dict)
            }
            self._usage.update(parse_usage_header(headers.get(BUC_HEADER.lower())))
            try:
                body = json.loads(item.get("body") or "null")
            except (TypeError, ValueError):
                body = None
            status = int(item.get("code") or 0)
            if 200 <= status < 300 and isinstance(body, dict) and "error" not in body:
                results.append(body)
            else:
                results.append(error_from_body(body, status))
        return results

    def allowed_in_flight(self, ids: list[str] | None = None) -> int:
        """`max_in_flight`, or 1 when Meta's last usage header for any of these WABAs (all
        seen, by default) is past BUSY_USAGE_PERCENT of a limit or asks to wait."""
        entries = (
            [u for key in ids for u in self._usage.get(str(key), ())]
            if ids is not None
            else [u for items in self._usage.values() for u in items]
        )
        busy = any(
            max(u.call_count, u.total_cputime, u.total_time) >= BUSY_USAGE_PERCENT
            or u.estimated_time_to_regain_access_minutes > 0
            for u in entries
        )
        return 1 if busy else self.max_in_flight

    def _assets_params(self) -> dict:
        n = self.page_size
        return {
            "fields": f"{WABA_FIELDS},phone_numbers.limit({n}){{{PHONE_NUMBER_FIELDS}}},"
            f"message_templates.limit({n}){{{TEMPLATE_FIELDS}}}"
        }

    def _assets(self, waba_id: str, data: dict) -> WabaAssets:
        data = dict(data)
        numbers_page = data.pop("phone_numbers", None)
        templates_page = data.pop("message_templates", None)
        numbers = tuple(parse_phone_number(item) for item in self._items(numbers_page))
        templates: tuple[TemplateInfo, ...] = ()
        templates_error = None
        try:
            templates = tuple(parse_template(item) for item in self._items(templates_page))
        except MetaError as exc:
            templates_error = exc
        return WabaAssets(
            waba=parse_waba(data),
            numbers=numbers,
            templates=templates,
            usage=tuple(self.usage(waba_id)),
            templates_error=templates_error,
        )

    @staticmethod
    def _or_error(call: Callable[..., WabaAssets], *args: Any) -> WabaAssets | MetaError:
        try:
            return call(*args)
        except MetaError as exc:
            return exc

    def usage(self, business_or_waba_id: str) -> list[BusinessUseCaseUsage]:
        """The last `X-Business-Use-Case-Usage` entries seen for this business or WABA id."""
        return list(self._usage.get(str(business_or_waba_id), ()))

    # -- template writes --

    def create_template(
        self,
        waba_id: str,
        *,
        name: str,
        language: str,
        category: TemplateCategory,
        components: list[dict],
        parameter_format: str = "positional",
        allow_category_change: bool = False,
    ) -> CreatedTemplate:
        body: dict[str, Any] = {
            "name": name,
            "language": language,
            "category": _category_token(category),
            "components": components,
            "parameter_format": parameter_format.lower(),
        }
        if allow_category_change:
            body["allow_category_change"] = True
        data = self._request("POST", f"{waba_id}/message_templates", json_body=body)
        return CreatedTemplate(
            id=str(data.get("id", "")),
            status=TemplateStatus.from_meta(data.get("status")),
            category=TemplateCategory.from_meta(data.get("category") or body["category"]),
        )

    def edit_template(
        self,
        template_id: str,
        *,
        components: list[dict] | None = None,
        category: TemplateCategory | None = None,
    ) -> None:
        body: dict[str, Any] = {}
        if components is not None:
            body["components"] = components
        if category is not None:
            body["category"] = _category_token(category)
        if not body:
            raise ValueError("edit_template needs components or a category.")
        try:
            data = self._request("POST", str(template_id), json_body=body)
        except MetaError as exc:
            if type(exc) is MetaError and exc.subcode == TEMPLATE_STATUS_LOCKED_SUBCODE:
                raise MetaTemplateEditRefused(exc.message, **_copy_fields(exc)) from exc
            raise
        self._expect_success(data)

    def delete_template(self, waba_id: str, *, name: str, template_id: str | None = None) -> None:
        params = {"name": name}
        if template_id:
            params["hsm_id"] = str(template_id)
        self._expect_success(self._request("DELETE", f"{waba_id}/message_templates", params=params))

    def unpause_template(self, template_id: str) -> None:
        self._expect_success(self._request("POST", f"{template_id}/unpause"))

    # -- Resumable Upload (media examples of template headers) --

    def upload_file(self, *, app_id: str, file_name: str, file_type: str, data: bytes) -> str:
        """Upload a file with the Resumable Upload API and return its handle (`h`), which a
        template's media header passes as `example.header_handle`.

        `POST /{app-id}/uploads` opens a session (`{"id": "upload:…"}`); `POST /{session}`
        with `file_offset` and the bytes returns `{"h": …}`.
        """
        session = self._request(
            "POST",
            f"{app_id}/uploads",
            params={"file_name": file_name, "file_length": len(data), "file_type": file_type},
        )
        session_id = str(session.get("id") or "")
        if not session_id.startswith("upload:"):
            raise MetaError("Meta opened no upload session", raw=session)
        # One request with the whole file (examples are a few MB at most); _request retries
        # it from offset 0 on a transient failure, which Meta accepts for an unfinished session.
        done = self._request(
            "POST",
            f"./{session_id}",  # "upload:…" alone would read as a URL scheme
            content=data,
            headers={
                # Meta's upload step takes the token with the OAuth scheme.
                "Authorization": f"OAuth {self._token}",
                "file_offset": "0",
                "Content-Type": "application/octet-stream",
            },
        )
        handle = str(done.get("h") or "")
        if not handle:
            raise MetaError("Meta returned no upload handle", raw=done)
        return handle

    # -- plumbing --

    @staticmethod
    def _expect_success(data: dict) -> None:
        if data.get("success") is False:
            raise MetaError("Meta answered success=false", raw=data)

    def _get(self, path: str, params: dict) -> dict:
        return self._request("GET", path, params=params)

    def _paged(self, path: str, params: dict) -> Iterator[dict]:
        """Every item of a cursor-paged edge, following `paging.next` until it is absent."""
        return self._items(self._request("GET", path, params={**params, "limit": self.page_size}))

    def _items(self, data: dict | None) -> Iterator[dict]:
        """The items of an edge's page (an expanded edge's too) and of the pages after it."""
        if not isinstance(data, dict):
            return
        while True:
            for item in data.get("data") or ():
                if isinstance(item, dict):
                    yield item
            paging = data.get("paging")
            next_url = paging.get("next") if isinstance(paging, dict) else None
            if not next_url:
                return
            data = self._request("GET", self._safe_next_url(next_url))

    def _safe_next_url(self, url: str) -> str:
        """Meta's `next` URL on our base URL, without the `access_token` Meta may embed."""
        parts = urlsplit(url)
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "access_token"])
        base = urlsplit(self.base_url)
        return urlunsplit((base.scheme, base.netloc, parts.path, query, ""))

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        json_body: dict | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        form: dict | None = None,
        expect: type = dict,
    ) -> Any:
        attempt = 0
        while True:
            error: MetaError
            server_wait: float | None = None
            try:
                response = self._http.request(
                    method,
                    path,
                    params=params,
                    json=json_body,
                    content=content,
                    headers=headers,
                    data=form,
                )
            except httpx.TransportError as exc:  # includes timeouts
                error = MetaTransportError(f"{type(exc).__name__} talking to Meta")
                error.__cause__ = exc
                retryable = True
            else:
                usage = parse_usage_header(response.headers.get(BUC_HEADER))
                self._usage.update(usage)
                try:
                    body = response.json()
                except ValueError:
                    body = None
                if response.is_success and isinstance(body, expect) and "error" not in body:
                    return body
                if response.is_success:
                    raise MetaTransportError(
                        f"Meta answered with a body that is not a JSON {expect.__name__}",
                        http_status=response.status_code,
                    )
                error = error_from_body(body, response.status_code)
                retryable = self._retryable(error)
                server_wait = self._server_wait(response, usage)
            if not retryable:
                raise error
            cap = min(self.max_backoff, self.backoff_base * 2**attempt)
            if attempt >= self.max_retries:
                raise self._give_up(
                    error, server_wait if server_wait is not None else cap, "retries exhausted"
                )
            wait = server_wait if server_wait is not None else self._rng.uniform(0, cap)
            if wait > self.max_backoff:
                raise self._give_up(error, wait, "wait exceeds max_backoff")
            logger.info(
                "Meta %s %s: %s; retry %d/%d in %.2fs",
                method,
                urlsplit(path).path,
                error,
                attempt + 1,
                self.max_retries,
                wait,
            )
            self._sleep(wait)
            attempt += 1

    @staticmethod
    def _retryable(error: MetaError) -> bool:
        status = error.http_status or 0
        return (
            isinstance(error, MetaTransportError)
            or status >= 500
            or status == 429
            or error.code in RATE_LIMIT_CODES
            or error.is_transient
        )

    @staticmethod
    def _server_wait(
        response: httpx.Response, usage: dict[str, list[BusinessUseCaseUsage]]
    ) -> float | None:
        """The wait Meta asks for: the larger of Retry-After and the BUC regain time."""
        waits = []
        retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
        if retry_after is not None:
            waits.append(retry_after)
        regain = max(
            (u.estimated_time_to_regain_access_minutes for items in usage.values() for u in items),
            default=0,
        )
        if regain > 0:
            waits.append(regain * 60.0)
        return max(waits) if waits else None

    @staticmethod
    def _give_up(error: MetaError, retry_after: float, why: str) -> MetaRateLimited:
        cls = (
            MetaUnavailable
            if isinstance(error, MetaTransportError) or (error.http_status or 0) >= 500
            else MetaRateLimited
        )
        exc = cls(f"Meta: {why} ({error})", retry_after=retry_after, last_error=error)
        exc.__cause__ = error
        return exc


def _copy_fields(exc: MetaError) -> dict[str, Any]:
    return {
        "code": exc.code,
        "subcode": exc.subcode,
        "error_type": exc.error_type,
        "details": exc.details,
        "fbtrace_id": exc.fbtrace_id,
        "is_transient": exc.is_transient,
        "http_status": exc.http_status,
        "raw": exc.raw,
    }
