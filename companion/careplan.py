"""The care plan: what a client does, avoids and can expect on each day after a treatment.

Pure and stdlib only: a protocol, the treatment instant, the client's time zone and a
moment go in, a Plan comes out. Nothing here reads the clock.

Day numbers are calendar days in the client's zone: day 0 is the local date of the
treatment and day 1 starts at the next local midnight, whatever the time of treatment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from companion.checkrules import Rules

TIMES = ("morning", "anytime", "evening")  #: the order of a day's steps
LEVELS = ("emergency", "clinic")  #: the order of warnings


# -- The protocol: what a clinic configures -------------------------------------------


@dataclass(frozen=True)
class Step:
    """A daily care step, shown on every recovery day in [from_day, to_day]."""

    id: str
    title: str
    text: str
    from_day: int
    to_day: int
    time: str  # "morning" | "evening" | "anytime"
    not_before_hours: int = 0  # days before this moment's day drop the step


@dataclass(frozen=True)
class Restriction:
    """Something off-limits from the treatment until `hours` elapsed or `days` later."""

    id: str
    title: str
    avoid: str  #: shown while still off-limits
    allowed: str  #: shown once allowed again
    hours: int | None = None  #: elapsed hours, DST changes count as real time
    days: int | None = None  #: calendar days, ending at the same local wall-clock time
    remind: bool = True  #: announce the end by push ("picking" never becomes a good idea)

    def __post_init__(self) -> None:
        if (self.hours is None) == (self.days is None):
            raise ValueError(f"restriction {self.id!r}: set exactly one of hours or days")


@dataclass(frozen=True)
class Normal:
    id: str
    text: str
    from_day: int
    to_day: int


@dataclass(frozen=True)
class WarningSign:
    id: str
    text: str
    level: str  # "clinic" | "emergency"


@dataclass(frozen=True)
class PreCare:
    id: str
    text: str
    days_before: int  #: days before the earliest date of the next session


@dataclass(frozen=True)
class Series:
    interval_weeks: int = 4
    interval_weeks_max: int = 6
    sessions_min: int = 3
    sessions_max: int = 6


@dataclass(frozen=True)
class Protocol:
    id: str
    name: str
    version: int
    expected_recovery_days: int  #: expected side effects last up to this day
    timeline_days: int  #: the timeline shows at least days 0..timeline_days
    steps: tuple[Step, ...]
    restrictions: tuple[Restriction, ...]
    normal: tuple[Normal, ...]
    warnings: tuple[WarningSign, ...]
    series: Series
    precare: tuple[PreCare, ...]
    checkin: Rules | None = None  #: the daily check-in's rules (checkrules.py)


# -- The plan: what a client sees -------------------------------------------------------


@dataclass(frozen=True)
class RestrictionStatus:
    restriction: Restriction
    ends_at: datetime  #: aware, UTC
    ends_local: datetime  #: aware, in the client's zone
    ends_day: int  #: recovery day on which it ends
    active: bool  #: still off-limits at `now` (also true before the treatment)
    remaining: timedelta  #: timedelta(0) once over


@dataclass(frozen=True)
class StepView:
    step: Step
    not_before: datetime | None  #: local; only on the day the not-before moment falls on


@dataclass(frozen=True)
class Day:
    number: int
    date: date
    steps: tuple[StepView, ...]  #: morning, anytime, evening; protocol order within
    normal: tuple[Normal, ...]
    unlocks: tuple[RestrictionStatus, ...]  #: restrictions ending on this date, soonest first


@dataclass(frozen=True)
class NextSession:
    index: int  #: 1-based number of the coming session
    total: int | None
    earliest: date
    latest: date
    earliest_day: int  #: recovery day number of `earliest`
    precare: tuple[tuple[PreCare, date], ...]  #: each with the local date it starts


@dataclass(frozen=True)
class Plan:
    timezone: str
    treated_local: datetime
    now_local: datetime
    day: int  #: recovery day at `now`; negative before the treatment's date
    today: Day
    off_limits: tuple[RestrictionStatus, ...]  #: active, soonest end first
    allowed: tuple[RestrictionStatus, ...]  #: over, most recently ended first
    warnings: tuple[WarningSign, ...]  #: emergency first, then protocol order
    timeline: tuple[Day, ...]  #: day 0 .. last day anything is shown or ends
    next_session: NextSession | None  #: None after the last session of a series
    in_recovery: bool  #: 0 <= day <= expected_recovery_days
    restrictions: tuple[RestrictionStatus, ...]  #: all of them, protocol order


# -- Time ---------------------------------------------------------------------------------


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    if isinstance(tz, ZoneInfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError) as exc:
        raise ValueError(f"unknown time zone: {tz!r}") from exc


def _aware(name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name} must be a timezone-aware datetime, got naive {value.isoformat()}"
        )
    return value


def wall_to_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a naive local wall time.

    A wall time in a spring-forward gap or a fall-back overlap has two readings (fold=0
    and fold=1); take the later one so nothing ever ends early: in a gap that is the wall
    time shifted forward by the gap (02:30 -> 03:30), in an overlap its second occurrence.
    """
    return max(wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))


def _after_hours(treated_at: datetime, hours: int) -> datetime:
    # Add in UTC: adding to a zone-aware datetime would move the wall clock instead.
    return treated_at.astimezone(UTC) + timedelta(hours=hours)


def recovery_day(treated_at: datetime, tz: str | ZoneInfo, moment: datetime) -> int:
    """The recovery day number of `moment`: local calendar days since the treatment's."""
    zone = _zone(tz)
    _aware("treated_at", treated_at)
    _aware("moment", moment)
    return (moment.astimezone(zone).date() - treated_at.astimezone(zone).date()).days


