"""The care plan engine: day numbers, restriction ends, timeline, next session.

Uses a small hand-made protocol so the numbers here do not move when the shipped
content changes; tests/test_protocols.py covers the shipped file.
"""

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from companion.careplan import (
    Normal,
    PreCare,
    Protocol,
    Restriction,
    Series,
    Step,
    WarningSign,
    build_plan,
    recovery_day,
    restriction_end,
)

MADRID, NEW_YORK, LONDON = "Europe/Madrid", "America/New_York", "Europe/London"

# Protocol order is deliberately not display order: evening first, then anytime, morning.
PROTOCOL = Protocol(
    id="test",
    name="Test",
    version=1,
    expected_recovery_days=7,
    timeline_days=14,
    steps=(
        Step("first-cleanse", "First cleanse", "Rinse.", 0, 0, "evening", not_before_hours=6),
        Step("cleanse-pm", "Cleanse", "Cleanse.", 1, 7, "evening"),
        Step("moisturise", "Moisturise", "Moisturise.", 0, 7, "anytime"),
        Step("flakes", "Let flakes shed", "Leave them.", 3, 5, "anytime"),
        Step("cleanse-am", "Cleanse", "Cleanse.", 1, 7, "morning"),
        Step("spf", "Sunscreen", "SPF 30+.", 1, 14, "morning", not_before_hours=24),
    ),
    restrictions=(
        Restriction("makeup", "Make-up", "No make-up.", "Make-up is fine.", hours=24),
        Restriction("heat", "Sauna", "No sauna.", "Sauna is fine.", hours=72),
        Restriction("actives", "Actives", "No actives.", "Actives are fine.", days=7),
        Restriction("sun", "Sun", "No sun.", "Sun is fine.", days=14),
    ),
    normal=(
        Normal("redness", "Redness.", 0, 3),
        Normal("flaking", "Flaking.", 3, 5),
    ),
    warnings=(
        WarningSign("worse", "Getting worse.", "clinic"),
        WarningSign("breathing", "Breathing.", "emergency"),
        WarningSign("fever", "Fever.", "clinic"),
        WarningSign("throat", "Throat.", "emergency"),
    ),
    series=Series(),
    precare=(
        PreCare("no-tan", "No tanning.", 14),
        PreCare("retinoids", "Pause retinoids.", 5),
    ),
)


def local(zone: str, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def restriction(*, hours: int | None = None, days: int | None = None) -> Restriction:
    return Restriction("r", "R", "avoid", "allowed", hours=hours, days=days)


def plan_at(now: datetime, treated: datetime | None = None, zone: str = MADRID, **kw):
    treated = treated or local(MADRID, 2026, 5, 10, 10, 0)
    return build_plan(PROTOCOL, treated, zone, now, **kw)


def ids(items) -> list[str]:
    return [getattr(i, "step", getattr(i, "restriction", i)).id for i in items]


# -- Day numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("treated", "moment", "expected"),
    [
        # Midday treatment: the day turns at local midnight.
        (local(MADRID, 2026, 5, 10, 10), local(MADRID, 2026, 5, 10, 10), 0),
        (local(MADRID, 2026, 5, 10, 10), local(MADRID, 2026, 5, 10, 23, 59, 59), 0),
        (local(MADRID, 2026, 5, 10, 10), local(MADRID, 2026, 5, 11, 0, 0), 1),
        (local(MADRID, 2026, 5, 10, 10), local(MADRID, 2026, 5, 10, 0, 0), 0),
        (local(MADRID, 2026, 5, 10, 10), local(MADRID, 2026, 5, 9, 23, 59, 59), -1),
        (local(MADRID, 2026, 5, 10, 10), local(MADRID, 2026, 5, 17, 0, 0), 7),
        # The same local midnight given in UTC (Madrid is UTC+2 in May).
        (local(MADRID, 2026, 5, 10, 10), utc(2026, 5, 10, 21, 59, 59), 0),
        (local(MADRID, 2026, 5, 10, 10), utc(2026, 5, 10, 22, 0, 0), 1),
        # Treated at 23:30: day 1 starts half an hour later, not 24 hours later.
        (local(MADRID, 2026, 5, 10, 23, 30), local(MADRID, 2026, 5, 10, 23, 59, 59), 0),
        (local(MADRID, 2026, 5, 11, 23, 30), local(MADRID, 2026, 5, 12, 0, 0), 1),
        (local(MADRID, 2026, 5, 10, 23, 30), local(MADRID, 2026, 5, 11, 23, 59, 59), 1),
        (local(MADRID, 2026, 5, 10, 23, 30), local(MADRID, 2026, 5, 12, 0, 0), 2),
    ],
)
def test_recovery_day_turns_at_local_midnight(treated, moment, expected):
    assert recovery_day(treated, MADRID, moment) == expected


