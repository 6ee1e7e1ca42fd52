"""The health score: one pure function from a number's state and its last 30 days of signals to
a score 0 to 100, a band, the reasons and what to do about them, in plain words."""

from __future__ import annotations

from dataclasses import dataclass, field

from compliance.choices import Band
from portal.meta.types import (
    BanState,
    CanSend,
    MessagingLimit,
    NumberStatus,
    Quality,
    RestrictionType,
)

# Restrictions that stop messaging outright (the rest limit templates or numbers).
BLOCKING_RESTRICTIONS = frozenset(
    {RestrictionType.BUSINESS_INITIATED_MESSAGING, RestrictionType.CUSTOMER_INITIATED_MESSAGING}
)
BLOCKED_STATUSES = frozenset({NumberStatus.BANNED, NumberStatus.DISCONNECTED, NumberStatus.DELETED})
# Error rates only mean something over enough traffic.
MIN_SENT_FOR_RATES = 20

ACTION_APPEAL = "Open an appeal with your BSP: it gathers what Meta's review asks for."
ACTION_CONSENT = (
    "Send marketing only to contacts with a recorded opt-in, and honour STOP replies at once."
)
ACTION_TEMPLATES = (
    "Review the templates behind recent blocks or reports; fix or retire paused ones before "
    "sending them again."
)
ACTION_FREQUENCY = "Send fewer marketing messages: cap how many each contact gets per week."
ACTION_AUDIENCE = "Remove numbers that are not on WhatsApp from your lists."
ACTION_VERIFY = "Finish business verification and display-name approval in Meta's Business Manager."


@dataclass(frozen=True)
class NumberSignals:
    status: NumberStatus = NumberStatus.CONNECTED
    quality: Quality = Quality.HIGH
    messaging_limit: MessagingLimit = MessagingLimit.UNKNOWN
    can_send: CanSend = CanSend.AVAILABLE
    ban_state: BanState = BanState.NONE
    active_restrictions: tuple[RestrictionType, ...] = ()
    quality_drops_30d: int = 0
    limit_drops_30d: int = 0
    template_pauses_30d: int = 0
    template_disables_30d: int = 0
    template_rejections_30d: int = 0
    sent_30d: int = 0
    errors_30d: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Assessment:
    score: int
    band: Band
    reasons: tuple[str, ...]
    actions: tuple[str, ...]


def assess(signals: NumberSignals) -> Assessment:
    penalties: list[tuple[int, str, str | None]] = []  # (points, reason, action)
    blocked: list[str] = []

    if signals.status in BLOCKED_STATUSES:
        blocked.append(f"The number is {signals.status.value} and cannot send or receive.")
    if signals.ban_state == BanState.DISABLED:
        blocked.append("Meta disabled the WhatsApp Business Account.")
    for restriction in signals.active_restrictions:
        if restriction in BLOCKING_RESTRICTIONS:
            blocked.append(f"The account is restricted: {restriction.value.replace('_', ' ')}.")
    if signals.can_send == CanSend.BLOCKED:
        blocked.append("Meta's health status says this number cannot send messages.")

    if signals.quality == Quality.MEDIUM:
        penalties.append((20, "Quality rating is medium.", ACTION_TEMPLATES))
    elif signals.quality == Quality.LOW:
        penalties.append((45, "Quality rating is low.", ACTION_TEMPLATES))
    if signals.status == NumberStatus.FLAGGED:
        penalties.append((25, "The number is flagged for low quality.", ACTION_TEMPLATES))
    elif signals.status in (NumberStatus.RESTRICTED, NumberStatus.RATE_LIMITED):
        penalties.append((10, "The number reached its messaging limit.", ACTION_FREQUENCY))
    elif signals.status in (NumberStatus.PENDING, NumberStatus.UNVERIFIED, NumberStatus.OFFLINE):
        penalties.append((15, f"The number is {signals.status.value}.", ACTION_VERIFY))
    if signals.ban_state == BanState.SCHEDULED_FOR_DISABLE:
        penalties.append((40, "Meta scheduled the account to be disabled.", ACTION_APPEAL))
    other_restrictions = [r for r in signals.active_restrictions if r not in BLOCKING_RESTRICTIONS]
    if other_restrictions:
        names = ", ".join(r.value.replace("_", " ") for r in other_restrictions)
        penalties.append(
            (min(40, 25 * len(other_restrictions)), f"Active restrictions: {names}.", ACTION_APPEAL)
        )
    if signals.can_send == CanSend.LIMITED:
        penalties.append((15, "Meta's health status limits sending.", ACTION_VERIFY))

    _count_penalty(penalties, signals.quality_drops_30d, 5, 15, "quality drop", ACTION_TEMPLATES)
    _count_penalty(
        penalties, signals.limit_drops_30d, 10, 20, "messaging-limit drop", ACTION_FREQUENCY
    )
    _count_penalty(
        penalties, signals.template_pauses_30d, 5, 20, "template pause", ACTION_TEMPLATES
    )
    _count_penalty(
        penalties, signals.template_disables_30d, 10, 20, "template disabled", ACTION_TEMPLATES
    )
    _count_penalty(
        penalties, signals.template_rejections_30d, 2, 10, "template rejection", ACTION_TEMPLATES
    )

    if signals.sent_30d >= MIN_SENT_FOR_RATES:
        _rate_penalty(
            penalties,
            signals,
            131048,
            ((0.03, 25), (0.01, 15)),
            "were refused as spam (131048)",
            ACTION_CONSENT,
        )
        _rate_penalty(
            penalties,
            signals,
            131050,
            ((0.03, 20), (0.01, 10)),
            "went to people who stopped your marketing (131050)",
            ACTION_CONSENT,
        )
        _rate_penalty(
            penalties,
            signals,
            131049,
            ((0.05, 10),),
            "were held back by per-user marketing limits (131049)",
            ACTION_FREQUENCY,
        )
        _rate_penalty(
            penalties, signals, 131026, ((0.05, 5),), "were undeliverable (131026)", ACTION_AUDIENCE
        )

    score = max(0, 100 - sum(points for points, _, _ in penalties))
    reasons = tuple(blocked) + tuple(reason for _, reason, _ in penalties)
    actions = tuple(dict.fromkeys(action for _, _, action in penalties if action))
    if blocked:
        return Assessment(
            score=min(score, 10),
            band=Band.BLOCKED,
            reasons=reasons,
            actions=tuple(dict.fromkeys((ACTION_APPEAL, *actions))),
        )
    band = Band.HEALTHY if score >= 80 else Band.WATCH if score >= 50 else Band.AT_RISK
    return Assessment(score=score, band=band, reasons=reasons, actions=actions)


def _count_penalty(penalties, count, each, cap, what, action) -> None:
    if count > 0:
        plural = "s" if count > 1 else ""
        penalties.append((min(cap, each * count), f"{count} {what}{plural} in 30 days.", action))


def _rate_penalty(penalties, signals, code, steps, what, action) -> None:
    rate = signals.errors_30d.get(code, 0) / signals.sent_30d
    for threshold, points in steps:
        if rate >= threshold:
            penalties.append((points, f"{rate:.1%} of messages {what}.", action))
            return
