"""Server-rendered SVG: a sparkline per number and the health history chart (no JS needed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def sparkline_points(scores: list[int], *, width: int = 120, height: int = 28) -> str:
    """SVG polyline points for scores 0 to 100 spread evenly across `width`."""
    if not scores:
        return ""
    if len(scores) == 1:
        scores = scores * 2
    step = width / (len(scores) - 1)
    return " ".join(
        f"{i * step:.1f},{height - (score / 100) * (height - 2) - 1:.1f}"
        for i, score in enumerate(scores)
    )


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    score: int
    label: str  # the hover text (an SVG <title>): time, score, quality and limit


@dataclass(frozen=True)
class Tick:
    at: float  # x or y in the SVG
    label: str


@dataclass(frozen=True)
class Segment:
    """A stretch of time with one value (quality, messaging limit), for the strips under the
    score: x and width in the SVG, the css class and the hover text."""

    x: float
    width: float
    css: str
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int  # of the whole SVG
    plot: tuple[float, float, float, float]  # left, top, width, height of the score area
    points: list[ChartPoint]
    polyline: str
    bands: list[tuple[float, float, str, str]]  # (y, height, css class, label)
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    quality: list[Segment] = field(default_factory=list)
    limits: list[Segment] = field(default_factory=list)
    strip_y: tuple[float, float] = (0, 0)  # y of the quality strip and of the limit strip
    start: datetime | None = None
    end: datetime | None = None

    # The three per-point parts of the SVG, written here rather than by a template loop: a
    # month of snapshots is hundreds of elements, and the template engine's lookups and number
    # formatting for each were most of the number page's time. The markup is what the loops
    # wrote (tests/compliance/test_health_chart.py holds them side by side).

    @property
    def circles(self) -> SafeString:
        return mark_safe(  # noqa: S308 - the only text, the label, is escaped
            "".join(
                f'<circle cx="{p.x}" cy="{p.y}" r="4"><title>{escape(p.label)}</title></circle>'
                for p in self.points
            )
        )

    @property
    def quality_rects(self) -> SafeString:
        y = self.strip_y[0]
        return mark_safe(  # noqa: S308 - css and label are escaped
            "".join(
                f'<rect x="{s.x}" y="{y}" width="{s.width}" height="12" class="{escape(s.css)}">'
                f"<title>{escape(s.label)}</title></rect>"
                for s in self.quality
            )
        )

    @property
    def limit_runs(self) -> SafeString:
        y = self.strip_y[1]
        return mark_safe(  # noqa: S308 - the labels are escaped
            "".join(
                f'<g class="limit-run"><rect x="{s.x}" y="{y}" width="{s.width}" height="12" '
                f'class="band-watch"><title>{escape(s.label)}</title></rect>'
                # int(): the template's `add` filter truncated x to an integer first
                f'<text x="{int(s.x) + 3}" y="{int(y) + 10}">'
                f"{escape(s.label.replace('Messaging limit: ', ''))}</text></g>"
                for s in self.limits
            )
        )


# The band thresholds (compliance.health): healthy ≥ 80, watch ≥ 50, at risk ≥ 10, else blocked.
BANDS = ((100, 80, "band-healthy", "Healthy"), (80, 50, "band-watch", "Watch"),
         (50, 10, "band-at-risk", "At risk"), (10, 0, "band-blocked", "Blocked"))  # fmt: skip
LEFT, RIGHT, TOP, BOTTOM = 34, 64, 8, 22
STRIP = 12  # height of the quality and limit strips
MIN_SPAN = timedelta(days=1)


def _label(choices, value: str) -> str:
    return dict(choices).get(value, value or "unknown")


def history_chart(
    series: list[tuple],
    *,
    start: datetime,
    end: datetime,
    width: int = 640,
    height: int = 180,
) -> Chart:
    """A step chart of scores over time with dated axes, the band thresholds as labelled
    backgrounds, a hover value per point, and the quality and messaging-limit history as strips.

    `series` is (taken_at, score) or (taken_at, score, quality, messaging_limit), oldest first.
    The time axis starts at the first snapshot (but spans at least a day) so that a day of
    changes is spread out, not a vertical line at the edge of 30 days."""
    from compliance.choices import MESSAGING_LIMIT_CHOICES, QUALITY_CHOICES

    rows = [(*row, None, None)[:4] for row in series if start <= row[0] <= end]
    if rows:
        start = max(start, min(rows[0][0], end - MIN_SPAN))
    span = max((end - start).total_seconds(), 1)
    plot_w = width - LEFT - RIGHT
    plot_h = height - TOP - BOTTOM
    with_strips = any(row[2] for row in rows)
    total_h = height + (2 * (STRIP + 4) if with_strips else 0)

    def x_of(when: datetime) -> float:
        return round(LEFT + (when - start).total_seconds() / span * plot_w, 1)

    def y_of(score: int) -> float:
        return round(TOP + plot_h - score / 100 * plot_h, 1)

    points = []
    for taken_at, score, quality, limit in rows:
        label = f"{taken_at:%Y-%m-%d %H:%M} UTC: score {score}"
        if quality:
            label += f", quality {_label(QUALITY_CHOICES, quality)}"
        if limit:
            label += f", limit {_label(MESSAGING_LIMIT_CHOICES, limit)}"
        points.append(ChartPoint(x=x_of(taken_at), y=y_of(score), score=score, label=label))
    coords: list[str] = []
    for i, point in enumerate(points):
        if i:
            coords.append(f"{point.x},{points[i - 1].y}")  # hold the last value until the change
        coords.append(f"{point.x},{point.y}")
    if points:
        coords.append(f"{LEFT + plot_w},{points[-1].y}")
    bands = [(y_of(top), y_of(bottom) - y_of(top), css, label) for top, bottom, css, label in BANDS]
    strip_top = height + 2
    return Chart(
        width=width,
        height=total_h,
        plot=(LEFT, TOP, plot_w, plot_h),
        points=points,
        polyline=" ".join(coords),
        bands=bands,
        x_ticks=_time_ticks(start, end, x_of),
        y_ticks=[Tick(at=y_of(v), label=str(v)) for v in (0, 10, 50, 80, 100)],
        quality=_segments(rows, 2, x_of, LEFT + plot_w, "quality", QUALITY_CHOICES)
        if with_strips
        else [],
        limits=_segments(rows, 3, x_of, LEFT + plot_w, "limit", MESSAGING_LIMIT_CHOICES)
        if with_strips
        else [],
        strip_y=(strip_top, strip_top + STRIP + 4),
        start=start,
        end=end,
    )


def _time_ticks(start: datetime, end: datetime, x_of, count: int = 5) -> list[Tick]:
    span = end - start
    fmt = (
        "%H:%M"
        if span <= timedelta(hours=12)
        else "%d %b %H:%M"
        if span <= timedelta(days=3)
        else "%d %b"
    )
    step = span / (count - 1)
    return [
        Tick(at=x_of(start + step * i), label=f"{start + step * i:{fmt}}") for i in range(count)
    ]


def _segments(rows, index: int, x_of, right: float, prefix: str, choices) -> list[Segment]:
    """Runs of one value (quality or limit) from snapshot to snapshot, the last to the edge."""
    segments: list[Segment] = []
    run_start = None
    value = None
    for taken_at, *values in rows:
        current = values[index - 1]
        if current != value:
            if value is not None:
                segments.append(_segment(run_start, x_of(taken_at), value, prefix, choices))
            run_start, value = x_of(taken_at), current
    if value is not None:
        segments.append(_segment(run_start, right, value, prefix, choices))
    return segments


def _segment(x: float, to: float, value: str, prefix: str, choices) -> Segment:
    name = "Quality" if prefix == "quality" else "Messaging limit"
    return Segment(
        x=x,
        width=round(max(to - x, 1), 1),
        css=f"{prefix}-{value}",
        label=f"{name}: {_label(choices, value)}",
    )
