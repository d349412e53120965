"""/healthz for the reverse proxy and monitors: the database answers, a dispatcher is alive.

Dispatchers (the in-process scheduler of `flask run`, or `flask --app companion scheduler`
processes) write a heartbeat row on every run; the newest must be recent. Nothing personal
and nothing about the machine is shown: this answers anyone who asks.
"""
import logging
from datetime import datetime, timedelta, timezone

from flask import Blueprint, current_app
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .models import SchedulerHeartbeat

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


def beat(dispatcher_id, now=None):
    """This dispatcher is alive (called on each of its runs). Commits."""
    now = now or datetime.now(timezone.utc)
    row = db.session.get(SchedulerHeartbeat, dispatcher_id)
    if row is None:
        db.session.add(SchedulerHeartbeat(dispatcher_id=dispatcher_id, started_at=now, beat_at=now))
    else:
        row.beat_at = now
    # Heartbeats of dispatchers gone for a day are of no use to anyone.
    db.session.execute(SchedulerHeartbeat.__table__.delete().where(
        SchedulerHeartbeat.beat_at < now - timedelta(days=1)))
    db.session.commit()


def stale_after(app):
    """A dispatcher runs every DISPATCH_INTERVAL_SECONDS; a few missed runs mean trouble."""
    return timedelta(seconds=app.config.get("HEARTBEAT_STALE_SECONDS")
                     or max(120, 6 * app.config["DISPATCH_INTERVAL_SECONDS"]))


def check(now=None):
    """(healthy, report) of the database and the newest dispatcher heartbeat."""
    now = now or datetime.now(timezone.utc)
    try:
        db.session.execute(text("SELECT 1"))
        newest = db.session.scalar(select(func.max(SchedulerHeartbeat.beat_at)))
    except SQLAlchemyError as error:
        log.warning("health: database unreachable: %s", type(error).__name__)
        db.session.rollback()
        return False, {"status": "unavailable", "database": "unreachable", "scheduler": "unknown"}
    report = {"status": "ok", "database": "ok", "scheduler": "ok"}
    if newest is None:
        report["scheduler"] = "no heartbeat yet"
    else:
        age = (now - newest).total_seconds()
        report["scheduler_heartbeat_age_seconds"] = round(max(age, 0))
        if age > stale_after(current_app).total_seconds():
            report["scheduler"] = "stale"
    healthy = report["scheduler"] == "ok"
    if not healthy:
        report["status"] = "unavailable"
    return healthy, report


@bp.get("/healthz")
def healthz():
    """200 when the database answers and a dispatcher ran recently; 503 and what is wrong."""
    healthy, report = check()
    return report, 200 if healthy else 503, {"Cache-Control": "no-store"}
