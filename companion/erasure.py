"""Service: delete client sessions and every row about them, leaving only a tombstone.

Three ways in: the client ("forget me": every session of the series their link reaches),
the clinic (one session, from the portal or the API), and the retention purge (sessions
long past their aftercare and series window; retention.py decides which). Each deletes in
one transaction: the session rows, their reminders, push subscriptions and check-ins, and
adds a models.DeletedSession per session, which says only that it existed, whose it was
and who deleted it when (docs/data-lifecycle.md).
"""
import logging
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, or_, select, text, update

from . import retention, treatments
from .extensions import db
from .models import CheckIn, Clinic, DeletedSession, PushSubscription, Reminder, Treatment

log = logging.getLogger(__name__)

BY_CLIENT, BY_CLINIC, BY_RETENTION = "client", "clinic", "retention"
#: every table with rows about a session, by its treatment_id (tests/test_erasure.py checks
#: that no table referring to treatments is missing here)
DEPENDENT = (Reminder, PushSubscription, CheckIn)
#: sessions deleted per transaction by the purge
PURGE_BATCH = 500


def utcnow():
    return datetime.now(timezone.utc)


def forget_client(token, now=None):
    """The client deletes everything about them: the session of `token` and the earlier
    sessions of its series (the same person, on the same link). Commits; returns how many
    sessions went. LinkNotFound when the token opens nothing (also when deleted before).

    A withdrawn link may still forget: deleting one's data does not depend on the clinic.
    """
    treatment = treatments.by_token(token, revoked_ok=True)
    ids = [treatment.id] + [t.id for t in treatments.history(treatment)]
    erased = _erase(ids, BY_CLIENT, now or utcnow())
    if not erased:  # a second request, a moment behind the first
        db.session.rollback()
        raise treatments.LinkNotFound()
    db.session.commit()
    log.info("a client deleted %d session(s)", len(erased))
    return len(erased)


def erase_for_clinic(clinic_id, session_id, now=None):
    """The clinic deletes one of its sessions (not the earlier ones of the series: each is a
    session of its own). Commits. LinkNotFound, or SessionDeleted when it was deleted before."""
    treatment = treatments.get_for_clinic(clinic_id, session_id)
    if not _erase([treatment.id], BY_CLINIC, now or utcnow()):
        db.session.rollback()
        treatments.get_for_clinic(clinic_id, session_id)  # deleted meanwhile: raises that
        raise treatments.LinkNotFound()
    db.session.commit()
    log.info("clinic %s deleted session %s", clinic_id, session_id)


def _erase(ids, by, now):
    """Delete the sessions `ids` and every row about them, and tombstone each; returns the
    ids this transaction deleted (another may have been first). Does not commit."""
    # PostgreSQL: lock the sessions first, so that no check-in or phone can be added to one
    # between deleting its rows and deleting it; a concurrent eraser then waits, and finds
    # nothing left. SQLite has one writer at a time anyway.
    ids = list(db.session.scalars(select(Treatment.id).where(Treatment.id.in_(ids))
                                  .with_for_update()))
    if not ids:
        return []
    if db.engine.dialect.name == "sqlite":
        # What is deleted is overwritten with zeros, not left readable in the file's free space.
        db.session.execute(text("PRAGMA secure_delete=ON"))
    for table in DEPENDENT:
        db.session.execute(delete(table).where(table.treatment_id.in_(ids)))
    # A later session continuing one of these goes on, without that history.
    db.session.execute(update(Treatment).where(Treatment.previous_id.in_(ids))
                       .values(previous_id=None))
    # Only what this statement deleted is this transaction's to tombstone.
    gone = db.session.execute(delete(Treatment).where(Treatment.id.in_(ids))
                              .returning(Treatment.id, Treatment.clinic_id, Treatment.created_at)
                              ).all()
    db.session.add_all(DeletedSession(id=row.id, clinic_id=row.clinic_id, created_at=row.created_at,
                                      deleted_at=now, deleted_by=by) for row in gone)
    db.session.flush()
    return [row.id for row in gone]


def client_deletions():
    """Every deletion a client made, as plain values (backups.restore carries them over)."""
    return [{"id": d.id, "clinic_id": d.clinic_id, "created_at": d.created_at,
             "deleted_at": d.deleted_at} for d in db.session.scalars(
                 select(DeletedSession).where(DeletedSession.deleted_by == BY_CLIENT))]


