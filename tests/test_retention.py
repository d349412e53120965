"""Retention: which sessions are past their window plus COMPANION_RETENTION_DAYS (pure rule),
and the purge that deletes them (service, scheduled job, `flask purge`)."""
import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from companion import erasure, retention, treatments
from companion.extensions import db
from companion.models import CheckIn, Clinic, DeletedSession, Treatment

SECOND = timedelta(seconds=1)


# -- The rule --------------------------------------------------------------------------------------


@pytest.mark.parametrize("last_day, next_latest, zone, days, expected", [
    # The window ends at the local midnight after its last day; then `days` calendar days.
    (date(2026, 1, 10), None, "UTC", 365, datetime(2027, 1, 11, tzinfo=UTC)),
    (date(2026, 1, 10), None, "UTC", 1, datetime(2026, 1, 12, tzinfo=UTC)),
    # A next session expected later than the plan's last day extends the window.
    (date(2026, 1, 10), date(2026, 2, 21), "UTC", 30, datetime(2026, 3, 24, tzinfo=UTC)),
    # ... an earlier one does not shorten it.
    (date(2026, 3, 1), date(2026, 2, 21), "UTC", 30, datetime(2026, 4, 1, tzinfo=UTC)),
    # Midnight in the client's zone: Madrid is UTC+1 in winter, UTC+2 in summer.
    (date(2026, 1, 10), None, "Europe/Madrid", 10, datetime(2026, 1, 20, 23, tzinfo=UTC)),
    (date(2026, 7, 10), None, "Europe/Madrid", 10, datetime(2026, 7, 20, 22, tzinfo=UTC)),
    # Across the spring change (29 March 2026 in Madrid): still local midnight.
    (date(2026, 3, 20), None, "Europe/Madrid", 10, datetime(2026, 3, 30, 22, tzinfo=UTC)),
    # A zone whose clocks jump at midnight: the wall time after the gap, never earlier.
    (date(2026, 9, 4), None, "America/Santiago", 1, datetime(2026, 9, 6, 4, tzinfo=UTC)),
])
def test_kept_until_the_local_midnight_after_the_window_plus_the_retention(
        last_day, next_latest, zone, days, expected):
    assert retention.kept_until(last_day, next_latest, zone, days) == expected


@pytest.mark.parametrize("days", [0, -1])
def test_retention_of_less_than_a_day_is_refused(days):
    with pytest.raises(ValueError, match="retention_days must be 1 or more"):
        retention.kept_until(date(2026, 1, 1), None, "UTC", days)


NOW = datetime(2027, 6, 1, 12, tzinfo=UTC)


def window(session_id, kept_until, previous_id=None):
    return retention.Window(session_id, previous_id, kept_until)


@pytest.mark.parametrize("kept_until, purged", [
    (NOW - timedelta(days=400), True),
    (NOW - SECOND, True),
    (NOW, True),                      # from this instant on
    (NOW + SECOND, False),
    (NOW + timedelta(days=1), False),
])
def test_a_session_goes_from_its_kept_until_on(kept_until, purged):
    assert retention.purgeable([window(1, kept_until)], NOW) == ([1] if purged else [])


@pytest.mark.parametrize("first, second, third, expected", [
    # A series goes as one, once every session of it may.
    (NOW - SECOND, NOW - SECOND, NOW - SECOND, [1, 2, 3]),
    (NOW - SECOND, NOW - SECOND, NOW + SECOND, []),
    # A session in the middle with the latest window (its next session was expected later
    # than the last one's window ends) keeps the newest too.
    (NOW - SECOND, NOW + SECOND, NOW - SECOND, []),
    (NOW + SECOND, NOW - SECOND, NOW - SECOND, []),
])
def test_a_series_goes_as_one(first, second, third, expected):
    windows = [window(1, first), window(2, second, previous_id=1), window(3, third, previous_id=2)]
    assert sorted(retention.purgeable(windows, NOW)) == expected
    assert sorted(retention.purgeable(windows[::-1], NOW)) == expected  # in any order


