"""Service: plan reminders into rows, claim due rows atomically, send them, record outcomes.

Exactly once: a dispatcher claims a batch of rows with a lease in one atomic statement and
commits the claim before sending; it writes each outcome only while the lease is still its
own (outcomes.py). Rows whose lease ran out (a dispatcher died mid-send) are claimed again;
notifications carry the reminder's key as Topic and tag, so such a rare repeat replaces the
first on the phone instead of stacking. The pushes of a batch go out many at a time
(fanout.py), and the next batch is claimed before the last one has drained.
"""
import logging
import secrets
from dataclasses import replace
from datetime import datetime, time, timedelta, timezone

from flask import current_app
from flask_babel import force_locale, get_translations, gettext
from sqlalchemy import and_, delete, func, or_, select, text, update

from . import fanout, i18n, outcomes, push, reminderplan, treatments
from .extensions import db
from .models import PushSubscription, Reminder, Treatment

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)


def lease():
    """How long a claimed row is a dispatcher's own: a dead dispatcher's rows wait this long
    (DISPATCH_LEASE_SECONDS; longer than any batch takes to send)."""
    seconds = current_app.config.get("DISPATCH_LEASE_SECONDS") if current_app else None
    return timedelta(seconds=seconds) if seconds else LEASE
#: reminders claimed at once (the scheduler passes DISPATCH_BATCH)
BATCH = 500
TEST_KEY_PREFIX = "test-"


def _hm(value):
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def preferences(treatment):
    return reminderplan.Preferences(
        morning=_hm(treatment.morning_at),
        evening=_hm(treatment.evening_at),
        quiet_start=_hm(treatment.quiet_start) if treatment.quiet_start else None,
        quiet_end=_hm(treatment.quiet_end) if treatment.quiet_end else None,
    )


def wanted(treatment):
    """Reminders are planned only for live sessions that want them and can receive them."""
    return (treatment.reminders_on and treatment.revoked_at is None
            and db.session.scalar(select(PushSubscription.id)
                                  .where(PushSubscription.treatment_id == treatment.id).limit(1)))


def replan(treatment, now, commit=True):
    """Re-plan the session's unsent reminders from its plan and preferences. Commits.

    Rows already sent, leased, skipped or failed stay as they are (their keys are not planned
    again); every pending row is replaced, so changed times, zones and protocols apply.
    """
    db.session.execute(delete(Reminder).where(Reminder.treatment_id == treatment.id,
                                              Reminder.state == "pending"))
    if wanted(treatment):
        done = set(db.session.scalars(select(Reminder.key).where(
            Reminder.treatment_id == treatment.id)))
        # Planned without a request: in the client's language (else their clinic's).
        with force_locale(i18n.language_of(treatment)):
            protocol = treatments.protocol_for(treatment)
            planned = reminderplan.plan_reminders(
                treatments.plan_for(treatment, now), preferences(treatment),
                protocol.expected_recovery_days, get_translations())
        for item in planned:
            if item.key in done or item.stale_at <= now:
                continue
            db.session.add(Reminder(
                treatment_id=treatment.id, key=item.key, kind=item.kind, day=item.day,
                due_at=item.due_at, stale_at=item.stale_at, title=item.title, body=item.body))
    if commit:
        db.session.commit()


def replan_clinic(clinic_id, now):
    """The clinic changed its protocol defaults: re-plan its sessions that have reminders."""
    ids = db.session.scalars(select(Reminder.treatment_id).join(Treatment)
                             .where(Treatment.clinic_id == clinic_id,
                                    Reminder.state == "pending").distinct())
    for treatment_id in list(ids):
        replan(db.session.get(Treatment, treatment_id), now, commit=False)
    db.session.commit()