@pytest.mark.parametrize(
    ("zone", "treated", "moment", "expected"),
    [
        # Madrid springs forward on 2026-03-29 at 02:00 CET: that day has 23 hours.
        (MADRID, local(MADRID, 2026, 3, 28, 12), utc(2026, 3, 28, 22, 59, 59), 0),
        (MADRID, local(MADRID, 2026, 3, 28, 12), utc(2026, 3, 28, 23, 0, 0), 1),
        (MADRID, local(MADRID, 2026, 3, 28, 12), utc(2026, 3, 29, 21, 59, 59), 1),
        (MADRID, local(MADRID, 2026, 3, 28, 12), utc(2026, 3, 29, 22, 0, 0), 2),
        # Madrid falls back on 2026-10-25 at 03:00 CEST: that day has 25 hours.
        (MADRID, local(MADRID, 2026, 10, 24, 12), utc(2026, 10, 24, 21, 59, 59), 0),
        (MADRID, local(MADRID, 2026, 10, 24, 12), utc(2026, 10, 24, 22, 0, 0), 1),
        (MADRID, local(MADRID, 2026, 10, 24, 12), utc(2026, 10, 25, 22, 59, 59), 1),
        (MADRID, local(MADRID, 2026, 10, 24, 12), utc(2026, 10, 25, 23, 0, 0), 2),
        # New York springs forward on 2026-03-08 at 02:00 EST.
        (NEW_YORK, local(NEW_YORK, 2026, 3, 7, 12), utc(2026, 3, 8, 4, 59, 59), 0),
        (NEW_YORK, local(NEW_YORK, 2026, 3, 7, 12), utc(2026, 3, 8, 5, 0, 0), 1),
        (NEW_YORK, local(NEW_YORK, 2026, 3, 7, 12), utc(2026, 3, 9, 3, 59, 59), 1),
        (NEW_YORK, local(NEW_YORK, 2026, 3, 7, 12), utc(2026, 3, 9, 4, 0, 0), 2),
        # New York falls back on 2026-11-01 at 02:00 EDT.
        (NEW_YORK, local(NEW_YORK, 2026, 10, 31, 12), utc(2026, 11, 1, 3, 59, 59), 0),
        (NEW_YORK, local(NEW_YORK, 2026, 10, 31, 12), utc(2026, 11, 1, 4, 0, 0), 1),
        (NEW_YORK, local(NEW_YORK, 2026, 10, 31, 12), utc(2026, 11, 2, 4, 59, 59), 1),
        (NEW_YORK, local(NEW_YORK, 2026, 10, 31, 12), utc(2026, 11, 2, 5, 0, 0), 2),
    ],
)
def test_recovery_day_across_dst(zone, treated, moment, expected):
    assert recovery_day(treated, zone, moment) == expected


def test_recovery_day_accepts_a_zoneinfo():
    treated = local(MADRID, 2026, 5, 10, 10)
    assert recovery_day(treated, ZoneInfo(MADRID), utc(2026, 5, 10, 22)) == 1


