"""Reminders end to end on the service side: planned rows, atomic claims, real pushes."""
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from companion import push, reminders, subscriptions
from companion.extensions import db
from companion.models import PushSubscription, Reminder, Treatment

MADRID = ZoneInfo("Europe/Madrid")


@pytest.fixture
def world(app, push_service, make_treatment):
    """A session with one subscribed phone at the fake push service, and a sender."""
    app.config["PUSH_ENDPOINT_ALLOWLIST"] = [push_service.origin]

    class World:
        service = push_service

        def session(self, treated_at, phones=1, **fields):
            fields.setdefault("timezone_name", "Europe/Madrid")
            fields.setdefault("series_total", 3)
            tid, token, _ = make_treatment(treated_at=treated_at, **fields)
            made = [push_service.subscribe() for _ in range(phones)]
            with app.app_context():
                t = db.session.get(Treatment, tid)
                for phone in made:
                    subscriptions.save(t, phone.subscription(), app.config["PUSH_ENDPOINT_ALLOWLIST"],
                                       now=treated_at)
            return tid, token, made

        def sender(self):
            with app.app_context():
                return push.Sender(push.load_vapid(app.config["VAPID_PRIVATE_KEY_FILE"]),
                                   "mailto:ops@clinic.example", [push_service.origin], timeout=1)

        def dispatch(self, now, owner="d1", sender=None):
            with app.app_context():
                return reminders.dispatch(sender or self.sender(), owner=owner, now=now)

        def rows(self, tid):
            with app.app_context():
                return {r.key: r for r in db.session.scalars(
                    select(Reminder).where(Reminder.treatment_id == tid))}
    return World()


def local(day, hour, minute=0):
    return datetime(2026, 10, day, hour, minute, tzinfo=MADRID)


def test_subscribing_plans_reminders_at_local_times_across_dst(world):
    # Treated Friday 23 Oct 2026 18:00 in Madrid; clocks go back on Sunday 25 Oct.
    tid, _, _ = world.session(local(23, 18))
    rows = world.rows(tid)
    assert rows["evening-0"].due_at == local(23, 20).astimezone(timezone.utc)
    for day in (1, 2, 3):  # 08:00 local each morning, before and after the change
        due = rows[f"morning-{day}"].due_at.astimezone(MADRID)
        assert (due.day, due.hour, due.minute) == (23 + day, 8, 0)
    assert rows["morning-1"].due_at.hour == 6 and rows["morning-3"].due_at.hour == 7  # UTC
    assert rows["unlock-makeup"].due_at == local(24, 18).astimezone(timezone.utc)
    assert {"checkin-1", "checkin-7", "series-7", "series-1"} <= set(rows)
    assert "unlock-picking" not in " ".join(rows)


def test_due_reminders_go_out_once_decrypted_without_personal_data(world):
    tid, token, [phone] = world.session(local(23, 18), client_name="Ana", note="Secret note")
    assert world.dispatch(local(23, 20, 1)) == 1
    assert world.dispatch(local(23, 20, 2)) == 0
    [payload] = world.service.delivered(phone)
    assert payload == {"title": "Tonight's aftercare",
                       "body": "Cleanse gently with lukewarm water, moisturise, and no make-up tonight.",
                       "url": f"/s/{token}#day-0", "tag": "evening-0"}
    [received] = world.service.received(phone)
    assert received.headers["topic"] == "evening-0"
    assert "Ana" not in str(payload) and "Secret" not in str(payload)
    assert world.rows(tid)["evening-0"].state == "sent"


def test_reminders_that_went_stale_while_down_are_skipped(world):
    tid, _, [phone] = world.session(local(23, 18))
    world.dispatch(local(25, 11, 30))  # the server was off for two days
    rows = world.rows(tid)
    assert rows["evening-0"].state == "skipped" and rows["morning-1"].state == "skipped"
    assert rows["morning-2"].state == "sent"  # 08:00 today, still fresh at noon
    assert [p["tag"] for p in world.service.delivered(phone)] == ["morning-2"]


def test_gone_subscriptions_are_deleted(app, world):
    tid, _, [phone] = world.session(local(23, 18))
    world.service.answer(phone, 410)
    world.dispatch(local(23, 20, 1))
    with app.app_context():
        assert db.session.scalars(select(PushSubscription)).all() == []
    assert world.rows(tid)["evening-0"].state == "skipped"


