"""`messages` (the delivery ledger, inbound texts, and their consent effects) and
`user_preferences`.

Statuses are the bulk of Meta's traffic (a campaign of 100k messages brings ~300k statuses,
often 100+ per change), so `apply_messages_batch` applies many changes at once: ledger and
inbound rows in one INSERT each, consent violations and their alerts in a fixed number of
queries, error counters once per number. If that set-based path raises, each item is applied
alone in a savepoint and the ones that still fail are handed back (`ItemFailure`) to be retried
alone; the rest stand. (In the pipeline's first pass, which applies the whole group again
isolated if anything raises, it takes no savepoint of its own and lets the error go.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction

from compliance import services
from compliance.appliers.common import WEBHOOK, digits
from compliance.choices import ConsentSource, EventKind, Severity
from compliance.identity import looks_like_bsuid
from compliance.keywords import is_opt_out
from compliance.models import (
    ConsentEvent,
    HealthEvent,
    InboundMessage,
    MessageStatus,
    MessagingPolicy,
    PhoneNumber,
)
from portal.bulk import json_rows
from portal.meta import types as meta
from portal.meta.webhooks.contract import Applied, Change, ItemFailure, failures_are_retried
from portal.meta.webhooks.fields import (
    Inbound,
    Messages,
    Status,
    UserIdUpdates,
    UserPreferences,
)

logger = logging.getLogger(__name__)

_MARKETING_PRICING = {"marketing", "marketing_lite"}
OPT_OUT_CODE = 131050  # the user stopped marketing messages (meta-platform §9)

# One item of a change, with the change it came from.
_Item = tuple[Change, Status | Inbound]


@dataclass(frozen=True)
class StatusesListener:
    """Who else must hear of the messages a batch of statuses settled, in the batch's
    transaction: registered by the apps that build on compliance (templates_review releases
    the messages Meta held under template pacing), so compliance never imports them.

    `sql` is a data-modifying statement run inside the ledger's own INSERT (as a CTE, in the
    client's schema), reading the batch's message ids as `SELECT wamid FROM statuses_batch`
    and returning one column; `then(values, at)` gets what it returned (only if anything),
    `at` being the batch's latest status time. A statement of its own, it was one round trip
    more for every client group of a drain."""

    sql: str
    then: Callable[[list, datetime | None], None]


_STATUSES_LISTENERS: list[StatusesListener] = []


def statuses_listener_register(listener: StatusesListener) -> None:
    if listener not in _STATUSES_LISTENERS:
        _STATUSES_LISTENERS.append(listener)


def apply_messages(change: Change) -> Applied:
    return apply_messages_batch([change])[change.key]


def apply_messages_batch(changes: Sequence[Change]) -> dict[str, Applied]:
    """Apply many `messages` changes of one client at once; returns an `Applied` per change
    key (items the parser rejected and items that failed alone are its failures)."""
    results = {c.key: Applied(failures=list(c.data.rejected)) for c in changes}
    numbers = _Numbers({c.data.phone_number_id for c in changes})
    statuses: list[_Item] = [(c, s) for c in changes for s in c.data.statuses]
    inbound: list[_Item] = [(c, m) for c in changes for m in c.data.inbound]
    if failures_are_retried():  # the pipeline's first pass: an error there is retried isolated
        _apply(statuses, inbound, numbers)
        _top_level_errors_of(changes, numbers)
        return results
    try:
        with transaction.atomic():
            _apply(statuses, inbound, numbers)
    except Exception:
        logger.exception(
            "Set-based apply of %s messages changes failed; item by item", len(changes)
        )
        alone = [("status", item, [item], []) for item in statuses] + [
            ("message", item, [], [item]) for item in inbound
        ]
        for kind, (change, item), one_status, one_message in alone:
            try:
                with transaction.atomic():
                    _apply(one_status, one_message, numbers)
            except Exception as exc:  # this item fails alone
                results[change.key].failures.append(
                    ItemFailure(
                        index=item.index,
                        kind=kind,
                        value=item.alone,
                        error=f"{type(exc).__name__}: {exc}"[:2000],
                    )
                )
    _top_level_errors_of(changes, numbers)
    return results


def _top_level_errors_of(changes: Sequence[Change], numbers: _Numbers) -> None:
    for change in changes:
        if change.data.errors:
            _top_level_errors(change, numbers.get(change.data.phone_number_id))


class _Numbers:
    """The client's numbers a batch names, by Meta id, read (with their accounts) on first use.

    Most batches never use them: the ledger takes a status's number id in its own INSERT, and
    only failures, marketing sends, inbound messages and top-level errors need the instance.
    Read for every batch, the number and its account were a query and two model instances a
    client group, a fifth of a drain's time."""

    __slots__ = ("_by_meta_id", "_meta_ids")

    def __init__(self, meta_ids: set[str]) -> None:
        self._meta_ids = meta_ids
        self._by_meta_id: dict[str, PhoneNumber] | None = None

    def get(self, meta_id: str) -> PhoneNumber | None:
        if self._by_meta_id is None:
            self._by_meta_id = {
                n.meta_id: n
                for n in PhoneNumber.objects.select_related("account").filter(
                    meta_id__in=self._meta_ids
                )
            }
        return self._by_meta_id.get(meta_id)