def reapply_client_deletions(deletions):
    """Client deletions recorded before a restore apply again: a backup taken earlier must not
    bring back a client who asked to be forgotten (a clinic's deletion it may undo on purpose,
    and retention's runs again by itself). A session is only taken for the deleted one when
    its clinic and registration time match too. Commits; returns how many were deleted again."""
    again = 0
    for deletion in deletions:
        if db.session.get(DeletedSession, deletion["id"]) is not None:
            continue
        found = db.session.get(Treatment, deletion["id"])
        if found is None:
            if db.session.get(Clinic, deletion["clinic_id"]) is not None:  # registered then
                db.session.add(DeletedSession(**deletion, deleted_by=BY_CLIENT))
        elif (found.clinic_id, found.created_at) == (deletion["clinic_id"], deletion["created_at"]):
            again += len(_erase([found.id], BY_CLIENT, deletion["deleted_at"]))
        db.session.flush()
    db.session.commit()
    return again


def deleted_for_clinic(clinic_id, since):
    """The clinic's sessions deleted since `since`, newest deletion first."""
    return list(db.session.scalars(
        select(DeletedSession)
        .where(DeletedSession.clinic_id == clinic_id, DeletedSession.deleted_at >= since)
        .order_by(DeletedSession.deleted_at.desc(), DeletedSession.id.desc())))


# -- Retention ------------------------------------------------------------------------------


def expired(now, retention_days):
    """Ids of the sessions whose data is past retention at `now` (retention.py's rule)."""
    # Nothing treated after this can be due: a window ends after its treatment.
    cutoff = now - timedelta(days=retention_days)
    candidates = list(db.session.scalars(select(Treatment).where(Treatment.treated_at < cutoff)))
    if not candidates:
        return []
    # A series goes as one: every session of a candidate's series decides, candidate or not.
    seen = {t.id for t in candidates}
    frontier = candidates
    while frontier:
        ids = [t.id for t in frontier]
        parents = [t.previous_id for t in frontier if t.previous_id not in seen | {None}]
        found = []
        for start in range(0, max(len(ids), len(parents)), PURGE_BATCH):
            found += db.session.scalars(select(Treatment).where(or_(
                Treatment.previous_id.in_(ids[start:start + PURGE_BATCH]),
                Treatment.id.in_(parents[start:start + PURGE_BATCH]))))
        frontier = [t for t in {t.id: t for t in found}.values() if t.id not in seen]
        seen.update(t.id for t in frontier)
        candidates += frontier
    return retention.purgeable([_window(t, now, retention_days) for t in candidates], now)


def _window(treatment, now, retention_days):
    plan = treatments.plan_for(treatment, now)
    return retention.Window(
        id=treatment.id, previous_id=treatment.previous_id,
        kept_until=retention.kept_until(
            last_day=plan.timeline[-1].date,
            next_session_latest=plan.next_session.latest if plan.next_session else None,
            zone=plan.timezone, retention_days=retention_days))


def purge_expired(now=None, retention_days=retention.DEFAULT_DAYS, dry_run=False):
    """Delete every session past retention (deleted_by "retention"), a batch per transaction.
    Returns the ids deleted, or with `dry_run` those that would be."""
    now = now or utcnow()
    ids = sorted(expired(now, retention_days))
    db.session.commit()  # end the read: erasing happens in transactions of its own
    if dry_run:
        return ids
    done = []
    for start in range(0, len(ids), PURGE_BATCH):
        done += _erase(ids[start:start + PURGE_BATCH], BY_RETENTION, now)
        db.session.commit()
    if done:
        log.info("retention: deleted %d session(s) past %d days after their window",
                 len(done), retention_days)
    return done


def purge_job(app):
    """The scheduled purge (scheduler.JOBS): sessions past COMPANION_RETENTION_DAYS go."""
    with app.app_context():
        try:
            return len(purge_expired(retention_days=retention_days(app.config)))
        except Exception:
            # A failed run is the next run's work; it must never stop the scheduler.
            db.session.rollback()
            log.exception("retention purge failed; the next run tries again")
            return 0
        finally:
            db.session.remove()


def retention_days(config):
    days = config.get("RETENTION_DAYS", retention.DEFAULT_DAYS)
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"COMPANION_RETENTION_DAYS must be a whole number of days (1 or more), "
                         f"not {days!r}")
    return days