# -- Restriction ends --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "treated", "rule", "ends_at", "ends_wall"),
    [
        # days=N keeps the wall-clock time across a DST change...
        (MADRID, local(MADRID, 2026, 3, 25, 15), restriction(days=7),
         utc(2026, 4, 1, 13), datetime(2026, 4, 1, 15)),
        (MADRID, local(MADRID, 2026, 10, 20, 15), restriction(days=7),
         utc(2026, 10, 27, 14), datetime(2026, 10, 27, 15)),
        (NEW_YORK, local(NEW_YORK, 2026, 3, 5, 10), restriction(days=7),
         utc(2026, 3, 12, 14), datetime(2026, 3, 12, 10)),
        (NEW_YORK, local(NEW_YORK, 2026, 10, 29, 10), restriction(days=7),
         utc(2026, 11, 5, 15), datetime(2026, 11, 5, 10)),
        # ...hours=N counts elapsed time, so the wall clock moves by the DST change.
        (MADRID, local(MADRID, 2026, 3, 25, 15), restriction(hours=168),
         utc(2026, 4, 1, 14), datetime(2026, 4, 1, 16)),
        (MADRID, local(MADRID, 2026, 10, 20, 15), restriction(hours=168),
         utc(2026, 10, 27, 13), datetime(2026, 10, 27, 14)),
        (NEW_YORK, local(NEW_YORK, 2026, 3, 5, 10), restriction(hours=168),
         utc(2026, 3, 12, 15), datetime(2026, 3, 12, 11)),
        (NEW_YORK, local(NEW_YORK, 2026, 10, 29, 10), restriction(hours=168),
         utc(2026, 11, 5, 14), datetime(2026, 11, 5, 9)),
        (MADRID, local(MADRID, 2026, 3, 27, 15), restriction(hours=72),
         utc(2026, 3, 30, 14), datetime(2026, 3, 30, 16)),
        (MADRID, local(MADRID, 2026, 10, 23, 15), restriction(hours=72),
         utc(2026, 10, 26, 13), datetime(2026, 10, 26, 14)),
        # A wall time in the spring-forward gap: shifted forward by the gap (03:30).
        (MADRID, local(MADRID, 2026, 3, 22, 2, 30), restriction(days=7),
         utc(2026, 3, 29, 1, 30), datetime(2026, 3, 29, 3, 30)),
        (NEW_YORK, local(NEW_YORK, 2026, 3, 1, 2, 30), restriction(days=7),
         utc(2026, 3, 8, 7, 30), datetime(2026, 3, 8, 3, 30)),
        # A wall time that happens twice when falling back: the second time.
        (MADRID, local(MADRID, 2026, 10, 18, 2, 30), restriction(days=7),
         utc(2026, 10, 25, 1, 30), datetime(2026, 10, 25, 2, 30)),
        (NEW_YORK, local(NEW_YORK, 2026, 10, 25, 1, 30), restriction(days=7),
         utc(2026, 11, 1, 6, 30), datetime(2026, 11, 1, 1, 30)),
    ],
)
def test_restriction_end(zone, treated, rule, ends_at, ends_wall):
    end = restriction_end(treated, zone, rule)
    assert end == ends_at
    assert end.utcoffset() == timedelta(0)
    assert end.astimezone(ZoneInfo(zone)).replace(tzinfo=None) == ends_wall


def test_restriction_end_in_the_fall_back_overlap_is_the_later_offset():
    end = restriction_end(local(MADRID, 2026, 10, 18, 2, 30), MADRID, restriction(days=7))
    assert end.astimezone(ZoneInfo(MADRID)).utcoffset() == timedelta(hours=1)  # CET


def test_days_restriction_keeps_wall_time_of_the_client_not_of_the_clinic():
    # Treated 23:30 in New York = 04:30 the next morning in London.
    treated = local(NEW_YORK, 2026, 5, 10, 23, 30)
    end = restriction_end(treated, LONDON, restriction(days=7))
    assert end.astimezone(ZoneInfo(LONDON)) == local(LONDON, 2026, 5, 18, 4, 30)


@pytest.mark.parametrize("kw", [{}, {"hours": 24, "days": 1}])
def test_restriction_needs_exactly_one_of_hours_or_days(kw):
    with pytest.raises(ValueError, match="exactly one of hours or days"):
        Restriction("r", "R", "avoid", "allowed", **kw)


# -- Refused input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: plan_at(utc(2026, 5, 11), treated=datetime(2026, 5, 10, 10)), "treated_at"),
        (lambda: plan_at(datetime(2026, 5, 11, 9)), "now"),
        (lambda: recovery_day(datetime(2026, 5, 10), MADRID, utc(2026, 5, 11)), "treated_at"),
        (lambda: recovery_day(utc(2026, 5, 10), MADRID, datetime(2026, 5, 11)), "moment"),
        (lambda: restriction_end(datetime(2026, 5, 10), MADRID, restriction(hours=1)),
         "treated_at"),
    ],
)
def test_naive_datetimes_are_refused(call, name):
    with pytest.raises(ValueError, match=f"{name} must be a timezone-aware datetime"):
        call()


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "America", "../etc/passwd", "CEST"])
def test_unknown_time_zone_is_refused_by_name(zone):
    with pytest.raises(ValueError, match=re.escape(f"unknown time zone: {zone!r}")):
        plan_at(utc(2026, 5, 11), zone=zone)
    with pytest.raises(ValueError, match="unknown time zone"):
        recovery_day(utc(2026, 5, 10), zone, utc(2026, 5, 11))


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"series_index": 0}, "series_index must be 1 or more"),
        ({"series_total": 0}, "series_total must be 1 or more"),
        ({"next_session_weeks": 0}, "next_session_weeks must be 1 or more"),
    ],
)
def test_bad_series_arguments_are_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        plan_at(utc(2026, 5, 11), **kw)