def status(treatment_ids):
    """Per session, for the clinic: reminders on, last delivered, last failure."""
    ids = list(treatment_ids)
    out = {tid: {"on": False, "phones": 0, "last_sent_at": None, "last_failure_at": None,
                 "last_failure": None} for tid in ids}
    if not ids:
        return out
    for sub in db.session.scalars(select(PushSubscription)
                                  .where(PushSubscription.treatment_id.in_(ids))):
        entry = out[sub.treatment_id]
        entry["phones"] += 1
        if sub.last_failure_at and (entry["last_failure_at"] is None
                                    or sub.last_failure_at > entry["last_failure_at"]):
            entry["last_failure_at"], entry["last_failure"] = sub.last_failure_at, sub.last_failure
    sent = db.session.execute(select(Reminder.treatment_id, func.max(Reminder.sent_at))
                              .where(Reminder.treatment_id.in_(ids), Reminder.state == "sent")
                              .group_by(Reminder.treatment_id))
    for tid, last in sent:
        out[tid]["last_sent_at"] = last
    for treatment in db.session.scalars(select(Treatment).where(Treatment.id.in_(ids))):
        out[treatment.id]["on"] = bool(treatment.reminders_on and out[treatment.id]["phones"]
                                       and treatment.revoked_at is None)
    return out


def queue_test(treatment, now):
    """A test reminder, due now, in the client's language. Commits."""
    with force_locale(i18n.language_of(treatment)):
        title = gettext("Test reminder")
        body = gettext("Reminders work on this phone. You will get your care reminders here.")
    db.session.add(Reminder(
        treatment_id=treatment.id, key=f"{TEST_KEY_PREFIX}{secrets.token_hex(4)}", kind="test",
        day=treatments.plan_for(treatment, now).day, due_at=now,
        stale_at=now + timedelta(minutes=15), title=title, body=body))
    db.session.commit()


def claim(owner, now, limit=BATCH):
    """Lease up to `limit` due rows to `owner` in one atomic statement; returns their ids."""
    return [row.id for row in _claim(owner, now, limit, Reminder.id)]


#: what sending a claimed reminder needs; the claim returns it, so no query reads it again
_SENT_COLUMNS = (Reminder.id, Reminder.treatment_id, Reminder.key, Reminder.kind, Reminder.day,
                 Reminder.title, Reminder.body, Reminder.attempts, Reminder.stale_at)


def _claim(owner, now, limit, *columns):
    """The claim itself; returns `columns` of the rows leased.

    SQLite: one UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING in an immediate
    transaction. PostgreSQL: the same with FOR UPDATE SKIP LOCKED in the subquery, so
    concurrent dispatchers take disjoint rows without waiting for each other.
    """
    due = (select(Reminder.id)
           # Written out, so that SQLite can prove the partial index's condition (it cannot
           # from bound parameters) and scan only unsent rows; PostgreSQL uses it either way.
           .where(text("reminders.state IN ('pending', 'leased')"))
           .where(or_(and_(Reminder.state == "pending", Reminder.due_at <= now),
                      and_(Reminder.state == "leased", Reminder.lease_until < now)))
           .order_by(Reminder.due_at).limit(limit))
    sqlite = db.engine.dialect.name == "sqlite"
    if not sqlite:
        due = due.with_for_update(skip_locked=True)
    statement = (update(Reminder).where(Reminder.id.in_(due.scalar_subquery()))
                 .values(state="leased", lease_owner=owner, lease_until=now + lease(),
                         attempts=Reminder.attempts + 1)
                 .returning(*columns)
                 .execution_options(synchronize_session=False))
    db.session.commit()  # no read transaction of ours may hold the database meanwhile
    with db.engine.connect() as connection:
        if sqlite:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        rows = connection.execute(statement).all()
        connection.commit()
    return rows


def payload(reminder, treatment):
    """What the phone shows. No name, no clinic note: title, body, where to open, tag."""
    # The check-in reminder opens the check-in card itself, not just its day.
    where = "checkin" if reminder.kind == "checkin" else f"day-{reminder.day}"
    return {
        "title": reminder.title,
        "body": reminder.body,
        "url": f"{treatments.path(treatment)}#{where}",
        "tag": reminder.key,
    }


