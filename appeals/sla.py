"""Business-time arithmetic for staff's SLA clocks: pure functions, no database.

A clock counts only business time (configured hours on configured days in one time zone). It runs
while staff owe the next step and pauses while the appeal waits on the client or on Meta; the
ticket keeps the business seconds used so far and when the clock last started running.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.core.exceptions import ImproperlyConfigured

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A target can never need more than this many calendar days of search (guards a bad config).
MAX_SEARCH_DAYS = 3660


@dataclass(frozen=True)
class BusinessHours:
    opens: time
    closes: time
    weekdays: frozenset[int]  # Monday is 0
    tz: ZoneInfo

    @classmethod
    def parse(cls, *, hours: str, days: list[str], tz: str) -> BusinessHours:
        try:
            start, end = (time.fromisoformat(part.strip()) for part in hours.split("-"))
        except ValueError:
            raise ImproperlyConfigured(
                f"APPEALS_BUSINESS_HOURS={hours!r} is not like 09:00-18:00."
            ) from None
        if end <= start:
            raise ImproperlyConfigured(f"APPEALS_BUSINESS_HOURS={hours!r} closes before it opens.")
        weekdays = set()
        for day in days:
            name = day.strip().lower()[:3]
            if name not in DAY_NAMES:
                raise ImproperlyConfigured(f"APPEALS_BUSINESS_DAYS has an unknown day {day!r}.")
            weekdays.add(DAY_NAMES.index(name))
        if not weekdays:
            raise ImproperlyConfigured("APPEALS_BUSINESS_DAYS names no day.")
        try:
            zone = ZoneInfo(tz)
        except Exception:  # ZoneInfo raises several kinds of error for a bad key
            raise ImproperlyConfigured(f"APPEALS_TIME_ZONE={tz!r} is not a time zone.") from None
        return cls(opens=start, closes=end, weekdays=frozenset(weekdays), tz=zone)

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The business window of a local calendar day, or None on a closed day. In UTC: two
        datetimes of one zone subtract (and add) as wall time, which is off by an hour on a
        day the clocks change."""
        if day.weekday() not in self.weekdays:
            return None
        return (
            datetime.combine(day, self.opens, tzinfo=self.tz).astimezone(UTC),
            datetime.combine(day, self.closes, tzinfo=self.tz).astimezone(UTC),
        )


def hours_from_settings() -> BusinessHours:
    from django.conf import settings

    return _parsed(
        settings.APPEALS_BUSINESS_HOURS,
        tuple(settings.APPEALS_BUSINESS_DAYS),
        settings.APPEALS_TIME_ZONE,
    )


@lru_cache(maxsize=8)
def _parsed(hours: str, days: tuple[str, ...], tz: str) -> BusinessHours:
    # Pages read the hours once per row; the settings rarely change (tests override them).
    return BusinessHours.parse(hours=hours, days=list(days), tz=tz)


def local_time_text(moment: datetime, hours: BusinessHours | None = None) -> str:
    """'2026-11-23 15:00 Europe/Berlin': a moment in the business-hours zone, the zone named
    (due times are read by staff and clients who may not be in UTC)."""
    hours = hours or hours_from_settings()
    return f"{moment.astimezone(hours.tz):%Y-%m-%d %H:%M} {hours.tz.key}"


def business_seconds_between(start: datetime, end: datetime, hours: BusinessHours) -> int:
    """Business seconds in [start, end); 0 when end is not after start."""
    if end <= start:
        return 0
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    total = 0.0
    day = start.astimezone(hours.tz).date()
    last = end.astimezone(hours.tz).date()
    while day <= last:
        window = hours.window(day)
        if window is not None:
            lo, hi = max(window[0], start), min(window[1], end)
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += timedelta(days=1)
    return int(total)


def add_business_seconds(start: datetime, seconds: float, hours: BusinessHours) -> datetime:
    """The moment `seconds` of business time after `start` (start itself if seconds <= 0 and
    start is inside business hours; otherwise the next opening)."""
    remaining = max(0.0, seconds)
    start = start.astimezone(UTC)
    day = start.astimezone(hours.tz).date()
    for _ in range(MAX_SEARCH_DAYS):
        window = hours.window(day)
        if window is not None:
            lo = max(window[0], start)
            if lo < window[1]:
                available = (window[1] - lo).total_seconds()
                if remaining <= available:
                    return lo + timedelta(seconds=remaining)
                remaining -= available
        day += timedelta(days=1)
    raise ValueError("No business time within ten years: check the business days.")


@dataclass(frozen=True)
class Clock:
    """One SLA clock at a moment: used and target business seconds, and its due time."""

    used: int
    target: int
    running: bool
    stopped: bool
    due_at: datetime | None

    @property
    def remaining(self) -> int:
        return self.target - self.used

    def state(self, *, warn_at_percent: int) -> str:
        """ok / due_soon / breached / paused / met / missed."""
        if self.stopped:
            return "met" if self.used <= self.target else "missed"
        if self.used > self.target:
            return "breached"
        if not self.running:
            return "paused"
        if self.used * 100 >= self.target * warn_at_percent:
            return "due_soon"
        return "ok"


def clock_at(
    *,
    used: int,
    running_since: datetime | None,
    stopped: bool,
    target: int,
    now: datetime,
    hours: BusinessHours,
) -> Clock:
    """The clock as of `now`: `used` seconds banked, plus the running segment if any."""
    total = used
    due = None
    if running_since is not None and not stopped:
        total += business_seconds_between(running_since, now, hours)
        due = add_business_seconds(running_since, target - used, hours)
    return Clock(
        used=total,
        target=target,
        running=running_since is not None and not stopped,
        stopped=stopped,
        due_at=due,
    )


def format_business_duration(seconds: int) -> str:
    """'3 h 05 min' style, for pages and e-mails."""
    sign = "-" if seconds < 0 else ""
    seconds = abs(int(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{sign}{h} h {rest // 60:02d} min"