_IDENTITY_CHANGES = {meta.SystemChange.USER_CHANGED_NUMBER, meta.SystemChange.USER_CHANGED_USER_ID}


def _apply(statuses: list[_Item], inbound: list[_Item], numbers: _Numbers) -> None:
    rows = [_ledger_row(change, item, numbers) for change, item in statuses]
    heard = _ledger_insert(rows)
    texts = [_inbound_row(change, item, numbers) for change, item in inbound]
    InboundMessage.objects.bulk_create(texts, ignore_conflicts=True)
    _link_identities(texts)
    _opt_outs(texts, rows)
    _consent_violations([r for r in rows if r.status == meta.DeliveryState.SENT])
    failing = {r.number.pk: r.number for r in rows if r.status == "failed" and r.number}
    _error_actions(rows)
    if any(heard):
        latest = max((r.occurred_at for r in rows if r.occurred_at), default=None)
        for listener, values in zip(_STATUSES_LISTENERS, heard, strict=True):
            if values:
                listener.then(values, latest)
    for number in failing.values():
        services.error_spikes_check(number=number)
        services.number_reassess(number=number)
    _identities(inbound)


def _error_actions(rows: list[LedgerRow]) -> None:
    """What the table of error codes says for each failed status (`compliance.error_actions`),
    once per number; 131050 is the opt-out path's (`_opt_outs`, set-based)."""
    from compliance.error_actions import Failure, delivery_errors_act, error_action_for

    by_number: dict = {}
    for row in rows:
        if (
            row.status == "failed"
            and row.error_code is not None
            and row.error_code != OPT_OUT_CODE
            and row.recipient
            and error_action_for(row.error_code) is not None
        ):
            by_number.setdefault(row.number.pk if row.number else None, (row.number, []))[1].append(
                Failure(row.recipient, row.error_code, row.wamid, row.occurred_at)
            )
    for number, failures in by_number.values():
        delivery_errors_act(number=number, failures=failures)


def _identities(inbound: list[_Item]) -> None:
    """Meta's identity notices (`user_changed_number`, `user_changed_user_id`): the contact
    takes the new BSUID and phone, and contacts that turn out to be one person are merged."""
    from compliance.identity import contact_identity_change

    for change, item in inbound:
        notice = item.system
        if notice is None or notice.kind not in _IDENTITY_CHANGES:
            continue
        if not notice.previous_user_id or not notice.user_id:
            continue  # a phone change without BSUIDs: nothing to move between identities
        contact_identity_change(
            previous_bsuid=notice.previous_user_id,
            bsuid=notice.user_id,
            phone=f"+{digits(notice.wa_id)}" if digits(notice.wa_id or "") else None,
            occurred_at=item.at or change.stated_at,
            # by what Meta said, not by batch: a retry in a new batch changes nothing
            key=services.dedupe_key("identity", item.wamid),
        )


# Under MessageStatus's column names; the number's id is joined in by the INSERT.
_LEDGER_COLUMNS = (
    ("phone_number_meta_id", "text"),
    ("wamid", "text"),
    ("recipient", "text"),
    ("status", "text"),
    ("occurred_at", "timestamptz"),
    ("pricing_category", "text"),
    ("pricing_type", "text"),
    ("error_code", "integer"),
    ("error_title", "text"),
    ("error_details", "text"),
)