# -- The plan -------------------------------------------------------------------------------


def test_plan_on_day_one():
    plan = plan_at(local(MADRID, 2026, 5, 11, 9, 0))
    assert plan.timezone == MADRID
    assert plan.treated_local == local(MADRID, 2026, 5, 10, 10, 0)
    assert plan.now_local == local(MADRID, 2026, 5, 11, 9, 0)
    assert plan.day == 1
    assert plan.in_recovery is True
    assert plan.today.number == 1
    assert plan.today.date == date(2026, 5, 11)
    assert ids(plan.today.normal) == ["redness"]
    assert ids(plan.off_limits) == ["makeup", "heat", "actives", "sun"]
    assert plan.off_limits[0].remaining == timedelta(hours=1)
    assert plan.off_limits[0].ends_local == local(MADRID, 2026, 5, 11, 10, 0)
    assert plan.allowed == ()


def test_allowed_is_most_recent_first_and_off_limits_soonest_first():
    plan = plan_at(local(MADRID, 2026, 5, 18, 12, 0))  # day 8
    assert ids(plan.off_limits) == ["sun"]
    assert plan.off_limits[0].remaining == timedelta(days=5, hours=22)
    assert ids(plan.allowed) == ["actives", "heat", "makeup"]
    assert all(s.remaining == timedelta(0) and not s.active for s in plan.allowed)
    assert ids(plan.restrictions) == ["makeup", "heat", "actives", "sun"]


@pytest.mark.parametrize(
    ("now", "active", "remaining"),
    [
        (local(MADRID, 2026, 5, 11, 9, 59, 59), True, timedelta(seconds=1)),
        (local(MADRID, 2026, 5, 11, 10, 0, 0), False, timedelta(0)),
        (local(MADRID, 2026, 5, 11, 10, 0, 1), False, timedelta(0)),
    ],
)
def test_restriction_ends_exactly_at_its_end(now, active, remaining):
    makeup = plan_at(now).restrictions[0]
    assert makeup.restriction.id == "makeup"
    assert (makeup.active, makeup.remaining) == (active, remaining)


def test_before_the_treatment():
    plan = plan_at(local(MADRID, 2026, 5, 8, 12, 0))
    assert plan.day == -2
    assert plan.in_recovery is False
    assert plan.today.date == date(2026, 5, 8)
    assert (plan.today.steps, plan.today.normal, plan.today.unlocks) == ((), (), ())
    # Not yet started counts as still ahead: all off-limits, for the whole wait.
    assert ids(plan.off_limits) == ["makeup", "heat", "actives", "sun"]
    assert plan.off_limits[0].remaining == timedelta(hours=46 + 24)
    assert plan.allowed == ()
    assert len(plan.timeline) == 15


def test_far_past_the_timeline():
    plan = plan_at(local(MADRID, 2027, 1, 1, 12, 0))
    assert plan.day == 236
    assert plan.in_recovery is False
    assert plan.today.number == 236
    assert plan.today.date == date(2027, 1, 1)
    assert (plan.today.steps, plan.today.normal, plan.today.unlocks) == ((), (), ())
    assert plan.off_limits == ()
    assert ids(plan.allowed) == ["sun", "actives", "heat", "makeup"]
    assert plan.timeline[-1].number == 14


@pytest.mark.parametrize(
    ("now", "day", "in_recovery"),
    [
        (local(MADRID, 2026, 5, 9, 23, 59, 59), -1, False),
        (local(MADRID, 2026, 5, 10, 0, 0), 0, True),
        (local(MADRID, 2026, 5, 17, 23, 59, 59), 7, True),
        (local(MADRID, 2026, 5, 18, 0, 0), 8, False),
    ],
)
def test_in_recovery(now, day, in_recovery):
    plan = plan_at(now)
    assert (plan.day, plan.in_recovery) == (day, in_recovery)


