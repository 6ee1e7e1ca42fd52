"""Meta's delivery error codes and what follows from each, in one table (meta-platform §9).

For every code: what it means in plain words, what the portal does by itself, what the client
should do. The same words are shown in the UI, returned by the API (`error_action_for`) and put
in alert e-mails. `delivery_errors_act(*, number, failures)` is what the messages applier calls
with the failed statuses of one change, as `Failure(recipient, code, wamid, at)`:

- `SUPPRESS`: record the opt-out (131050; the consent history is the suppression list);
- `UNREACHABLE`: mark the contact not reachable on WhatsApp (131026); the pre-send check refuses
  it for `UNREACHABLE_FOR`;
- `RECIPIENT_BACKOFF`: back off that recipient `4^X` seconds (131056, X = failures in a row);
- `MARKETING_BACKOFF`: nothing to store: the ledger row is the 24-hour marketing back-off the
  pre-send check reads (131049);
- `NUMBER_BACKOFF`: the number sends nothing until `backoff` has passed (130429, 131057, 131042,
  368, 131031, 131064, 131048);
- `ALERT`: one alert per number, code and day;
- `RESYNC`: queue a sync of the client's templates (132001);
- `NONE`: nothing automatic; the client's action is shown.

Run inside the client's schema.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from django.db import transaction
from django.utils import timezone

from compliance import services
from compliance.choices import EventKind, EventSource, Severity
from compliance.models import Contact, PhoneNumber

UNREACHABLE_FOR = timedelta(days=7)
MAX_PAIR_BACKOFF_STEPS = 6  # 4^6 s ≈ 68 minutes


class Effect(StrEnum):
    SUPPRESS = "suppress"
    UNREACHABLE = "unreachable"
    RECIPIENT_BACKOFF = "recipient_backoff"
    MARKETING_BACKOFF = "marketing_backoff"
    NUMBER_BACKOFF = "number_backoff"
    RESYNC = "resync"
    NONE = "none"


@dataclass(frozen=True)
class ErrorAction:
    code: int
    meaning: str  # what happened
    portal_does: str  # what the portal did by itself
    client_should: str  # what the client should do
    effect: Effect = Effect.NONE
    alert: Severity | None = None  # one alert per number, code and day
    backoff: timedelta | None = None  # for NUMBER_BACKOFF

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "meaning": self.meaning,
            "portal_does": self.portal_does,
            "client_should": self.client_should,
        }


_A = ErrorAction
_NOTHING = "Nothing automatic."

ERROR_ACTIONS: dict[int, ErrorAction] = {
    a.code: a
    for a in [
        _A(
            131026,
            "The message could not be delivered: the recipient is not on WhatsApp, has not "
            "accepted its terms, or uses an outdated app.",
            "Marks the contact unreachable; the pre-send check refuses it for 7 days.",
            "Check the number with the person, or reach them another way.",
            Effect.UNREACHABLE,
        ),
        _A(
            131042,
            "Meta refused the message because of a payment problem (payment method, credit line "
            "or suspended account).",
            "Holds sends from the number for an hour and alerts you.",
            "Fix the payment method in Meta Business Suite (Billing), then send again.",
            Effect.NUMBER_BACKOFF,
            Severity.CRITICAL,
            timedelta(hours=1),
        ),
        _A(
            131047,
            "More than 24 hours passed since the person last wrote: only a template may be sent.",
            "The pre-send check refuses free-form messages outside the 24-hour window.",
            "Send an approved template instead, or wait for the person to write.",
        ),
        _A(
            131048,
            "Meta limited sending because many earlier messages were blocked or reported as spam.",
            "Holds sends from the number for 24 hours and alerts you.",
            "Pause campaigns, send only to people who opted in, and review the content.",
            Effect.NUMBER_BACKOFF,
            Severity.CRITICAL,
            timedelta(hours=24),
        ),
        _A(
            131049,
            "Meta did not deliver this marketing message to protect the person's experience "
            "(per-user marketing limit; US numbers get no marketing templates).",
            "The pre-send check refuses marketing to this person for 24 hours.",
            "Wait at least 24 hours; retrying sooner can block delivery for longer.",
            Effect.MARKETING_BACKOFF,
        ),
        _A(
            131050,
            "The person stopped marketing messages from the business.",
            "Records the opt-out; marketing to this person is refused from now on.",
            "Do not send marketing again unless the person opts in anew.",
            Effect.SUPPRESS,
        ),
        _A(
            131053,
            "The media of the message could not be uploaded or read by Meta.",
            "Alerts you once a day while it happens.",
            "Check the media's URL, size and type (Meta's limits), then send again.",
            Effect.NONE,
            Severity.WARNING,
        ),
        _A(
            131056,
            "Too many messages to the same person in a short time (pair rate limit).",
            "Backs off that person: 4, 16, 64 … seconds after each failure in a row.",
            "Space messages to one person at least 6 seconds apart.",
            Effect.RECIPIENT_BACKOFF,
        ),
        _A(
            130429,
            "The number sent faster than its throughput allows.",
            "Holds sends from the number for a minute.",
            "Send more slowly (80 messages a second by default).",
            Effect.NUMBER_BACKOFF,
            None,
            timedelta(minutes=1),
        ),
        _A(
            131031,
            "The WhatsApp account is locked (a policy lock, or wrong PIN or data).",
            "Holds sends from the number for an hour and alerts you.",
            "Check the account's health in WhatsApp Manager and appeal if it is a mistake.",
            Effect.NUMBER_BACKOFF,
            Severity.CRITICAL,
            timedelta(hours=1),
        ),
        _A(
            368,
            "The WhatsApp account is temporarily blocked for a policy violation.",
            "Holds sends from the number for an hour and alerts you.",
            "See the restriction in Business Support Home; appeal or wait for it to end.",
            Effect.NUMBER_BACKOFF,
            Severity.CRITICAL,
            timedelta(hours=1),
        ),
        _A(
            131057,
            "The account is in maintenance (for example a throughput upgrade).",
            "Holds sends from the number for two minutes.",
            "Nothing: sending resumes by itself.",
            Effect.NUMBER_BACKOFF,
            None,
            timedelta(minutes=2),
        ),
        _A(
            131064,
            "Sending is limited because templates were misclassified.",
            "Holds sends from the number for 24 hours and alerts you.",
            "Check template categories; the limit lifts after the enforcement period.",
            Effect.NUMBER_BACKOFF,
            Severity.CRITICAL,
            timedelta(hours=24),
        ),
        _A(
            130497,
            "The account may not message people in this country.",
            "Alerts you once a day while it happens.",
            "Stop sending to that country.",
            Effect.NONE,
            Severity.WARNING,
        ),
        _A(
            130472,
            "The person is part of a Meta marketing experiment and gets no marketing now.",
            _NOTHING,
            "Send marketing to them only inside a customer-service window.",
        ),
        _A(
            131062,
            "This message type cannot go to a WhatsApp user id (BSUID), e.g. an authentication "
            "template.",
            "The pre-send check refuses authentication templates to people known by user id only.",
            "Send it to the person's phone number, or ask for it with a contact-request button.",
        ),
        _A(131021, "The recipient is the sending number itself.", _NOTHING, "Fix the recipient."),
        _A(130403, "The business blocked this person.", _NOTHING, "Unblock them to message them."),
        _A(
            131008,
            "A required parameter is missing from the request.",
            "Alerts you once a day while it happens.",
            "Your integration sends incomplete messages: check it.",
            Effect.NONE,
            Severity.WARNING,
        ),
        _A(
            131009,
            "A parameter value is not valid.",
            "Alerts you once a day while it happens.",
            "Your integration sends invalid values: check it.",
            Effect.NONE,
            Severity.WARNING,
        ),
        _A(
            131051,
            "The message type is not supported.",
            _NOTHING,
            "Use a message type Meta supports.",
        ),
        _A(
            131052,
            "Meta could not download the media the person sent.",
            _NOTHING,
            "Ask the person to send it again.",
        ),
        _A(
            131000,
            "Something went wrong at Meta.",
            _NOTHING,
            "Retry later; tell your BSP if it persists.",
        ),
        _A(131016, "Meta's service is temporarily unavailable.", _NOTHING, "Retry later."),
        _A(
            131037,
            "The number needs an approved display name before it can send.",
            "Alerts you once a day while it happens.",
            "Wait for the display name's approval (or submit one).",
            Effect.NONE,
            Severity.WARNING,
        ),
        _A(
            131045,
            "The number's registration is incomplete (certificate).",
            "Alerts you once a day while it happens.",
            "Re-register the number.",
            Effect.NONE,
            Severity.WARNING,
        ),
        _A(
            133010,
            "The phone number is not registered on WhatsApp.",
            "Alerts you once a day while it happens.",
            "Register the number.",
            Effect.NONE,
            Severity.WARNING,
        ),
        _A(
            131063,
            "Marketing messages are switched off for this number on the Cloud API.",
            _NOTHING,
            "Send marketing through the Marketing Messages API.",
        ),
        _A(
            132000,
            "The number of template parameters does not match the template.",
            "Alerts you once a day while it happens.",
            "Fix the parameter mapping of the template in your integration.",
            Effect.NONE,
            Severity.WARNING,
        ),
        _A(
            132001,
            "The template does not exist in this language, or is not approved.",
            "Queues a sync of your templates with Meta.",
            "Check the template's name, language and status.",
            Effect.RESYNC,
        ),
        _A(
            132005,
            "The filled-in template text is too long.",
            "Alerts you once a day while it happens.",
            "Shorten the parameter values.",
            Effect.NONE,
            Severity.WARNING,
        ),
        _A(
            132007,
            "The template's content breaks WhatsApp's format or character policy.",
            "Alerts you once a day while it happens.",
            "Remove the characters Meta does not allow from the parameters.",
            Effect.NONE,
            Severity.WARNING,
        ),
        _A(
            132012,
            "The template parameters are in the wrong format.",
            "Alerts you once a day while it happens.",
            "Send parameters of the type the template expects.",
            Effect.NONE,
            Severity.WARNING,
        ),
        _A(
            132015,
            "The template is paused (quality or pacing); messages Meta held were dropped.",
            "Alerts you once a day while it happens.",
            "Hold the campaign; a pacing pause needs an unpause after improving the content.",
            Effect.NONE,
            Severity.WARNING,
        ),
        _A(
            132016,
            "The template was paused too many times and is permanently disabled.",
            "Alerts you once a day while it happens.",
            "Create a new template with better content.",
            Effect.NONE,
            Severity.CRITICAL,
        ),
        _A(
            133016,
            "Too many register or deregister attempts.",
            _NOTHING,
            "Wait before registering the number again.",
        ),
    ]
}


def error_action_for(code: int | None) -> ErrorAction | None:
    """The table's row for `code`, or None for a code the table does not know."""
    return ERROR_ACTIONS.get(code) if code is not None else None


