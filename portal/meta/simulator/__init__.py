"""A Meta (WhatsApp Business Platform) stand-in on loopback, for tests, benchmarks and the demo.

Production never uses it. It speaks the Graph API endpoints the client uses, with Meta's
payload and error shapes, from a scenario (`scenario.py`; the demo in `scenarios/demo.json`),
and sends Meta's signed webhooks.

In-process (tests)::

    from portal.meta.simulator import SimulatorServer
    with SimulatorServer("demo", webhook_url=url, app_secret="s") as sim:
        client = GraphClient(token="dev-system-user-token", base_url=sim.url)
        sim.apply({"type": "template_quality", "template_id": "...", "quality": "RED"})
        sim.advance(3 * 3600)           # fires due timers: reviews, unpauses, expiries
        sim.configure(errors={"next": [{"kind": "429", "count": 2}]})
        sim.state.templates["..."]["status"], sim.calls

`apply()` and `advance()` return the webhook envelopes produced and, with `webhook_url`, POST
them synchronously (signed with `app_secret` in `X-Hub-Signature-256`; up to 3 attempts until a
200), so tests are deterministic. Webhooks caused by Graph API calls (template delete, unpause),
by `/_sim/` control calls or by the real-time clock are POSTed from a background thread, retried
on non-200 after 0.5, 1, 2, 4, 8 and 16 s. `sim.deliveries` records every delivery (field, status,
attempts, body, signature).

CLI (`make run`)::

    python -m portal.meta.simulator --scenario demo --port 0 --webhook-url \
        http://localhost:8000/webhooks/meta --app-secret dev-app-secret --time-scale 60

prints `Meta simulator listening on http://127.0.0.1:<port>` and runs until SIGTERM/SIGINT;
the clock runs in real time times `--time-scale`. Control API (JSON): `POST /_sim/events`
(one event, a list, or `{"events": [...]}`; answers `{"webhooks": [...]}`), `POST /_sim/advance`
(`{"seconds": N}`), `POST /_sim/config` (`{"latency_ms": N, "errors": {...}}`), `GET /_sim/state`.

Graph API: `GET /{version}/{waba_id}`, `GET /{version}/{waba_id}/phone_numbers`,
`GET /{version}/{phone_number_id}`, `GET|POST|DELETE /{version}/{waba_id}/message_templates`,
`GET|POST /{version}/{template_id}`, `POST /{version}/{template_id}/unpause`; the version
segment (`/v24.0/`) is optional. `Authorization: Bearer <token>` must be one of the scenario's
`tokens` (else code 190, HTTP 401). Lists page by cursor (`limit`, default 25;
`paging.cursors.after`; `paging.next`, an absolute URL). Every answer carries
`X-Business-Use-Case-Usage` keyed by the WABA concerned. A WABA read expands its edges as
Graph does (`fields=id,phone_numbers.limit(5){id,status},message_templates{name}`: each a
nested `{"data", "paging"}` first page whose `next` is the edge's own URL). `POST /{version}/`
with `batch=[{"method", "relative_url"}]` (form field or JSON, at most 50) answers one
`{"code", "headers", "body"}` per request; each request counts as a call (`calls`, and against
the rate limit), the batch as one HTTP request (`requests`).

Rules: a created or edited template is PENDING, then reviewed after `review_delay_seconds`
(default 60): the template's `review_outcome`, else the first matching `review_rules` entry,
else APPROVED; a rejection carries a reason. Only APPROVED, REJECTED and PAUSED templates can be
edited; an APPROVED one at most once per 24 h and 10 times per 30 days (else code 100, subcode
2388039, as are edits while in review). A template turning RED while APPROVED is paused 3 h
(FIRST_PAUSE), then 6 h (SECOND_PAUSE), and disabled the third time; the pause ends on the clock
(status APPROVED, `other_info.title` UNPAUSE) or by `POST /unpause`. Numbers going RED become
FLAGGED, and CONNECTED again when they recover. Restrictions expire on the clock. Creation
checks names, lengths (2388040), header/body/footer format (2388047/2388072/2388073), dangling
parameters (2388299), the parameter/words ratio (2388293), duplicates (2388024) and the WABA's
template limit (2388019).

Events (`apply(event)`, `POST /_sim/events`, or the scenario's `events` with `"at": seconds
after start`):

- `{"type": "number_quality", "phone_number_id", "quality": "YELLOW", "legacy": false}` —
  Meta no longer sends a quality webhook for numbers, so none is sent unless `legacy` is true
  (then `phone_number_quality_update` FLAGGED/UNFLAGGED when crossing RED).
- `{"type": "number_status", "phone_number_id", "status": "BANNED"}` — state only.
- `{"type": "messaging_limit", "phone_number_id" | "waba_id", "limit": "TIER_100K",
  "legacy": false, "event": optional}` — `phone_number_quality_update` per number, current
  form (`event` UPGRADE/DOWNGRADE, `max_daily_conversations_per_business`) or legacy form
  (`event`, `current_limit`).
- `{"type": "name_update", "phone_number_id", "decision": "APPROVED|REJECTED|PENDING|DEFERRED",
  "requested_verified_name", "rejection_reason"}` — `phone_number_name_update`.
- `{"type": "account_restriction", "waba_id", "restriction_type" | "restriction_types": [...],
  "days": 7 | "seconds" | "expiration": unix, "remediation"}` — `account_update`
  ACCOUNT_RESTRICTION; lifted when it expires (no webhook; health shows it).
- `{"type": "account_violation", "waba_id", "violation_type": "ADULT"}`.
- `{"type": "ban", "waba_id", "state": "SCHEDULE_FOR_DISABLE|DISABLE|REINSTATE", "date",
  "as_list": false}` — `account_update` DISABLED_UPDATE with `ban_info` (the state as a one-item
  list, Meta's reference shape, with `"as_list": true`).
- `{"type": "account_update", "waba_id", "event": "PARTNER_REMOVED", ...extra value fields}`.
- `{"type": "account_review", "waba_id", "decision": "APPROVED|REJECTED|PENDING|DEFERRED"}`.
- `{"type": "business_capability", "waba_id", "max_daily_conversations_per_business":
  "TIER_2K", "max_phone_numbers_per_business": 20, ...}`.
- `{"type": "account_alert", "waba_id", "alert_type", "alert_severity", "alert_status",
  "alert_description", "entity_type", "entity_id"}`.
- `{"type": "template_quality", "template_id", "quality": "RED"}` — quality webhook and, when
  APPROVED and RED, the pause ladder above with `message_template_status_update`.
- `{"type": "template_review", "template_id", "outcome": "APPROVED|REJECTED", "reason"}`.
- `{"type": "template_status", "template_id", "status": "IN_APPEAL", "reason", "title"}`.
- `{"type": "template_category", "template_id", "correct_category": "MARKETING",
  "impending": false}` — `template_category_update` (impending: announced, applied 24 h later).
- `{"type": "message_status", "phone_number_id", "status": "delivered|read|sent|failed",
  "recipient_id", "category": "marketing", "error_codes": [131049], "wamid"}` — `messages`.
- `{"type": "inbound_message", "phone_number_id", "from": "15550001234", "text": "STOP",
  "name": "Ana"}` — `messages`.
- `{"type": "webhook", "waba_id", "field", "value"}` — any raw change.

Error injection: `configure(errors=...)`, see `Simulator.configure`.
"""

from portal.meta.simulator.engine import Simulator
from portal.meta.simulator.scenario import generate
from portal.meta.simulator.server import SimulatorServer

__all__ = ["Simulator", "SimulatorServer", "generate"]
