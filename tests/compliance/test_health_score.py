"""The health score table: state and 30-day signals → score, band, reasons, actions."""

import pytest

from compliance.choices import Band
from compliance.health import (
    ACTION_APPEAL,
    ACTION_AUDIENCE,
    ACTION_CONSENT,
    ACTION_FREQUENCY,
    ACTION_TEMPLATES,
    ACTION_VERIFY,
    NumberSignals,
    assess,
)
from portal.meta.types import BanState, CanSend, NumberStatus, Quality, RestrictionType

CASES = [
    # (id, signals, score, band, actions)
    ("clean", NumberSignals(), 100, Band.HEALTHY, ()),
    ("unknown-quality-is-neutral", NumberSignals(quality=Quality.UNKNOWN), 100, Band.HEALTHY, ()),
    (
        "medium-quality",
        NumberSignals(quality=Quality.MEDIUM),
        80,
        Band.HEALTHY,
        (ACTION_TEMPLATES,),
    ),
    ("low-quality", NumberSignals(quality=Quality.LOW), 55, Band.WATCH, (ACTION_TEMPLATES,)),
    (
        "flagged-low",
        NumberSignals(quality=Quality.LOW, status=NumberStatus.FLAGGED),
        30,
        Band.AT_RISK,
        (ACTION_TEMPLATES,),
    ),
    (
        "limit-reached",
        NumberSignals(status=NumberStatus.RESTRICTED),
        90,
        Band.HEALTHY,
        (ACTION_FREQUENCY,),
    ),
    (
        "pending-number",
        NumberSignals(status=NumberStatus.PENDING),
        85,
        Band.HEALTHY,
        (ACTION_VERIFY,),
    ),
    (
        "banned-number",
        NumberSignals(status=NumberStatus.BANNED),
        10,
        Band.BLOCKED,
        (ACTION_APPEAL,),
    ),
    (
        "disconnected",
        NumberSignals(status=NumberStatus.DISCONNECTED),
        10,
        Band.BLOCKED,
        (ACTION_APPEAL,),
    ),
    (
        "waba-disabled",
        NumberSignals(ban_state=BanState.DISABLED),
        10,
        Band.BLOCKED,
        (ACTION_APPEAL,),
    ),
    (
        "ban-scheduled",
        NumberSignals(ban_state=BanState.SCHEDULED_FOR_DISABLE),
        60,
        Band.WATCH,
        (ACTION_APPEAL,),
    ),
    (
        "messaging-restricted",
        NumberSignals(active_restrictions=(RestrictionType.BUSINESS_INITIATED_MESSAGING,)),
        10,
        Band.BLOCKED,
        (ACTION_APPEAL,),
    ),
    (
        "template-restriction",
        NumberSignals(active_restrictions=(RestrictionType.UTILITY_TEMPLATES,)),
        75,
        Band.WATCH,
        (ACTION_APPEAL,),
    ),
    (
        "two-template-restrictions-capped",
        NumberSignals(
            active_restrictions=(
                RestrictionType.UTILITY_TEMPLATES,
                RestrictionType.ADD_PHONE_NUMBER,
            )
        ),
        60,
        Band.WATCH,
        (ACTION_APPEAL,),
    ),
    ("health-blocked", NumberSignals(can_send=CanSend.BLOCKED), 10, Band.BLOCKED, (ACTION_APPEAL,)),
    ("health-limited", NumberSignals(can_send=CanSend.LIMITED), 85, Band.HEALTHY, (ACTION_VERIFY,)),
    ("one-quality-drop", NumberSignals(quality_drops_30d=1), 95, Band.HEALTHY, (ACTION_TEMPLATES,)),
    (
        "quality-drops-capped",
        NumberSignals(quality_drops_30d=9),
        85,
        Band.HEALTHY,
        (ACTION_TEMPLATES,),
    ),
    ("limit-drops", NumberSignals(limit_drops_30d=2), 80, Band.HEALTHY, (ACTION_FREQUENCY,)),
    (
        "template-pauses",
        NumberSignals(template_pauses_30d=2),
        90,
        Band.HEALTHY,
        (ACTION_TEMPLATES,),
    ),
    (
        "template-disabled",
        NumberSignals(template_disables_30d=1),
        90,
        Band.HEALTHY,
        (ACTION_TEMPLATES,),
    ),
    (
        "template-rejections",
        NumberSignals(template_rejections_30d=3),
        94,
        Band.HEALTHY,
        (ACTION_TEMPLATES,),
    ),
    (
        "spam-refusals-1pct",
        NumberSignals(sent_30d=1000, errors_30d={131048: 10}),
        85,
        Band.HEALTHY,
        (ACTION_CONSENT,),
    ),
    (
        "spam-refusals-3pct",
        NumberSignals(sent_30d=1000, errors_30d={131048: 30}),
        75,
        Band.WATCH,
        (ACTION_CONSENT,),
    ),
    (
        "opt-outs-3pct",
        NumberSignals(sent_30d=100, errors_30d={131050: 3}),
        80,
        Band.HEALTHY,
        (ACTION_CONSENT,),
    ),
    (
        "marketing-limit-5pct",
        NumberSignals(sent_30d=100, errors_30d={131049: 5}),
        90,
        Band.HEALTHY,
        (ACTION_FREQUENCY,),
    ),
    (
        "undeliverable-5pct",
        NumberSignals(sent_30d=100, errors_30d={131026: 5}),
        95,
        Band.HEALTHY,
        (ACTION_AUDIENCE,),
    ),
    (
        "too-little-traffic-for-rates",
        NumberSignals(sent_30d=19, errors_30d={131048: 19}),
        100,
        Band.HEALTHY,
        (),
    ),
    (
        "everything-at-once-floors-at-0",
        NumberSignals(
            quality=Quality.LOW,
            status=NumberStatus.FLAGGED,
            ban_state=BanState.SCHEDULED_FOR_DISABLE,
            quality_drops_30d=3,
            limit_drops_30d=2,
            template_pauses_30d=4,
            sent_30d=100,
            errors_30d={131048: 10, 131050: 10},
        ),
        0,
        Band.AT_RISK,
        (ACTION_TEMPLATES, ACTION_APPEAL, ACTION_FREQUENCY, ACTION_CONSENT),
    ),
    (
        "blocked-keeps-other-actions",
        NumberSignals(status=NumberStatus.BANNED, quality=Quality.LOW),
        10,
        Band.BLOCKED,
        (ACTION_APPEAL, ACTION_TEMPLATES),
    ),
]


@pytest.mark.parametrize(
    ("signals", "score", "band", "actions"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_health_score_table(signals, score, band, actions):
    result = assess(signals)

    assert (result.score, result.band, result.actions) == (score, band, actions)
    assert len(result.reasons) >= len(actions)


def test_band_edges():
    assert assess(NumberSignals(quality=Quality.MEDIUM)).band == Band.HEALTHY  # 80
    assert assess(NumberSignals(quality=Quality.MEDIUM, quality_drops_30d=1)).band == Band.WATCH
    at_50 = assess(NumberSignals(quality=Quality.LOW, quality_drops_30d=1))
    assert (at_50.score, at_50.band) == (50, Band.WATCH)
    below = assess(
        NumberSignals(quality=Quality.LOW, quality_drops_30d=1, template_rejections_30d=1)
    )
    assert (below.score, below.band) == (48, Band.AT_RISK)


def test_reasons_are_plain_words():
    result = assess(NumberSignals(sent_30d=200, errors_30d={131050: 10}))

    assert result.reasons == (
        "5.0% of messages went to people who stopped your marketing (131050).",
    )