def error_action_words(code: int | None) -> str:
    """One line for the UI and e-mails: meaning, then what to do."""
    row = error_action_for(code)
    if row is None:
        return f"Meta error {code}: no action is known for it; tell your BSP if it persists."
    return f"{row.meaning} {row.client_should}"


class Failure(NamedTuple):
    """One failed status: recipient (phone digits, E.164 or BSUID), Meta's code, wamid, time."""

    recipient: str
    code: int
    wamid: str
    at: datetime


def _identity_kwargs(recipient: str) -> dict:
    from compliance.identity import looks_like_bsuid

    text = str(recipient or "").strip()
    if looks_like_bsuid(text):
        return {"bsuid": text}
    digits = "".join(ch for ch in text if ch.isdigit())
    return {"phone": f"+{digits}"} if digits else {}


def _contact(recipient: str) -> Contact | None:
    from compliance.identity import contact_resolve

    kwargs = _identity_kwargs(recipient)
    if not kwargs:
        return None
    try:
        return contact_resolve(create=True, **kwargs)
    except ValueError:
        return None


def delivery_errors_act(*, number: PhoneNumber | None, failures: Iterable[Failure]) -> list[str]:
    """Do what the table says for each failure. Returns a line per action taken (for logs and
    tests). Safe to run twice for the same failures: opt-outs dedupe on the wamid, states are
    set (a failure older than the one already applied changes nothing), alerts dedupe per day."""
    done: list[str] = []
    failures = sorted(failures, key=lambda f: f.at)
    alerted: set[str] = set()
    with transaction.atomic():
        # Unreachable recipients are the bulk of a campaign's failures: set-based (a fixed
        # number of queries whatever their count; the webhook batch applier relies on it).
        done += _unreachable_many(
            [
                f
                for f in failures
                if (row := error_action_for(f.code)) and row.effect == Effect.UNREACHABLE
            ]
        )
        for failure in failures:
            row = error_action_for(failure.code)
            if row is None:
                continue
            effect = row.effect
            if effect == Effect.SUPPRESS:
                done += _suppress(failure)
            elif effect == Effect.RECIPIENT_BACKOFF:
                done += _pair_backoff(failure)
            elif effect == Effect.NUMBER_BACKOFF and number is not None and row.backoff:
                until = failure.at + row.backoff
                if number.backoff_until is None or number.backoff_until < until:
                    number.backoff_until = until
                    number.backoff_reason = f"{failure.code}: {row.meaning}"[:200]
                    PhoneNumber.objects.filter(pk=number.pk).update(
                        backoff_until=until, backoff_reason=number.backoff_reason
                    )
                    done.append(f"number backoff until {until:%H:%M:%S} ({failure.code})")
            elif effect == Effect.RESYNC:
                services.sync_request()
                done.append("templates resync")
            alert_key = services.dedupe_key(
                "error_action", number.meta_id if number else "", row.code, failure.at.date()
            )
            if row.alert is not None and number is not None and alert_key not in alerted:
                alerted.add(alert_key)  # one alert per number, code and day: asked once
                event = services.health_event_record(
                    kind=EventKind.DELIVERY_ACTION,
                    severity=row.alert,
                    title=f"Messages from {number.display_phone_number} fail with {row.code}",
                    detail=f"{row.meaning}\nThe portal: {row.portal_does}\n"
                    f"What to do: {row.client_should}",
                    key=alert_key,
                    source=EventSource.WEBHOOK,
                    occurred_at=failure.at,
                    number=number,
                    data={"code": row.code, "wamid": failure.wamid},
                )
                if event is not None:
                    done.append(f"alert {row.code}")
    return done


