"""Faults: the database locked or out of reach answers 503 with a retry hint and stores
nothing half-way."""
import sqlite3
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select

from companion import clinics, create_app, treatments

ROOT = Path(__file__).resolve().parent.parent
FLASK = str(Path(sys.executable).parent / "flask")
from companion.extensions import db
from companion.models import CheckIn


def test_a_locked_embedded_database_answers_503_and_stores_nothing(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path / "i"), "TESTING": True,
                      "RATELIMIT_ENABLED": False, "SQLITE_BUSY_TIMEOUT_MS": 200})
    with app.app_context():
        clinic = clinics.create("Calm Skin Clinic", timezone="Europe/London")
        t = treatments.create(clinic, client_name="Ana",
                              treated_at=datetime.now(timezone.utc) - timedelta(days=2))
        token = t.token
    client = app.test_client()
    # Another process holds the write lock (a backup, a long migration, a stuck writer).
    holder = sqlite3.connect(Path(app.instance_path) / "companion.sqlite3", timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        answer = client.post("/api/v1/me/check-ins", headers={"Authorization": f"Bearer {token}"},
                             json={"redness": "mild", "swelling": "none", "pain": "none",
                                   "itch": "none", "signs": []})
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "5"
        assert answer.get_json() == {"error": "service_unavailable", "message":
                                     "We are busy for a moment. Please try again in a few seconds."}
        page = client.get(f"/s/{token}")
        assert page.status_code == 503 and "try again in a few seconds" in page.get_data(as_text=True)
    finally:
        holder.rollback()
        holder.close()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CheckIn)) == 0
    again = client.post("/api/v1/me/check-ins", headers={"Authorization": f"Bearer {token}"},
                        json={"redness": "mild", "swelling": "none", "pain": "none",
                              "itch": "none", "signs": []})
    assert again.status_code == 201  # the retry the client was told to make works
    with app.app_context():
        db.engine.dispose()


def test_an_unreachable_database_answers_503_not_a_stack_trace(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path / "i"), "AUTO_MIGRATE": False,
                      "RATELIMIT_ENABLED": False, "SQLALCHEMY_DATABASE_URI":
                          "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2"})
    client = app.test_client()
    api = client.get("/api/v1/me/plan", headers={"Authorization": "Bearer " + "x" * 32})
    assert api.status_code == 503 and api.headers["Retry-After"] == "5"
    assert api.get_json()["error"] == "service_unavailable"
    page = client.post("/", data={"code": "ABCD-2345"})
    assert page.status_code == 503 and "Traceback" not in page.get_data(as_text=True)
    with app.app_context():
        db.engine.dispose()


# -- The push service away for a while ------------------------------------------------------

from test_reminders import local, world  # noqa: E402,F401  (the fixture and the clock)


def test_a_push_service_outage_drains_with_backoff_once_it_recovers(world):
    """Refused connections, then 503s with Retry-After, then recovery: each reminder still
    fresh goes out exactly once, with growing waits between tries; stale ones never go."""
    tid, _, [phone] = world.session(local(23, 18))
    service = world.service

    service.go_down()  # 20:00 evening reminder due; the service refuses connections
    world.dispatch(local(23, 20, 1))
    first = world.rows(tid)["evening-0"]
    assert first.state == "pending" and first.attempts == 1
    assert first.due_at == local(23, 20, 2).astimezone(first.due_at.tzinfo)  # 1 min later
    assert world.dispatch(local(23, 20, 1, )) == 0  # not due again before its retry time
    world.dispatch(local(23, 20, 2))
    second = world.rows(tid)["evening-0"]
    assert second.attempts == 2 and second.due_at == local(23, 20, 4)  # then 2 min

    service.back_up()  # listening again, but overloaded for a while
    service.answer(phone, 503, times=1, headers={"Retry-After": "600"})
    world.dispatch(local(23, 20, 4))
    third = world.rows(tid)["evening-0"]
    assert third.state == "pending" and third.due_at == local(23, 20, 14)  # as it asked

    world.dispatch(local(23, 20, 14))  # recovered
    assert world.rows(tid)["evening-0"].state == "sent"
    assert [p["tag"] for p in service.delivered(phone)] == ["evening-0"]

    service.go_down()  # a long outage overnight: the 08:00 morning reminder goes stale
    for hour in (8, 9, 10, 11):
        world.dispatch(local(24, hour, 1))
    service.back_up()
    world.dispatch(local(24, 12, 30))
    rows = world.rows(tid)
    assert rows["morning-1"].state == "skipped"  # nothing stale is sent
    assert [p["tag"] for p in service.delivered(phone)] == ["evening-0"]
    assert world.dispatch(local(24, 18, 1)) >= 1  # and the next ones flow again
    assert rows["evening-0"].state == "sent"


# -- A dispatcher killed in the middle of a batch -----------------------------------------