def test_rate_limits_are_honoured(app, world):
    tid, _, [phone] = world.session(local(23, 18))
    world.service.answer(phone, 429, times=1, headers={"Retry-After": "120"})
    world.dispatch(local(23, 20, 1))
    row = world.rows(tid)["evening-0"]
    assert row.state == "pending" and row.due_at == local(23, 20, 3).astimezone(timezone.utc)
    assert world.dispatch(local(23, 20, 2)) == 0, "nothing before Retry-After"
    world.dispatch(local(23, 20, 3))
    assert world.rows(tid)["evening-0"].state == "sent"


def test_server_errors_retry_with_growing_backoff(world):
    tid, _, [phone] = world.session(local(23, 18))
    world.service.answer(phone, 503, times=2)
    world.dispatch(local(23, 20))
    first = world.rows(tid)["evening-0"].due_at
    world.dispatch(first)
    second = world.rows(tid)["evening-0"].due_at
    assert first == local(23, 20, 1).astimezone(timezone.utc)
    assert second - first == timedelta(minutes=2)
    world.dispatch(second)
    assert world.rows(tid)["evening-0"].state == "sent"
    assert len(world.service.delivered(phone)) == 1


def test_configuration_errors_keep_the_subscription(app, world):
    tid, _, [phone] = world.session(local(23, 18))
    world.service.answer(phone, 403)
    world.dispatch(local(23, 20, 1))
    assert world.rows(tid)["evening-0"].state == "failed"
    with app.app_context():
        assert len(db.session.scalars(select(PushSubscription)).all()) == 1


def test_one_hanging_phone_never_stalls_the_others(world):
    slow_tid, _, [slow] = world.session(local(23, 18))
    fast_tid, _, [fast] = world.session(local(23, 18))
    world.service.answer(slow, 201, hang=3)
    world.dispatch(local(23, 20, 1))
    assert len(world.service.delivered(fast)) == 1
    assert world.rows(fast_tid)["evening-0"].state == "sent"
    assert world.rows(slow_tid)["evening-0"].state == "pending"  # retried later


def test_two_phones_of_one_client_both_get_it(world):
    _, _, phones = world.session(local(23, 18), phones=2)
    world.dispatch(local(23, 20, 1))
    assert [len(world.service.delivered(p)) for p in phones] == [1, 1]


def many_sessions_due(app, world, moment, sessions):
    """`sessions` subscribed sessions with ten due test reminders each, on top of their plans;
    returns (every row due at `moment`, how many of them are still fresh)."""
    with app.app_context():
        for _ in range(sessions):
            tid = world.session(local(23, 18))[0]
            for n in range(10):
                db.session.add(Reminder(treatment_id=tid, key=f"test-{n}", kind="test", day=1,
                                        due_at=moment - timedelta(minutes=n), title="T", body="B",
                                        stale_at=moment + timedelta(hours=1)))
        db.session.commit()
        due = db.session.scalars(select(Reminder).where(Reminder.due_at <= moment)).all()
        return due, sum(1 for r in due if r.stale_at > moment)


