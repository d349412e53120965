"""The pure reminder schedule: local times, DST, quiet hours, late treatments."""
from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

import pytest

from companion import careplan, protocols
from companion.reminderplan import Preferences, after_quiet_hours, instant, plan_reminders

NY = ZoneInfo("America/New_York")


def schedule(treated_local, prefs=Preferences(), **series):
    protocol = protocols.load()
    treated = treated_local.astimezone(timezone.utc)
    plan = careplan.build_plan(protocol, treated, treated_local.tzinfo.key, treated, **series)
    return {r.key: r for r in plan_reminders(plan, prefs, protocol.expected_recovery_days)}


def test_mornings_stay_at_eight_across_the_autumn_change_in_new_york():
    rows = schedule(datetime(2026, 10, 30, 17, 0, tzinfo=NY))  # clocks go back 1 Nov
    for day in (1, 2, 3, 4):
        due = rows[f"morning-{day}"].due_at.astimezone(NY)
        assert (due.hour, due.minute) == (8, 0)
    assert rows["morning-1"].due_at.hour == 12 and rows["morning-2"].due_at.hour == 13  # UTC


def test_spring_gap_wall_time_lands_just_after_the_gap():
    # 02:30 does not exist in New York on 8 March 2026.
    assert instant(datetime(2026, 3, 8).date(), time(2, 30), NY).astimezone(NY).hour == 3


def test_late_treatment_gets_no_evening_reminder_and_first_morning_skips_sunscreen():
    rows = schedule(datetime(2026, 5, 4, 21, 0, tzinfo=NY))
    assert "evening-0" not in rows  # 22:00 would be inside the quiet hours
    assert "sunscreen" not in rows["morning-1"].body.lower()  # "from 24 h" is not yet due
    assert "sunscreen" in rows["morning-2"].body.lower()


def test_evening_reminder_never_within_an_hour_of_treatment():
    rows = schedule(datetime(2026, 5, 4, 19, 40, tzinfo=NY))
    assert rows["evening-0"].due_at.astimezone(NY).time() == time(20, 40)


@pytest.mark.parametrize("wall, expected", [
    (time(23, 0), (5, time(7, 30))),   # before midnight -> next morning
    (time(3, 0), (5, time(7, 30))),    # after midnight -> same morning
    (time(12, 0), (4, time(12, 0))),   # outside quiet hours: unchanged
])
def test_quiet_hours_that_wrap_midnight(wall, expected):
    moment = datetime.combine(datetime(2026, 5, 4 if wall.hour >= 12 else 5).date(), wall, NY)
    moved = after_quiet_hours(moment.astimezone(timezone.utc), Preferences(), NY).astimezone(NY)
    assert (moved.day, moved.time()) == expected


def test_last_session_of_a_series_gets_no_next_session_reminders():
    rows = schedule(datetime(2026, 5, 4, 12, 0, tzinfo=NY), series_index=3, series_total=3)
    assert not [k for k in rows if k.startswith("series-")]


def test_things_allowed_at_the_same_moment_come_in_one_reminder():
    rows = schedule(datetime(2026, 5, 4, 12, 0, tzinfo=NY))
    assert rows["unlock-exercise+heat"].title == "Allowed again from now"
    assert "Sauna" in rows["unlock-exercise+heat"].body
    assert all("picking" not in key for key in rows)


def test_pre_care_items_of_one_morning_share_one_reminder():
    rows = schedule(datetime(2026, 5, 4, 12, 0, tzinfo=NY), series_total=3)
    week_before = rows["series-7"]
    assert week_before.title == "Your next session is in a week"
    assert "cold sores" in week_before.body and len(week_before.body) <= 240