def test_client_in_another_zone_than_the_clinic():
    treated = local(NEW_YORK, 2026, 5, 10, 23, 30)  # 04:30 on 11 May in London
    now = local(NEW_YORK, 2026, 5, 11, 12, 0)  # 17:00 in London
    plan = build_plan(PROTOCOL, treated, LONDON, now)
    assert recovery_day(treated, NEW_YORK, now) == 1  # what the clinic's zone would say
    assert plan.day == 0
    assert plan.treated_local == local(LONDON, 2026, 5, 11, 4, 30)
    assert plan.now_local == local(LONDON, 2026, 5, 11, 17, 0)
    assert plan.timeline[0].date == date(2026, 5, 11)
    assert plan.today.date == date(2026, 5, 11)
    actives = next(s for s in plan.restrictions if s.restriction.id == "actives")
    assert actives.ends_local == local(LONDON, 2026, 5, 18, 4, 30)
    assert actives.ends_day == 7
    assert plan.next_session.earliest == date(2026, 6, 8)


def test_warnings_emergency_first_then_protocol_order():
    assert ids(plan_at(utc(2026, 5, 11)).warnings) == ["breathing", "throat", "worse", "fever"]


# -- Timeline ---------------------------------------------------------------------------------


def test_timeline_unlocks_on_the_right_day():
    timeline = plan_at(local(MADRID, 2026, 5, 11, 9, 0)).timeline
    assert [d.number for d in timeline] == list(range(15))
    assert [d.date for d in timeline][:2] == [date(2026, 5, 10), date(2026, 5, 11)]
    assert timeline[14].date == date(2026, 5, 24)
    unlocks = {d.number: ids(d.unlocks) for d in timeline if d.unlocks}
    assert unlocks == {1: ["makeup"], 3: ["heat"], 7: ["actives"], 14: ["sun"]}
    assert timeline[3].unlocks[0].ends_local == local(MADRID, 2026, 5, 13, 10, 0)


def test_timeline_unlock_pushed_past_midnight_by_dst():
    # 23:30 CET + 24 elapsed hours = 00:30 CEST two calendar days later.
    treated = local(MADRID, 2026, 3, 28, 23, 30)
    plan = plan_at(local(MADRID, 2026, 3, 29, 9, 0), treated=treated)
    makeup = plan.restrictions[0]
    assert makeup.ends_local == local(MADRID, 2026, 3, 30, 0, 30)
    assert makeup.ends_day == 2
    assert ids(plan.timeline[1].unlocks) == []
    assert ids(plan.timeline[2].unlocks) == ["makeup"]


def test_timeline_unlocks_are_in_end_order_within_a_day():
    protocol = replace(PROTOCOL, restrictions=(
        Restriction("late", "Late", "a", "b", hours=30),
        Restriction("early", "Early", "a", "b", hours=26),
    ))
    plan = build_plan(protocol, local(MADRID, 2026, 5, 10, 2), MADRID, utc(2026, 5, 10))
    assert ids(plan.timeline[1].unlocks) == ["early", "late"]


@pytest.mark.parametrize(
    ("change", "last_day"),
    [
        ({}, 14),
        ({"restrictions": (restriction(days=20),)}, 20),
        ({"restrictions": (restriction(hours=21 * 24 + 15),)}, 22),  # ends 01:00 on day 22
        ({"steps": (Step("s", "S", "t", 0, 16, "anytime"),)}, 16),
        ({"normal": (Normal("n", "N", 2, 18),)}, 18),
        ({"timeline_days": 30}, 30),
    ],
)
def test_timeline_covers_everything_that_happens(change, last_day):
    protocol = replace(PROTOCOL, **change)
    plan = build_plan(protocol, local(MADRID, 2026, 5, 10, 10), MADRID, utc(2026, 5, 11))
    assert len(plan.timeline) == last_day + 1
    assert plan.timeline[-1].date == date(2026, 5, 10) + timedelta(days=last_day)


# -- Today's steps ------------------------------------------------------------------------------


def steps_of(plan_day) -> list[tuple[str, datetime | None]]:
    return [(v.step.id, v.not_before) for v in plan_day.steps]


def test_steps_morning_then_anytime_then_evening():
    timeline = plan_at(local(MADRID, 2026, 5, 11, 9)).timeline
    assert steps_of(timeline[0]) == [
        ("moisturise", None),
        ("first-cleanse", local(MADRID, 2026, 5, 10, 16, 0)),
    ]
    assert steps_of(timeline[1]) == [
        ("cleanse-am", None),
        ("spf", local(MADRID, 2026, 5, 11, 10, 0)),
        ("moisturise", None),
        ("cleanse-pm", None),
    ]
    assert steps_of(timeline[4]) == [
        ("cleanse-am", None), ("spf", None), ("moisturise", None), ("flakes", None),
        ("cleanse-pm", None),
    ]
    assert steps_of(timeline[8]) == [("spf", None)]
    assert steps_of(timeline[14]) == [("spf", None)]