def race(run, dispatchers=3):
    """run("d0"), run("d1"), ... at once, each in a thread of its own; back when all are done."""
    threads = [threading.Thread(target=run, args=(f"d{i}",)) for i in range(dispatchers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_racing_dispatchers_send_each_reminder_exactly_once(app, world):
    moment = local(24, 12)
    due, fresh = many_sessions_due(app, world, moment, 30)  # 300+ rows to fight over
    sender = world.sender()
    counts = {}

    def run(name):
        counts[name] = world.dispatch(moment, owner=name, sender=sender)
    race(run)
    tags = Counter((p.subscriber, p.payload["tag"]) for p in world.service.received())
    assert fresh >= 300 and len(tags) == fresh
    assert set(tags.values()) == {1}, "no reminder twice"
    assert sum(counts.values()) == len(due)


def test_a_dead_dispatchers_lease_expires_and_another_sends(app, world):
    tid, _, [phone] = world.session(local(23, 18))
    with app.app_context():
        claimed = reminders.claim("dead", local(23, 20, 1))
    assert len(claimed) == 1
    assert world.dispatch(local(23, 20, 2), owner="alive") == 0, "leased rows are not taken"
    later = local(23, 20, 1) + reminders.LEASE + timedelta(seconds=1)
    assert world.dispatch(later, owner="alive") == 1
    assert world.rows(tid)["evening-0"].state == "sent"
    with app.app_context():  # the dead one waking up cannot overwrite the outcome
        row = db.session.get(Reminder, claimed[0])
        assert reminders._finish(row, "dead", state="failed") is False


def test_changing_preferences_replans_unsent_reminders(app, world):
    tid, _, _ = world.session(local(23, 18))
    world.dispatch(local(23, 20, 1))
    with app.app_context():
        t = db.session.get(Treatment, tid)
        subscriptions.set_preferences(t, {"morning": "07:45", "timezone": "America/New_York"},
                                      now=local(23, 21))
    rows = world.rows(tid)
    due = rows["morning-2"].due_at.astimezone(ZoneInfo("America/New_York"))
    assert (due.hour, due.minute) == (7, 45)
    with app.app_context():
        subscriptions.set_preferences(db.session.get(Treatment, tid), {"morning": "07:15"},
                                      now=local(23, 21))
    due = world.rows(tid)["morning-2"].due_at.astimezone(ZoneInfo("America/New_York"))
    assert (due.hour, due.minute) == (7, 30), "moved out of the quiet hours (until 07:30)"
    assert rows["evening-0"].state == "sent", "what was sent stays sent"


def test_turning_reminders_off_and_revoking_stop_them(app, world):
    tid, _, [phone] = world.session(local(23, 18))
    with app.app_context():
        subscriptions.set_preferences(db.session.get(Treatment, tid), {"reminders": False},
                                      now=local(23, 19))
    assert world.rows(tid) == {}
    world.dispatch(local(24, 9))
    assert world.service.received() == []


def test_quiet_hours_move_reminders_out_of_the_night(app, world):
    tid, _, _ = world.session(local(23, 18))
    assert world.rows(tid)["unlock-actives+exfoliation"].due_at.astimezone(MADRID).hour == 18
    with app.app_context():
        subscriptions.set_preferences(db.session.get(Treatment, tid),
                                      {"quiet_start": "17:00", "quiet_end": "09:00"}, now=local(23, 19))
    rows = world.rows(tid)
    moved = rows["unlock-actives+exfoliation"].due_at.astimezone(MADRID)
    assert (moved.day, moved.hour) == (31, 9), "from 18:00 on the 30th to 09:00 next morning"
    assert "evening-0" not in rows, "an evening reminder inside quiet hours is dropped"


def test_test_notification_through_the_api(app, client, world):
    tid, token, [phone] = world.session(datetime.now(timezone.utc) - timedelta(hours=2))
    auth = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/me/test-notification", headers=auth).status_code == 202
    world.dispatch(datetime.now(timezone.utc) + timedelta(seconds=1))
    tags = [p["tag"] for p in world.service.delivered(phone)]
    assert any(tag.startswith("test-") for tag in tags)


def test_a_spanish_clients_pushes_arrive_in_spanish(app, client, world):
    """Pushes are planned without a request: in the language stored for the session."""
    tid, token, [phone] = world.session(local(23, 18))
    assert world.rows(tid)["evening-0"].title == "Tonight's aftercare"
    client.get(f"/s/{token}?lang=es")  # the client switches: unsent reminders follow
    with app.app_context():
        reminders.replan(db.session.get(Treatment, tid), local(23, 18, 30))
    world.dispatch(local(23, 20, 1))
    [payload] = world.service.delivered(phone)
    assert payload["title"] == "Tus cuidados de esta noche" and "maquillaje" in payload["body"]
    assert client.post("/api/v1/me/test-notification",
                       headers={"Authorization": f"Bearer {token}"}).status_code == 202
    with app.app_context():
        test_row = db.session.scalar(select(Reminder).where(Reminder.kind == "test"))
    assert test_row.title == "Recordatorio de prueba"


def test_a_batch_goes_out_many_pushes_at_a_time(app, world):
    made = [world.session(local(23, 18)) for _ in range(12)]
    with app.app_context():
        sender = push.Sender(push.load_vapid(app.config["VAPID_PRIVATE_KEY_FILE"]),
                             "mailto:ops@clinic.example", [world.service.origin], timeout=15,
                             concurrency=6)
    world.service.hold_until_together(6)  # no answer until six pushes are in at once
    assert world.dispatch(local(23, 20, 1), sender=sender) == 12
    assert world.service.peak_in_flight == 6, "as many at once as allowed, and no more"
    for tid, _, [phone] in made:
        assert [p["tag"] for p in world.service.delivered(phone)] == ["evening-0"]
        assert world.rows(tid)["evening-0"].state == "sent"


def test_one_batch_of_many_phones_each_gets_its_own_outcome(app, world):
    moment = local(23, 20, 1)
    made = {kind: [world.session(local(23, 18)) for _ in range(3)]
            for kind in ("fine", "gone", "busy", "hanging", "refusing")}
    for tid, _, [phone] in made["gone"]:
        world.service.answer(phone, 410)
    for tid, _, [phone] in made["busy"]:
        world.service.answer(phone, 429, headers={"Retry-After": "120"})
    for tid, _, [phone] in made["hanging"]:
        world.service.answer(phone, 201, hang=3)  # the sender gives up after 1 s
    for tid, _, [phone] in made["refusing"]:
        world.service.answer(phone, 413)
    assert world.dispatch(moment) == 15
    with app.app_context():
        subs = {s.endpoint: s for s in db.session.scalars(select(PushSubscription))}

    def outcome(kind):
        return {(row.state, row.due_at, row.last_error) for row in
                (world.rows(tid)["evening-0"] for tid, _, _ in made[kind])}

    utc = moment.astimezone(timezone.utc)
    assert outcome("fine") == {("sent", local(23, 20).astimezone(timezone.utc), None)}
    assert outcome("gone") == {("skipped", local(23, 20).astimezone(timezone.utc),
                                "no live subscription")}
    assert outcome("busy") == {("pending", utc + timedelta(seconds=120), "HTTP 429")}
    assert outcome("hanging") == {("pending", utc + timedelta(minutes=1), "timeout")}
    assert outcome("refusing") == {("failed", local(23, 20).astimezone(timezone.utc), "HTTP 413")}
    for tid, _, [phone] in made["fine"]:
        assert len(world.service.delivered(phone)) == 1
        assert subs[phone.endpoint].last_success_at == utc
    for tid, _, [phone] in made["gone"]:
        assert phone.endpoint not in subs
    for tid, _, [phone] in made["busy"]:
        assert subs[phone.endpoint].retry_after == utc + timedelta(seconds=120)
    for kind in ("hanging", "refusing"):
        for tid, _, [phone] in made[kind]:
            assert subs[phone.endpoint].last_failure_at == utc
            assert subs[phone.endpoint].retry_after is None


def test_racing_dispatchers_with_small_batches_send_each_reminder_once(app, world):
    moment = local(24, 12)
    due, fresh = many_sessions_due(app, world, moment, 20)
    with app.app_context():
        sender = push.Sender(push.load_vapid(app.config["VAPID_PRIVATE_KEY_FILE"]),
                             "mailto:ops@clinic.example", [world.service.origin], timeout=5,
                             concurrency=4)
    counts = {}

    def run(name):
        with app.app_context():  # batches of 7: the three claim in turns, many times over
            counts[name] = reminders.dispatch(sender, owner=name, now=moment, batch=7)
    race(run)
    tags = Counter((p.subscriber, p.payload["tag"]) for p in world.service.received())
    assert fresh >= 200 and len(tags) == fresh
    assert set(tags.values()) == {1}, "no reminder twice"
    assert sum(counts.values()) == len(due)
    with app.app_context():
        states = Counter(db.session.scalars(select(Reminder.state).where(Reminder.due_at <= moment)))
    assert states == {"sent": fresh, "skipped": len(due) - fresh}


def test_dispatch_works_when_the_calling_thread_runs_an_event_loop(world):
    """A caller inside an event loop (an async framework; Playwright's sync API in this very
    test suite) still gets a synchronous dispatch: the pushes go from a thread of their own."""
    import asyncio
    tid, _, [phone] = world.session(local(23, 18))

    async def caller():
        return world.dispatch(local(23, 20, 1))
    handled = []  # in a thread of its own: this one may run Playwright's loop already
    thread = threading.Thread(target=lambda: handled.append(asyncio.run(caller())))
    thread.start()
    thread.join(30)
    assert handled == [1]
    assert [p["tag"] for p in world.service.delivered(phone)] == ["evening-0"]