def restriction_end(
    treated_at: datetime, tz: str | ZoneInfo, restriction: Restriction
) -> datetime:
    """The UTC instant a restriction ends (see `wall_to_instant` for DST edge cases)."""
    zone = _zone(tz)
    _aware("treated_at", treated_at)
    if restriction.hours is not None:
        return _after_hours(treated_at, restriction.hours)
    wall = treated_at.astimezone(zone).replace(tzinfo=None)
    return wall_to_instant(wall + timedelta(days=restriction.days), zone)


# -- The plan -----------------------------------------------------------------------------


def build_plan(
    protocol: Protocol,
    treated_at: datetime,
    timezone: str,
    now: datetime,
    *,
    series_index: int = 1,
    series_total: int | None = None,
    next_session_weeks: int | None = None,
) -> Plan:
    """The plan at `now` for a client in `timezone` treated at `treated_at`.

    `series_index` is the 1-based number of this treatment in its series of
    `series_total`; `next_session_weeks` overrides the protocol's interval.
    """
    zone = _zone(timezone)
    _aware("treated_at", treated_at)
    _aware("now", now)
    if series_index < 1:
        raise ValueError(f"series_index must be 1 or more, got {series_index}")
    if series_total is not None and series_total < 1:
        raise ValueError(f"series_total must be 1 or more, got {series_total}")
    if next_session_weeks is not None and next_session_weeks < 1:
        raise ValueError(f"next_session_weeks must be 1 or more, got {next_session_weeks}")

    treated_on = treated_at.astimezone(zone).date()
    day = recovery_day(treated_at, zone, now)
    statuses = tuple(_status(r, treated_at, zone, now) for r in protocol.restrictions)
    last = max(
        [protocol.timeline_days]
        + [s.ends_day for s in statuses]
        + [s.to_day for s in protocol.steps]
        + [n.to_day for n in protocol.normal]
    )
    timeline = tuple(_day(protocol, n, treated_at, zone, statuses) for n in range(last + 1))
    by_end = sorted(statuses, key=lambda s: s.ends_at)
    return Plan(
        timezone=zone.key,
        treated_local=treated_at.astimezone(zone),
        now_local=now.astimezone(zone),
        day=day,
        today=timeline[day] if 0 <= day <= last else _day(protocol, day, treated_at, zone, ()),
        off_limits=tuple(s for s in by_end if s.active),
        allowed=tuple(s for s in reversed(by_end) if not s.active),
        warnings=tuple(sorted(protocol.warnings, key=lambda w: LEVELS.index(w.level))),
        timeline=timeline,
        next_session=_next_session(
            protocol, treated_on, series_index, series_total, next_session_weeks
        ),
        in_recovery=0 <= day <= protocol.expected_recovery_days,
        restrictions=statuses,
    )


def _status(
    restriction: Restriction, treated_at: datetime, zone: ZoneInfo, now: datetime
) -> RestrictionStatus:
    ends_at = restriction_end(treated_at, zone, restriction)
    return RestrictionStatus(
        restriction=restriction,
        ends_at=ends_at,
        ends_local=ends_at.astimezone(zone),
        ends_day=recovery_day(treated_at, zone, ends_at),
        active=now < ends_at,
        remaining=max(ends_at - now, timedelta(0)),
    )


def _day(
    protocol: Protocol,
    number: int,
    treated_at: datetime,
    zone: ZoneInfo,
    statuses: tuple[RestrictionStatus, ...],
) -> Day:
    views = []
    for when in TIMES:
        for step in protocol.steps:
            if step.time == when and step.from_day <= number <= step.to_day:
                view = _step_view(step, number, treated_at, zone)
                if view is not None:
                    views.append(view)
    return Day(
        number=number,
        date=treated_at.astimezone(zone).date() + timedelta(days=number),
        steps=tuple(views),
        normal=tuple(n for n in protocol.normal if n.from_day <= number <= n.to_day),
        unlocks=tuple(
            sorted((s for s in statuses if s.ends_day == number), key=lambda s: s.ends_at)
        ),
    )


def _step_view(step: Step, number: int, treated_at: datetime, zone: ZoneInfo) -> StepView | None:
    """The step as shown on day `number`, or None if it cannot be done on that day at all.

    A treatment late in the evening pushes "from 6 h after treatment" past midnight: the
    step then disappears from day 0 instead of asking for the impossible.
    """
    if not step.not_before_hours:
        return StepView(step, None)
    moment = _after_hours(treated_at, step.not_before_hours).astimezone(zone)
    moment_day = recovery_day(treated_at, zone, moment)
    if number < moment_day:
        return None
    if number == moment_day and moment.time() != time(0):
        return StepView(step, moment)
    return StepView(step, None)


def _next_session(
    protocol: Protocol,
    treated_on: date,
    series_index: int,
    series_total: int | None,
    weeks: int | None,
) -> NextSession | None:
    if series_total is not None and series_index >= series_total:
        return None
    series = protocol.series
    weeks = weeks or series.interval_weeks
    earliest = treated_on + timedelta(weeks=weeks)
    return NextSession(
        index=series_index + 1,
        total=series_total,
        earliest=earliest,
        latest=treated_on + timedelta(weeks=max(series.interval_weeks_max, weeks)),
        earliest_day=(earliest - treated_on).days,
        precare=tuple((p, earliest - timedelta(days=p.days_before)) for p in protocol.precare),
    )