def _ledger_insert(rows: list[LedgerRow]) -> list[list]:
    """The ledger rows in one INSERT, a status already recorded (a replay) left as it is.

    The rows travel as one JSON parameter: `bulk_create` compiles and quotes each of the eleven
    values of every row in Python, which cost more than the rest of a status batch's apply.
    Each row's number is the client's number with its Meta id (none if the client has none),
    as `_Numbers` would answer, joined here so that the batch need not read it. The statuses
    listeners' statements run in the same statement; returns what each of them returned.
    """
    if not rows:
        return []
    names = [name for name, _ in _LEDGER_COLUMNS]
    payload = json_rows([[getattr(row, name) for name in names] for row in rows])
    quote = connection.ops.quote_name
    table = quote(MessageStatus._meta.db_table)
    numbers = quote(PhoneNumber._meta.db_table)
    columns = ", ".join(quote(name) for name in ["number_id", *names])
    values = ", ".join(f"(r ->> {n})::{kind}" for n, (_, kind) in enumerate(_LEDGER_COLUMNS))
    heard = [f", heard_{k} AS ({listener.sql})" for k, listener in enumerate(_STATUSES_LISTENERS)]
    answers = " UNION ALL ".join(
        f"SELECT {k}, to_jsonb(h)::text FROM heard_{k} h"  # noqa: S608 - names are ours
        for k in range(len(heard))
    )
    insert = (
        f"INSERT INTO {table} ({columns}) SELECT n.id, {values}"  # noqa: S608 - names are ours
        f" FROM batch LEFT JOIN {numbers} n ON n.meta_id = r ->> 0 ON CONFLICT DO NOTHING"
    )
    # The listeners' SQL is code, registered at start-up.
    sql = (  # noqa: S608
        "WITH batch AS MATERIALIZED (SELECT r FROM jsonb_array_elements(%s::jsonb) AS r),"
        " statuses_batch AS (SELECT DISTINCT r ->> 1 AS wamid FROM batch),"
        " ledger AS (" + insert + ")" + "".join(heard)
    ) + (f" {answers}" if heard else " SELECT NULL, NULL WHERE false")
    found: list[list] = [[] for _ in heard]
    with connection.cursor() as cursor:
        cursor.execute(sql, [payload])
        for k, value in cursor.fetchall():
            found[k].append(next(iter(json.loads(value).values())))  # its one column
    return found


@dataclass(slots=True)
class LedgerRow:
    """A status as the ledger stores it, under MessageStatus's column names. A plain row: a
    model instance for each of a campaign's statuses cost more than their INSERT."""

    numbers: _Numbers
    phone_number_meta_id: str
    wamid: str
    recipient: str
    status: str
    occurred_at: datetime | None
    pricing_category: str
    pricing_type: str
    error_code: int | None
    error_title: str
    error_details: str

    @property
    def number(self) -> PhoneNumber | None:
        return self.numbers.get(self.phone_number_meta_id)


def _ledger_row(change: Change, item: Status, numbers: _Numbers) -> LedgerRow:
    data: Messages = change.data
    error = item.error
    pricing = item.pricing
    return LedgerRow(
        numbers=numbers,
        phone_number_meta_id=data.phone_number_id,
        wamid=item.wamid,
        recipient=item.recipient_id or item.recipient_user_id or "",
        status=item.state.value,
        occurred_at=item.at or change.stated_at,
        pricing_category=pricing.category if pricing else "",
        pricing_type=pricing.type if pricing else "",
        error_code=error.code if error else None,
        error_title=error.title if error else "",
        error_details=error.details if error else "",
    )


def _inbound_row(change: Change, item: Inbound, numbers: _Numbers) -> InboundMessage:
    data: Messages = change.data
    return InboundMessage(
        number=numbers.get(data.phone_number_id),
        phone_number_meta_id=data.phone_number_id,
        wamid=item.wamid,
        sender=item.sender or item.from_user_id or "",
        sender_bsuid=item.from_user_id or "",
        sender_username=item.username[:40],
        sender_name=item.sender_name,
        message_type=item.type,
        text=item.text,
        received_at=item.at or change.stated_at,
    )


# --- consent: opt-outs from keywords and 131050, violations from marketing sends -------------