def _unreachable_many(failures: list[Failure]) -> list[str]:
    """Mark each failure's contact unreachable as of its newest failure (found or created
    together; a contact already marked later is left alone): at most four queries."""
    from django.db.models import Q

    from compliance.identity import identity_of

    newest: dict[tuple[str, str], datetime] = {}
    for failure in failures:
        try:
            identity = identity_of(**_identity_kwargs(failure.recipient), default_region=None)
        except (TypeError, ValueError):
            continue
        ident = ("bsuid", identity.bsuid) if identity.bsuid else ("phone", identity.phone)
        if ident[1] and (ident not in newest or newest[ident] < failure.at):
            newest[ident] = failure.at
    if not newest:
        return []

    def found() -> dict[tuple[str, str], Contact]:
        phones = [v for k, v in newest if k == "phone"]
        bsuids = [v for k, v in newest if k == "bsuid"]
        contacts = Contact.objects.filter(Q(phone__in=phones) | Q(bsuid__in=bsuids))
        by = {}
        for contact in contacts:
            by[("phone", contact.phone)] = by[("bsuid", contact.bsuid)] = contact
        return by

    contacts = found()
    missing = [ident for ident in newest if ident not in contacts]
    if missing:
        Contact.objects.bulk_create(
            [Contact(**{field: value}) for field, value in missing], ignore_conflicts=True
        )
        contacts = found()
    changed = {}
    for ident, at in newest.items():
        contact = contacts.get(ident)
        if contact is not None and (contact.unreachable_at is None or contact.unreachable_at < at):
            contact.unreachable_at = at
            changed[contact.pk] = contact
    if changed:
        Contact.objects.bulk_update(list(changed.values()), ["unreachable_at"])
    return [f"unreachable {contact}" for contact in changed.values()]