def _finish(reminder, owner, **values):
    """Record one outcome only if the lease is still ours (it may have expired and moved on).

    The dispatcher writes its outcomes in bulk under the same condition (outcomes.record).
    """
    result = db.session.execute(
        update(Reminder).where(Reminder.id == reminder.id, Reminder.lease_owner == owner,
                               Reminder.state == "leased")
        .values(lease_owner=None, lease_until=None, **values))
    db.session.commit()
    return result.rowcount == 1


def _deliveries(rows, now):
    """Claimed rows as deliveries: one query for their sessions and phones, and the payload
    encoded once per reminder."""
    if not rows:
        return []
    sessions, phones = {}, {}
    for row in db.session.execute(
            select(Treatment.id.label("treatment_id"), Treatment.token, Treatment.revoked_at,
                   Treatment.reminders_on, PushSubscription.id, PushSubscription.endpoint,
                   PushSubscription.p256dh, PushSubscription.auth, PushSubscription.retry_after)
            .select_from(Treatment)
            .outerjoin(PushSubscription, PushSubscription.treatment_id == Treatment.id)
            .where(Treatment.id.in_({r.treatment_id for r in rows}))):
        sessions[row.treatment_id] = row  # token, revoked_at, reminders_on
        found = phones.setdefault(row.treatment_id, [])
        if row.id is not None:
            found.append(row)
    db.session.commit()  # end the read: no transaction of ours stays open while sending
    out = []
    for row in rows:
        try:
            out.append(_delivery(row, sessions.get(row.treatment_id),
                                 phones.get(row.treatment_id, ()), now))
        except Exception:  # one broken row must never stop the others; its lease runs out
            log.exception("reminder %s could not be sent", row.id)
    return out


def _delivery(reminder, treatment, subscriptions, now):
    claimed = outcomes.Claimed(reminder.id, reminder.attempts, reminder.stale_at, now)
    if reminder.stale_at <= now:
        return fanout.Delivery(replace(claimed, skip="stale"), [])
    if treatment is None or treatment.revoked_at is not None or (
            not treatment.reminders_on and reminder.kind != "test"):
        return fanout.Delivery(replace(claimed, skip="reminders off"), [])
    if not subscriptions:
        return fanout.Delivery(replace(claimed, skip="no subscription"), [])
    ttl = max(60, int((reminder.stale_at - now).total_seconds()))
    data = push.encode(payload(reminder, treatment))
    urgency = "high" if reminder.kind == "test" else "normal"
    messages, targets, waiting = [], [], None
    for sub in subscriptions:
        if sub.retry_after and sub.retry_after > now:
            waiting = min(filter(None, (waiting, sub.retry_after)))
            continue
        info = {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
        messages.append(push.Message(info, data, ttl, urgency, _topic(reminder.key)))
        targets.append(sub.id)
    return fanout.Delivery(replace(claimed, phones=tuple(targets), waiting_until=waiting),
                           messages)


def _topic(key):
    # Topic: at most 32 URL-safe base64 characters.
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in key)[:32]


def dispatch(sender, owner=None, now=None, clock=None, batch=BATCH):
    """Claim due reminders and send them, up to the sender's concurrency at once, until none
    are due; returns how many were handled. Synchronous: the event loop lives in this call.

    `now` fixes the time (tests); otherwise each batch is claimed at the clock's time.
    """
    owner = owner or f"dispatcher-{secrets.token_hex(6)}"

    def feed():
        moment = now or (clock or _utcnow)()
        rows = _claim(owner, moment, batch, *_SENT_COLUMNS)
        return _deliveries(rows, moment), len(rows) == batch

    return fanout.pump(sender, feed, lambda done: outcomes.record(done, owner),
                       refill_below=max(1, batch // 2))


def _utcnow():
    return datetime.now(timezone.utc)