def _opt_outs(texts: list[InboundMessage], rows: list[LedgerRow]) -> None:
    """Opt-outs of marketing from this batch, recorded together (idempotent by wamid): an
    inbound text that is one of the client's opt-out keywords (normalised), and a send that
    failed with 131050 (the user stopped marketing messages). A sender or recipient Meta names
    by phone is recorded set-based; one it names only by BSUID is recorded on the identity
    that BSUID names (`consent_record_opt_out(bsuid=...)`), so the same person's phone is
    suppressed too."""
    from compliance.consent import Evidence, MetaOptOut, consent_record_meta_opt_outs

    opt_outs, by_bsuid = [], []
    texts = [t for t in texts if t.text and t.sender]
    keywords = MessagingPolicy.current().keyword_set() if texts else frozenset()
    for message in texts:
        if is_opt_out(message.text, keywords):
            item = MetaOptOut(
                wa_id=message.sender,
                source=ConsentSource.WHATSAPP_KEYWORD,
                source_id=message.wamid,
                occurred_at=message.received_at,
                evidence=Evidence(
                    channel="whatsapp", data={"wamid": message.wamid, "text": message.text}
                ),
                name=message.sender_name,
            )
            if message.sender == message.sender_bsuid:
                by_bsuid.append(item)
            else:
                opt_outs.append(item)
    for status in rows:
        if status.status == "failed" and status.error_code == OPT_OUT_CODE and status.recipient:
            item = MetaOptOut(
                wa_id=status.recipient,
                source=ConsentSource.META_131050,
                source_id=status.wamid,
                occurred_at=status.occurred_at,
                evidence=Evidence(
                    channel="whatsapp",
                    data={"wamid": status.wamid, "error_code": OPT_OUT_CODE},
                ),
            )
            (by_bsuid if looks_like_bsuid(status.recipient) else opt_outs).append(item)
    consent_record_meta_opt_outs(opt_outs=opt_outs)
    _bsuid_opt_outs(by_bsuid)


def _bsuid_opt_outs(opt_outs) -> None:
    """Opt-outs from people Meta names only by BSUID (rare: one by one)."""
    from compliance.consent import consent_record_opt_out

    for item in opt_outs:
        consent_record_opt_out(
            bsuid=item.wa_id,
            category="marketing",
            source=item.source,
            evidence=item.evidence,
            occurred_at=item.occurred_at,
            source_id=item.source_id,
            name=item.name,
        )


def _link_identities(texts: list[InboundMessage]) -> None:
    """An inbound message that names the person by phone and BSUID (or username) links them:
    one contact holds all, so an opt-out that later comes with only the BSUID suppresses the
    phone. Only messages carrying a BSUID or username cost queries (one resolve each)."""
    from compliance.identity import contact_resolve

    for message in texts:
        phone = message.sender if message.sender != message.sender_bsuid else ""
        if not (message.sender_bsuid or message.sender_username) or not phone:
            continue
        try:
            contact_resolve(
                phone=f"+{digits(phone)}",
                bsuid=message.sender_bsuid or None,
                username=message.sender_username or None,
                create=True,
                name=message.sender_name,
                wa_id=phone,
            )
        except ValueError:
            logger.info("Inbound %s names an identity we cannot hold", message.wamid)


def _consent_violations(sent: list[LedgerRow]) -> None:
    """A marketing send is a violation unless the recipient's latest marketing consent event at
    the time of the send was an opt-in (no record, or an opt-out, is a violation). One query
    for the consent history of every recipient, one set of inserts for the events."""
    sends = [
        s
        for s in sent
        if s.pricing_category in _MARKETING_PRICING
        and digits(s.recipient)
        and not looks_like_bsuid(s.recipient)
    ]
    if not sends:
        return
    phones = {f"+{digits(s.recipient)}" for s in sends}
    history: dict[str, list[tuple]] = {}
    for phone, kind, occurred_at in (
        ConsentEvent.objects.filter(contact__phone__in=phones, category="marketing")
        .order_by("occurred_at", "recorded_at", "id")
        .values_list("contact__phone", "kind", "occurred_at")
    ):
        history.setdefault(phone, []).append((kind, occurred_at))
    events = []
    for send in sends:
        phone = f"+{digits(send.recipient)}"
        decided = [kind for kind, at in history.get(phone, []) if at <= send.occurred_at]
        last = decided[-1] if decided else None
        if last == "opt_in":
            continue
        why = "after the recipient opted out" if last == "opt_out" else "without an opt-in"
        events.append(
            HealthEvent(
                kind=EventKind.CONSENT_VIOLATION,
                severity=Severity.WARNING,
                title=f"Marketing message sent to {phone} {why}",
                detail=(
                    "Marketing needs the recipient's opt-in and must stop after an opt-out. "
                    "Check the campaign's audience against the consent records."
                ),
                dedupe_key=services.dedupe_key("consent_violation", send.wamid),
                source=WEBHOOK,
                occurred_at=send.occurred_at,
                number=send.number,
                account=send.number.account if send.number else None,
                data={"wamid": send.wamid, "recipient": phone, "consent": last or "none"},
            )
        )
    services.health_events_record_many(events=events)


