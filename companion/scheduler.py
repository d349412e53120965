"""The only importer of apscheduler: periodic jobs as data, started in one process on purpose.

The embedded default runs them inside `flask --app companion run` (once, not again in the
debug reloader's watcher); `COMPANION_SCHEDULER=off` keeps them out of web workers, and
`flask --app companion scheduler` runs them as a process of their own.
"""
import atexit
import gc
import logging
import secrets
from datetime import datetime, timezone

import click
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import current_app
from flask.cli import with_appcontext
from werkzeug.serving import is_running_from_reloader

from . import erasure, health, push, reminders
from .extensions import db

log = logging.getLogger(__name__)


def dispatch_reminders(app):
    """Send every due reminder; say this dispatcher is alive (/healthz) before and after."""
    owner = app.extensions["companion.dispatcher_id"]
    with app.app_context():
        try:
            health.beat(owner)
            handled = reminders.dispatch(sender(app), owner=owner,
                                         batch=app.config["DISPATCH_BATCH"])
            health.beat(owner)
            if handled:
                log.info("%s handled %d reminders", owner, handled)
            return handled
        finally:
            db.session.remove()


#: (function, seconds between runs, config key that can change it)
JOBS = [
    (dispatch_reminders, 5, "DISPATCH_INTERVAL_SECONDS"),
    # Sessions past their aftercare and series window by COMPANION_RETENTION_DAYS go.
    (erasure.purge_job, 3600, "PURGE_INTERVAL_SECONDS"),
]


def sender(app):
    """One push sender per process: VAPID tokens cached per push service, N pushes at once."""
    cached = app.extensions.get("companion.sender")
    if cached is None:
        cached = push.Sender(
            push.load_vapid(app.config["VAPID_PRIVATE_KEY_FILE"]),
            app.config["VAPID_SUBJECT"],
            app.config["PUSH_ENDPOINT_ALLOWLIST"],
            timeout=app.config["PUSH_TIMEOUT_SECONDS"],
            concurrency=app.config["PUSH_CONCURRENCY"],
        )
        app.extensions["companion.sender"] = cached
    return cached


def build(app, scheduler_class):
    """The scheduler with its JOBS for this process, not started yet."""
    app.extensions["companion.dispatcher_id"] = f"dispatcher-{secrets.token_hex(6)}"
    scheduler = scheduler_class(
        timezone=timezone.utc,
        # A run missed while busy is simply the next run: never pile up, never skip for long.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
    )
    for function, seconds, key in JOBS:
        scheduler.add_job(function, "interval", args=[app], id=function.__name__,
                          seconds=app.config.get(key, seconds),
                          next_run_time=datetime.now(timezone.utc))
    return scheduler


def init_app(app):
    """Start the in-process scheduler when this process is `flask run` and it is wanted."""
    app.cli.add_command(scheduler_command)
    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.info_name != "run" or not enabled(app):
        return
    reload = ctx.params.get("reload")
    if reload is None:
        reload = app.debug
    if reload and not is_running_from_reloader():
        return  # the reloader's watcher; its child process runs the scheduler
    start(app)


def enabled(app):
    return str(app.config.get("SCHEDULER", "on")).lower() not in ("off", "false", "0", "no")


def start(app):
    scheduler = build(app, BackgroundScheduler)
    scheduler.start()
    app.extensions["companion.scheduler"] = scheduler
    atexit.register(stop, scheduler)
    log.info("reminder dispatcher started in this process")
    return scheduler


def stop(scheduler):
    if scheduler.running:
        scheduler.shutdown(wait=False)


def nudge(app):
    """Run the dispatcher now instead of at its next tick (a test reminder should not wait)."""
    scheduler = app.extensions.get("companion.scheduler")
    if scheduler is not None:
        scheduler.modify_job("dispatch_reminders", next_run_time=datetime.now(timezone.utc))


@click.command("scheduler")
@with_appcontext
def scheduler_command():
    """Run the reminder dispatcher in the foreground (production: one or more of these)."""
    app = current_app._get_current_object()
    click.echo(f"companion dispatcher: sending due reminders every "
               f"{app.config['DISPATCH_INTERVAL_SECONDS']} s. Ctrl+C stops it.")
    scheduler = build(app, BlockingScheduler)
    # The app and its modules live as long as this process. Frozen, the cyclic GC's full
    # collections skip them; during a large fan-out they would rescan them again and again
    # (about 15% of the dispatcher's CPU time, bench/README.md).
    gc.freeze()
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