def test_today_is_the_timeline_day():
    plan = plan_at(local(MADRID, 2026, 5, 14, 20))
    assert plan.today == plan.timeline[4]
    assert plan.day == 4
    assert ids(plan.today.normal) == ["flaking"]


def test_late_treatment_drops_a_step_that_cannot_be_done_that_day():
    # Treated 23:30: "from 6 h after" is 05:30 tomorrow, so no cleanse tonight.
    plan = plan_at(local(MADRID, 2026, 5, 11, 0, 10), treated=local(MADRID, 2026, 5, 10, 23, 30))
    assert steps_of(plan.timeline[0]) == [("moisturise", None)]
    assert steps_of(plan.timeline[1])[1] == ("spf", local(MADRID, 2026, 5, 11, 23, 30))


def test_not_before_at_exactly_midnight_is_no_constraint():
    protocol = replace(PROTOCOL, steps=(Step("s", "S", "t", 0, 2, "evening", not_before_hours=6),))
    plan = build_plan(protocol, local(MADRID, 2026, 5, 10, 18), MADRID, utc(2026, 5, 10, 17))
    assert [steps_of(d) for d in plan.timeline[:3]] == [[], [("s", None)], [("s", None)]]


def test_not_before_is_elapsed_time_across_dst():
    # 22:00 CET + 6 h = 05:00 CEST, not the 04:00 a naive wall-clock sum gives.
    protocol = replace(PROTOCOL, steps=(Step("s", "S", "t", 0, 1, "morning", not_before_hours=6),))
    plan = build_plan(protocol, local(MADRID, 2026, 3, 28, 22), MADRID, utc(2026, 3, 29))
    assert steps_of(plan.timeline[0]) == []
    assert steps_of(plan.timeline[1]) == [("s", local(MADRID, 2026, 3, 29, 5, 0))]
    assert plan.timeline[1].steps[0].not_before.utcoffset() == timedelta(hours=2)


# -- Next session ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({}, (2, None, date(2026, 6, 7), date(2026, 6, 21), 28)),
        ({"series_index": 1, "series_total": 3}, (2, 3, date(2026, 6, 7), date(2026, 6, 21), 28)),
        ({"series_index": 2, "series_total": 3}, (3, 3, date(2026, 6, 7), date(2026, 6, 21), 28)),
        ({"next_session_weeks": 5}, (2, None, date(2026, 6, 14), date(2026, 6, 21), 35)),
        ({"next_session_weeks": 8}, (2, None, date(2026, 7, 5), date(2026, 7, 5), 56)),
        ({"next_session_weeks": 2}, (2, None, date(2026, 5, 24), date(2026, 6, 21), 14)),
    ],
)
def test_next_session(kw, expected):
    nxt = plan_at(utc(2026, 5, 11), **kw).next_session
    assert (nxt.index, nxt.total, nxt.earliest, nxt.latest, nxt.earliest_day) == expected


def test_next_session_precare_start_dates():
    nxt = plan_at(utc(2026, 5, 11)).next_session
    assert [(p.id, start) for p, start in nxt.precare] == [
        ("no-tan", date(2026, 5, 24)),
        ("retinoids", date(2026, 6, 2)),
    ]
    nxt = plan_at(utc(2026, 5, 11), next_session_weeks=6).next_session
    assert [start for _, start in nxt.precare] == [date(2026, 6, 7), date(2026, 6, 16)]


@pytest.mark.parametrize(("index", "total"), [(3, 3), (4, 3), (1, 1)])
def test_no_next_session_after_the_last_of_a_series(index, total):
    assert plan_at(utc(2026, 5, 11), series_index=index, series_total=total).next_session is None


def test_next_session_counts_from_the_clients_local_date():
    # 23:30 on the 10th in New York is already the 11th in London.
    treated = local(NEW_YORK, 2026, 5, 10, 23, 30)
    in_london = build_plan(PROTOCOL, treated, LONDON, utc(2026, 5, 12))
    in_new_york = build_plan(PROTOCOL, treated, NEW_YORK, utc(2026, 5, 12))
    assert in_london.next_session.earliest == date(2026, 6, 8)
    assert in_new_york.next_session.earliest == date(2026, 6, 7)