def test_every_branch_of_a_series_counts_and_other_series_go_on_their_own():
    windows = [window(1, NOW - SECOND), window(2, NOW - SECOND, previous_id=1),
               window(3, NOW + SECOND, previous_id=1), window(4, NOW - SECOND),
               window(5, NOW - SECOND, previous_id=99)]  # its earlier session is gone
    assert sorted(retention.purgeable(windows, NOW)) == [4, 5]


def test_a_long_series_is_walked_without_recursion_limits():
    windows = [window(1, NOW - SECOND)] + [window(n, NOW - SECOND, previous_id=n - 1)
                                           for n in range(2, 5001)]
    assert len(retention.purgeable(windows, NOW)) == 5000
    windows[-1] = window(5000, NOW + SECOND, previous_id=4999)
    assert retention.purgeable(windows, NOW) == []


# -- The purge ---------------------------------------------------------------------------------------


def session(app, clinic_id, treated_at, **fields):
    with app.app_context():
        t = treatments.create(db.session.get(Clinic, clinic_id), client_name="Ana",
                              treated_at=treated_at, timezone_name="Europe/London", **fields)
        return t.id


def purge_moment(app, session_id, days=retention.DEFAULT_DAYS):
    """When the rule says this session's own data may go (computed from its plan)."""
    with app.app_context():
        t = db.session.get(Treatment, session_id)
        plan = treatments.plan_for(t, t.treated_at)
        latest = plan.next_session.latest if plan.next_session else None
        return retention.kept_until(plan.timeline[-1].date, latest, plan.timezone, days)


def live_ids(app):
    with app.app_context():
        return set(db.session.scalars(select(Treatment.id)))


TREATED = datetime(2025, 3, 10, 18, 30, tzinfo=UTC)


@pytest.mark.parametrize("moment, purged", [("just before", False), ("at", True),
                                            ("a year later", True)])
@pytest.mark.parametrize("series", [{"series_total": 1}, {"series_total": 3},
                                    {"series_total": 3, "next_session_weeks": 20}])
def test_purge_deletes_only_what_is_past_its_window(app, make_clinic, moment, purged, series):
    clinic_id = make_clinic()
    old = session(app, clinic_id, TREATED, **series)
    recent = session(app, clinic_id, datetime.now(UTC) - timedelta(days=3))
    until = purge_moment(app, old)
    with app.app_context():
        plan = treatments.plan_for(db.session.get(Treatment, old), TREATED)
    window_end = (until - timedelta(days=retention.DEFAULT_DAYS)).astimezone(ZoneInfo(plan.timezone))
    assert window_end.date() > plan.timeline[-1].date, "kept through the whole plan"
    if plan.next_session:
        assert window_end.date() > plan.next_session.latest, "and the next session's window"
    now = {"just before": until - SECOND, "at": until,
           "a year later": until + timedelta(days=365)}[moment]

    with app.app_context():
        done = erasure.purge_expired(now=now)
    assert done == ([old] if purged else [])
    assert live_ids(app) == ({recent} if purged else {old, recent})
    with app.app_context():
        stones = {d.id: d.deleted_by for d in db.session.scalars(select(DeletedSession))}
    assert stones == ({old: "retention"} if purged else {})


def test_retention_days_move_the_edge(app, make_clinic):
    old = session(app, make_clinic(), TREATED, series_total=1)
    until = purge_moment(app, old, days=30)
    with app.app_context():
        assert erasure.purge_expired(now=until - SECOND, retention_days=30) == []
        assert erasure.purge_expired(now=until, retention_days=30) == [old]


def test_a_continued_series_is_kept_until_its_newest_session_is_past(app, make_clinic):
    clinic_id = make_clinic()
    first = session(app, clinic_id, TREATED, series_total=2)
    second = session(app, clinic_id, TREATED + timedelta(weeks=30), series_total=2, series_index=2,
                     previous_id=first)
    first_alone, second_until = purge_moment(app, first), purge_moment(app, second)
    assert first_alone < second_until
    with app.app_context():
        assert erasure.purge_expired(now=first_alone + SECOND) == []
        assert erasure.purge_expired(now=second_until - SECOND) == []
        assert sorted(erasure.purge_expired(now=second_until)) == [first, second]
    assert live_ids(app) == set()