def _suppress(failure: Failure) -> list[str]:
    from compliance.choices import ConsentSource
    from compliance.consent import Evidence, consent_record_opt_out

    kwargs = _identity_kwargs(failure.recipient)
    if not kwargs:
        return []
    try:
        events = consent_record_opt_out(
            category="marketing",
            source=ConsentSource.META_131050,
            evidence=Evidence(
                channel="whatsapp", data={"wamid": failure.wamid, "error_code": failure.code}
            ),
            occurred_at=failure.at,
            source_id=failure.wamid,
            **kwargs,
        )
    except ValueError:
        return []
    return [f"opt-out {failure.recipient}"] if events else []


def _pair_backoff(failure: Failure) -> list[str]:
    """4^X seconds, X the failures in a row (a failure after the back-off ended by more than
    its own length starts again at 1)."""
    contact = _contact(failure.recipient)
    if contact is None:
        return []
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    steps = contact.backoff_count
    if contact.backoff_until is not None:
        last_failure = contact.backoff_until - timedelta(seconds=4**steps)
        if failure.at <= last_failure:
            return []  # this failure (or a later one) was applied already
        if failure.at > contact.backoff_until + timedelta(seconds=4**steps):
            steps = 0
    steps = min(steps + 1, MAX_PAIR_BACKOFF_STEPS)
    contact.backoff_count = steps
    contact.backoff_until = failure.at + timedelta(seconds=4**steps)
    contact.save(update_fields=["backoff_count", "backoff_until"])
    return [f"recipient backoff {4**steps}s {contact}"]


def number_backoff_active(number: PhoneNumber, now: datetime | None = None) -> bool:
    return number.backoff_until is not None and number.backoff_until > (now or timezone.now())
