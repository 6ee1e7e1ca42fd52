"""Issue 14, defect 12: the health chart has dated axes, band labels, a hover value per point and
the quality and messaging-limit history; a day of changes is spread out, not a line at the edge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from compliance.charts import LEFT, RIGHT, history_chart
from compliance.models import HealthSnapshot


def _day_of_changes(end):
    return [
        (end - timedelta(hours=20), 92, "high", "tier_10k"),
        (end - timedelta(hours=12), 70, "medium", "tier_10k"),
        (end - timedelta(hours=4), 45, "low", "tier_2k"),
    ]


def test_a_day_of_changes_spreads_across_the_chart():
    end = timezone.now()
    chart = history_chart(_day_of_changes(end), start=end - timedelta(days=30), end=end)

    xs = [p.x for p in chart.points]
    plot_w = 640 - LEFT - RIGHT
    # the axis spans the last day (at least a day, from the first snapshot), not 30 days
    assert chart.start == end - timedelta(days=1)
    assert xs == [round(LEFT + plot_w * h / 24, 1) for h in (4, 12, 20)]


def test_the_axes_are_dated_and_the_bands_labelled():
    end = timezone.now().replace(hour=18, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=30)
    series = [(end - timedelta(days=20), 90, "high", "tier_10k"), (end, 40, "low", "tier_2k")]
    chart = history_chart(series, start=start, end=end)

    assert chart.x_ticks[0].label == f"{end - timedelta(days=20):%d %b}"
    assert chart.x_ticks[-1].label == f"{end:%d %b}"
    assert [t.label for t in chart.y_ticks] == ["0", "10", "50", "80", "100"]
    assert [label for *_, label in chart.bands] == ["Healthy", "Watch", "At risk", "Blocked"]


def test_each_point_has_its_values_and_the_strips_follow_quality_and_limit():
    end = timezone.now()
    chart = history_chart(_day_of_changes(end), start=end - timedelta(days=30), end=end)

    first = end - timedelta(hours=20)
    assert chart.points[0].label == (
        f"{first:%Y-%m-%d %H:%M} UTC: score 92, quality High, limit Tier 10k"
    )
    assert [s.css for s in chart.quality] == ["quality-high", "quality-medium", "quality-low"]
    assert [s.css for s in chart.limits] == ["limit-tier_10k", "limit-tier_2k"]
    assert chart.limits[-1].x + chart.limits[-1].width == 640 - RIGHT


def test_the_number_page_draws_the_dated_chart(web, acme, acme_number, acme_agent):
    end = timezone.now()
    with schema_context(acme.schema_name):
        for taken_at, score, quality, limit in _day_of_changes(end):
            HealthSnapshot.objects.create(
                number=acme_number,
                taken_at=taken_at,
                status="connected",
                quality=quality,
                messaging_limit=limit,
                can_send="available",
                score=score,
                band="healthy",
            )

    page = web(acme, acme_agent).get(f"/numbers/{acme_number.pk}/").content.decode()

    assert page.count("<circle ") == 3
    assert "UTC: score 45" in page
    assert ">At risk</text>" in page
    assert 'class="quality-low"' in page


def test_another_clients_number_chart_is_not_reachable(
    web, acme, globex, acme_number, globex_owner
):
    assert web(acme, globex_owner).get(f"/numbers/{acme_number.pk}/").status_code == 403


# What the number page's template loops wrote before the chart wrote these parts itself.
OLD_LOOPS = {
    "circles": '{% for point in chart.points %}<circle cx="{{ point.x }}" cy="{{ point.y }}" '
    'r="4"><title>{{ point.label }}</title></circle>{% endfor %}',
    "quality_rects": '{% for s in chart.quality %}<rect x="{{ s.x }}" y="{{ chart.strip_y.0 }}" '
    'width="{{ s.width }}" height="12" class="{{ s.css }}"><title>{{ s.label }}</title></rect>'
    "{% endfor %}",
    "limit_runs": '{% for s in chart.limits %}<g class="limit-run"><rect x="{{ s.x }}" '
    'y="{{ chart.strip_y.1 }}" width="{{ s.width }}" height="12" class="band-watch"><title>'
    '{{ s.label }}</title></rect><text x="{{ s.x|add:3 }}" y="{{ chart.strip_y.1|add:10 }}">'
    '{{ s.label|cut:"Messaging limit: " }}</text></g>{% endfor %}',
}


@pytest.mark.parametrize("part", sorted(OLD_LOOPS))
def test_the_charts_own_markup_is_what_the_template_loops_wrote(part):
    from django.template import Context, Template

    end = datetime(2026, 3, 31, 12, tzinfo=UTC)
    qualities = ["high", "medium", "low", "", "unknown", "<b>odd</b>"]
    limits = ["tier_250", "tier_2k", "tier_10k", "", "tier_unlimited"]
    series = [
        (
            end - timedelta(hours=7 * n + n % 3),
            (n * 37) % 101,
            qualities[n % len(qualities)],
            limits[(n // 3) % len(limits)],
        )
        for n in range(120, 0, -1)
    ]
    chart = history_chart(series, start=end - timedelta(days=30), end=end)
    assert chart.points
    assert chart.quality
    assert chart.limits
    old = Template(OLD_LOOPS[part]).render(Context({"chart": chart}))
    assert getattr(chart, part) == old
