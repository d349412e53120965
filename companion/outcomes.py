"""Outcomes of sending claimed reminders: decided per reminder (pure), written in bulk.

A flush of outcomes is a few statements and one commit however many reminders it holds;
each reminder's row is written only while its lease is still ours.
"""
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, update

from .extensions import db
from .models import PushSubscription, Reminder
from .push import Outcome

log = logging.getLogger(__name__)

#: retries after 1, 2, 4, ... minutes, never past the reminder's stale time
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)


@dataclass(frozen=True)
class Claimed:
    """What deciding a claimed reminder's outcome needs, kept apart from any ORM row."""
    id: int
    attempts: int
    stale_at: datetime
    now: datetime
    #: why it is not sent at all (stale, reminders off, no phone), else None
    skip: str | None = None
    #: subscription ids, one per message
    phones: tuple = ()
    #: the earliest Retry-After of phones left out this time
    waiting_until: datetime | None = None


def settle(claimed, results):
    """The outcome of one reminder from its push results (pure).

    Returns the reminder's new values and, per phone tried, (subscription id, "sent", None),
    (id, "gone", None) or (id, "failed", the subscription's new values).
    """
    if claimed.skip:
        return {"state": "skipped", "last_error": claimed.skip}, []
    now = claimed.now
    sent, retry_at, errors, phones = False, claimed.waiting_until, [], []
    for sub_id, result in zip(claimed.phones, results):
        if result.outcome is Outcome.SENT:
            sent = True
            phones.append((sub_id, "sent", None))
        elif result.outcome is Outcome.GONE:
            phones.append((sub_id, "gone", None))
        else:
            errors.append(result.reason)
            failure = {"last_failure_at": now, "last_failure": result.reason[:200],
                       "retry_after": None}
            if result.outcome is Outcome.REJECTED:
                # Our configuration, not the phone's: keep the subscription, say so loudly.
                log.error("push refused for reminder %s: %s", claimed.id, result.reason)
            else:
                wait = timedelta(seconds=result.retry_after) if result.retry_after else None
                if result.outcome is Outcome.RATE_LIMITED and wait:
                    failure["retry_after"] = now + wait
                delay = wait or min(BACKOFF_FIRST * 2 ** (claimed.attempts - 1), BACKOFF_MAX)
                retry_at = min(filter(None, (retry_at, now + delay)))
            phones.append((sub_id, "failed", failure))

    if sent:
        return {"state": "sent", "sent_at": now, "last_error": None}, phones
    if retry_at and retry_at < claimed.stale_at:
        return {"state": "pending", "due_at": retry_at,
                "last_error": "; ".join(errors)[:200] or "waiting"}, phones
    if retry_at:
        return {"state": "skipped", "last_error": "stale before a retry"}, phones
    reason = "; ".join(errors)[:200] or "no live subscription"
    return {"state": "failed" if errors else "skipped", "last_error": reason}, phones


_subs = PushSubscription.__table__
_FAILURE = (update(_subs).where(_subs.c.id == bindparam("b_id"))
            .values(last_failure_at=bindparam("b_at"), last_failure=bindparam("b_reason"),
                    retry_after=func.coalesce(bindparam("b_rest", type_=_subs.c.retry_after.type),
                                              _subs.c.retry_after)))


def record(deliveries, owner):
    """Write a flush of outcomes: a few statements and one commit, however many there are.

    Reminders with the same outcome (most often: sent, at the same moment) are written by one
    statement, and only while their lease is still ours: it may have run out and moved on.
    """
    alike, gone, failures, successes = {}, [], [], {}
    for delivery in deliveries:
        values, phones = settle(delivery.ref, delivery.results)
        alike.setdefault(tuple(sorted(values.items())), []).append(delivery.ref.id)
        for sub_id, change, failure in phones:
            if change == "sent":
                successes.setdefault(delivery.ref.now, []).append(sub_id)
            elif change == "gone":
                gone.append(sub_id)
            else:
                failures.append({"b_id": sub_id, "b_at": failure["last_failure_at"],
                                 "b_reason": failure["last_failure"],
                                 "b_rest": failure["retry_after"]})
    try:
        if gone:
            db.session.execute(delete(_subs).where(_subs.c.id.in_(gone)))
        for moment, ids in successes.items():
            db.session.execute(update(_subs).where(_subs.c.id.in_(ids))
                               .values(last_success_at=moment))
        if failures:
            db.session.execute(_FAILURE, failures)
        for values, ids in alike.items():
            db.session.execute(
                update(Reminder).where(Reminder.id.in_(ids), Reminder.lease_owner == owner,
                                       Reminder.state == "leased")
                .values(lease_owner=None, lease_until=None, **dict(values))
                .execution_options(synchronize_session=False))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