def _top_level_errors(change: Change, number: PhoneNumber | None) -> None:
    """Errors Meta reports for the whole value (not for one message): kept as events."""
    data: Messages = change.data
    for index, error in enumerate(data.errors):
        services.health_event_note(
            kind=EventKind.ACCOUNT_UPDATE,
            severity=Severity.INFO,
            title=f"Meta reported error {error.code} for {data.display_phone_number}: "
            f"{error.title or error.message}",
            detail=error.details,
            key=services.dedupe_key(change.key, "error", index),
            source=WEBHOOK,
            occurred_at=change.stated_at,
            number=number,
            data={"code": error.code, "title": error.title, "details": error.details},
        )


# --- user_preferences: a user stops or resumes marketing messages -------------------------


def apply_user_preferences(change: Change) -> Applied:
    """Meta's `user_preferences` (meta-platform §4.10): `stop` → opt-out of marketing, `resume`
    → opt-in to marketing (source meta_user_preferences); other categories and choices are
    ignored. Each item in a savepoint of its own: one that fails is handed back alone."""
    from compliance.consent import Evidence, consent_record_opt_in, consent_record_opt_out

    data: UserPreferences = change.data
    result = Applied(failures=list(data.rejected))
    for item in data.items:
        if not (item.wa_id or item.user_id) or not item.is_marketing:
            continue
        if item.choice == meta.PreferenceChoice.STOP:
            record = consent_record_opt_out
        elif item.choice == meta.PreferenceChoice.RESUME:
            record = consent_record_opt_in
        else:
            continue
        try:
            with transaction.atomic():
                record(
                    # a BSUID-only statement lands on the identity that BSUID names
                    phone=f"+{item.wa_id}" if item.wa_id else None,
                    bsuid=item.user_id,
                    category="marketing",
                    source=ConsentSource.META_USER_PREFERENCES,
                    evidence=Evidence(
                        channel="whatsapp",
                        wording=item.detail,
                        data={
                            "change": change.key,
                            "value": item.raw_choice,
                            "category": item.category,
                        },
                    ),
                    occurred_at=item.at or change.stated_at,
                    # Meta's retries may come in new batches (new change keys): key by what
                    # the user said and when.
                    source_id=(
                        f"{item.wa_id or item.user_id}:{item.raw_choice}:{item.stated_unix}"
                        if item.stated_unix
                        else f"{change.key}:{item.index}:{item.wa_id or item.user_id}"
                    ),
                    wa_id=item.wa_id,
                    name=item.name,
                )
        except ValueError as exc:  # a number that can never be recorded: not worth a retry
            result.failures.append(
                ItemFailure(item.index, "preference", item.alone, str(exc), rejected=True)
            )
        except Exception as exc:  # this item fails alone
            result.failures.append(
                ItemFailure(item.index, "preference", item.alone, f"{type(exc).__name__}: {exc}")
            )
    return result


# --- user_id_update: the BSUID changes some BSPs still forward as their own field ------------


def apply_user_id_update(change: Change) -> Applied:
    """Each change moves the person to the new BSUID (`contact_identity_change`: merge, history
    kept), in a savepoint of its own; a BSUID no contact can hold is rejected alone."""
    from compliance.identity import contact_identity_change

    data: UserIdUpdates = change.data
    result = Applied(failures=list(data.rejected))
    for item in data.items:
        at = item.at or change.stated_at
        try:
            with transaction.atomic():
                contact_identity_change(
                    previous_bsuid=item.previous,
                    bsuid=item.current,
                    phone=f"+{item.wa_id}" if item.wa_id else None,
                    occurred_at=at,
                    key=services.dedupe_key(
                        "identity", item.previous, item.current, at.isoformat()
                    ),
                )
        except ValueError as exc:  # not a BSUID or phone we can hold: not worth a retry
            result.failures.append(
                ItemFailure(item.index, "user_id_update", item.alone, str(exc), rejected=True)
            )
        except Exception as exc:  # this item fails alone
            result.failures.append(
                ItemFailure(
                    item.index, "user_id_update", item.alone, f"{type(exc).__name__}: {exc}"
                )
            )
    return result