def test_a_dispatcher_killed_mid_batch_loses_nothing_and_repeats_only_its_batch(
        app, database, push_service, make_clinic, tmp_path):
    import json
    import os
    import signal
    import subprocess
    import sys
    import time
    from collections import Counter

    from sqlalchemy import insert

    from companion import subscriptions
    from companion.models import Clinic, Reminder

    app.config["PUSH_ENDPOINT_ALLOWLIST"] = [push_service.origin]
    now = datetime.now(timezone.utc)
    batch, phones, each = 40, 30, 10
    with app.app_context():
        clinic = db.session.get(Clinic, make_clinic())
        rows = []
        for n in range(phones):
            t = treatments.create(clinic, client_name=f"C{n}", treated_at=now - timedelta(days=2))
            phone = push_service.subscribe()
            push_service.answer(phone, 201, hang=0.25)  # a slow push service
            subscriptions.save(t, phone.subscription(), app.config["PUSH_ENDPOINT_ALLOWLIST"],
                               now=now)
            rows += [dict(treatment_id=t.id, key=f"kill-{n}-{i}", kind="morning", day=2,
                          due_at=now - timedelta(minutes=1), stale_at=now + timedelta(hours=2),
                          title="Morning care", body="Sunscreen today.", state="pending",
                          attempts=0) for i in range(each)]
        db.session.execute(insert(Reminder), rows)
        db.session.commit()
    total = phones * each
    env = {**os.environ, "COMPANION_INSTANCE_PATH": app.instance_path,
           "COMPANION_PUSH_ENDPOINT_ALLOWLIST": json.dumps([push_service.origin]),
           "COMPANION_DISPATCH_INTERVAL_SECONDS": "1", "COMPANION_DISPATCH_BATCH": str(batch),
           "COMPANION_PUSH_CONCURRENCY": "20", "COMPANION_DISPATCH_LEASE_SECONDS": "5"}
    if "SQLALCHEMY_DATABASE_URI" in database:
        env["COMPANION_SQLALCHEMY_DATABASE_URI"] = database["SQLALCHEMY_DATABASE_URI"]
    env.pop("COMPANION_SCHEDULER", None)

    def start():
        return subprocess.Popen([FLASK, "--app", "companion", "scheduler"], env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def sent():
        with app.app_context():
            return db.session.scalar(select(func.count()).select_from(Reminder).where(
                Reminder.state == "sent", Reminder.key.like("kill-%")))

    first = start()
    deadline = time.monotonic() + 60
    while len(push_service.received()) < total // 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)  # no goodbye: pushes in flight, outcomes unwritten
    first.wait(10)
    killed_at = len(push_service.received())
    assert 0 < killed_at < total, "the kill should land in the middle of the work"

    second = start()
    try:
        deadline = time.monotonic() + 120
        while sent() < total and time.monotonic() < deadline:
            time.sleep(0.25)
    finally:
        second.terminate()
        second.wait(20)
    assert sent() == total  # none lost

    topics = Counter(p.headers["topic"] for p in push_service.received())
    assert set(topics) == {f"kill-{n}-{i}" for n in range(phones) for i in range(each)}
    repeats = sum(count - 1 for count in topics.values())
    print(f"killed after {killed_at} of {total} pushes; {repeats} sent twice")
    # Only what the dead dispatcher held could go twice: at most 1.5 batches in hand.
    assert repeats <= batch * 3 // 2, f"{repeats} repeats"
    for push in push_service.received():  # a repeat replaces the first on the phone
        if topics[push.headers["topic"]] > 1 and push.payload:
            assert push.payload["tag"] == push.headers["topic"]


# -- Restarts across a change of the clocks --------------------------------------------------

def test_restarts_across_the_end_of_summer_time_send_each_reminder_once_on_local_time(
        app, database, world):
    """Madrid, night of 24-25 Oct 2026: 03:00 CEST becomes 02:00 CET. The app restarts before,
    twice inside the repeated hour, and after; each reminder goes once, at its local time."""
    from collections import Counter
    from zoneinfo import ZoneInfo

    from companion import push, reminders
    madrid = ZoneInfo("Europe/Madrid")
    tid, _, [phone] = world.session(datetime(2026, 10, 24, 18, 0, tzinfo=madrid))
    moments = [datetime(2026, 10, 24, 20, 0, 30, tzinfo=madrid),          # evening-0
               datetime(2026, 10, 25, 0, 30, tzinfo=timezone.utc),        # 02:30 CEST
               datetime(2026, 10, 25, 1, 30, tzinfo=timezone.utc),        # 02:30 CET, again
               datetime(2026, 10, 25, 6, 59, tzinfo=timezone.utc),        # 07:59 CET
               datetime(2026, 10, 25, 7, 0, 30, tzinfo=timezone.utc),     # 08:00:30 CET
               datetime(2026, 10, 25, 7, 5, tzinfo=timezone.utc)]
    sent_at = {}
    for moment in moments:  # each dispatch in a freshly started app on the same database
        restarted = create_app({"INSTANCE_PATH": app.instance_path, "TESTING": True,
                                "PUSH_ENDPOINT_ALLOWLIST": [world.service.origin], **database})
        with restarted.app_context():
            sender = push.Sender(push.load_vapid(restarted.config["VAPID_PRIVATE_KEY_FILE"]),
                                 "mailto:ops@clinic.example", [world.service.origin], timeout=2)
            before = {p.headers["topic"] for p in world.service.received(phone)}
            reminders.dispatch(sender, owner="restart", now=moment)
            for p in world.service.received(phone):
                sent_at.setdefault(p.headers["topic"], moment)
            assert before <= set(sent_at)
            db.engine.dispose()
    topics = Counter(p.headers["topic"] for p in world.service.received(phone))
    assert set(topics.values()) == {1}  # nothing twice, restarts or not
    assert sent_at["evening-0"] == moments[0]
    assert sent_at["morning-1"] == moments[4]  # 08:00 local: not in the repeated hour, not early
    rows = world.rows(tid)
    assert rows["morning-1"].due_at.astimezone(madrid).hour == 8
    assert rows["morning-1"].due_at == datetime(2026, 10, 25, 7, 0, tzinfo=timezone.utc)
