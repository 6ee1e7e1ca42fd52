"""Server-rendered SVG: a sparkline per number and the health history chart (no JS needed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    points: list[ChartPoint]
    polyline: str
    bands: list[tuple[float, float, str]]  # (y, height, css class) of the band backgrounds


def history_chart(
    series: list[tuple[datetime, int]],
    *,
    start: datetime,
    end: datetime,
    width: int = 640,
    height: int = 180,
) -> Chart:
    """A step chart of scores over [start, end], with the band thresholds as backgrounds."""
    span = max((end - start).total_seconds(), 1)

    def y_of(score: int) -> float:
        return height - score / 100 * height

    points = [
        ChartPoint(
            x=round((taken_at - start).total_seconds() / span * width, 1),
            y=round(y_of(score), 1),
            score=score,
            label=f"{taken_at:%Y-%m-%d %H:%M} — {score}",
        )
        for taken_at, score in series
        if start <= taken_at <= end
    ]
    coords: list[str] = []
    for i, point in enumerate(points):
        if i:
            coords.append(f"{point.x},{points[i - 1].y}")  # hold the last value until the change
        coords.append(f"{point.x},{point.y}")
    if points:
        coords.append(f"{width},{points[-1].y}")
    bands = [
        (0, y_of(80), "band-healthy"),
        (y_of(80), y_of(50) - y_of(80), "band-watch"),
        (y_of(50), y_of(10) - y_of(50), "band-at-risk"),
        (y_of(10), height - y_of(10), "band-blocked"),
    ]
    return Chart(width=width, height=height, points=points, polyline=" ".join(coords), bands=bands)