def test_the_purge_removes_everything_about_the_session(app, client, make_clinic):
    clinic_id = make_clinic()
    old = session(app, clinic_id, TREATED, series_total=1)
    with app.app_context():
        t = db.session.get(Treatment, old)
        db.session.add(CheckIn(treatment_id=old, answered_at=TREATED + timedelta(days=1), day=1,
                               in_recovery=True, redness="mild", swelling="none", pain="none",
                               itch="none", signs=[], note="A note", outcome="expected",
                               reasons=[], message="ok", protocol_version=1))
        db.session.commit()
        token = t.token
        erasure.purge_expired(now=purge_moment(app, old))
        assert db.session.scalar(select(func.count()).select_from(CheckIn)) == 0
    assert client.get(f"/s/{token}").status_code == 404


def test_dry_run_lists_and_deletes_nothing(app, runner, make_clinic):
    old = session(app, make_clinic(), datetime.now(UTC) - timedelta(days=800), series_total=1)
    result = runner.invoke(args=["purge", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "1 session(s) are more than 365 days past their window" in result.output
    assert result.output.splitlines()[-1] == str(old)
    assert live_ids(app) == {old}

    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert "Deleted 1 session(s) more than 365 days past their window." in result.output
    assert live_ids(app) == set()
    assert "Deleted 0 session(s)" in runner.invoke(args=["purge"]).output


@pytest.mark.parametrize("value", [0, -5, "soon", 1.5, True])
def test_a_wrong_retention_setting_is_refused_clearly(app, runner, value):
    app.config["RETENTION_DAYS"] = value
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 1
    assert "COMPANION_RETENTION_DAYS must be a whole number of days" in result.output


def test_the_scheduled_job_purges_and_logs_no_personal_data(app, make_clinic, caplog):
    clinic_id = make_clinic()
    old = session(app, clinic_id, datetime.now(UTC) - timedelta(days=800), series_total=1,
                  note="Private words")
    session(app, clinic_id, datetime.now(UTC) - timedelta(days=2))
    app.config["RETENTION_DAYS"] = 400
    with caplog.at_level(logging.INFO, logger="companion"):
        assert erasure.purge_job(app) == 1
    assert old not in live_ids(app)
    assert "deleted 1 session(s) past 400 days" in caplog.text
    assert "Ana" not in caplog.text and "Private words" not in caplog.text


def test_a_failing_job_run_is_logged_and_the_next_one_works(app, make_clinic, caplog):
    app.config["RETENTION_DAYS"] = "nonsense"
    with caplog.at_level(logging.ERROR, logger="companion"):
        assert erasure.purge_job(app) == 0
    assert "retention purge failed" in caplog.text
    app.config["RETENTION_DAYS"] = 400
    assert erasure.purge_job(app) == 0


def test_the_purge_runs_hourly_in_every_scheduler(app):
    from apscheduler.schedulers.background import BackgroundScheduler

    from companion import erasure, scheduler
    built = scheduler.build(app, BackgroundScheduler)
    job = built.get_job("purge_job")
    assert job.func is erasure.purge_job and job.trigger.interval.total_seconds() == 3600


def test_two_schedulers_purging_at_once_delete_each_session_once(app, make_clinic):
    import threading
    clinic_id = make_clinic()
    old = [session(app, clinic_id, TREATED, series_total=1) for _ in range(20)]
    now = purge_moment(app, old[0]) + timedelta(days=1)
    done, errors = [], []

    def purge():
        try:
            with app.app_context():
                done.append(erasure.purge_expired(now=now))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=purge) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(done[0] + done[1]) == sorted(old), "each deleted once, by one of them"
    assert live_ids(app) == set()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DeletedSession)) == 20
