"""Several dispatcher processes (`flask --app companion scheduler`) on one database, thousands
of due reminders: each is delivered exactly once and the processes share the work. On SQLite
and on PostgreSQL (FOR UPDATE SKIP LOCKED)."""
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from companion import subscriptions, treatments
from companion.extensions import db
from companion.models import Clinic, Reminder

ROOT = Path(__file__).resolve().parent.parent
FLASK = str(Path(sys.executable).parent / "flask")
SESSIONS, PER_SESSION, DISPATCHERS = 150, 20, 3


def test_dispatcher_processes_share_thousands_of_reminders_each_sent_once(
        app, database, push_service, make_clinic, tmp_path):
    app.config["PUSH_ENDPOINT_ALLOWLIST"] = [push_service.origin]
    now = datetime.now(timezone.utc)
    clinic_id = make_clinic()
    with app.app_context():
        clinic = db.session.get(Clinic, clinic_id)
        rows = []
        for n in range(SESSIONS):
            t = treatments.create(clinic, client_name=f"C{n}", treated_at=now - timedelta(days=2))
            subscriptions.save(t, push_service.subscribe().subscription(),
                               app.config["PUSH_ENDPOINT_ALLOWLIST"], now=now)
            rows += [dict(treatment_id=t.id, key=f"bulk-{n}-{i}", kind="morning", day=2,
                          due_at=now - timedelta(minutes=1), stale_at=now + timedelta(hours=2),
                          title="Morning care", body="Sunscreen today.", state="pending",
                          attempts=0) for i in range(PER_SESSION)]
        db.session.execute(insert(Reminder), rows)
        db.session.commit()
        due = db.session.scalar(select(func.count()).select_from(Reminder)
                                .where(Reminder.state == "pending", Reminder.due_at <= now))
    assert due >= SESSIONS * PER_SESSION

    env = {**os.environ,
           "COMPANION_INSTANCE_PATH": app.instance_path,  # the same keys and, on SQLite, file
           "COMPANION_PUSH_ENDPOINT_ALLOWLIST": json.dumps([push_service.origin]),
           "COMPANION_DISPATCH_INTERVAL_SECONDS": "1",
           "COMPANION_DISPATCH_BATCH": "40",  # small batches, so that all of them get some
           "COMPANION_PUSH_CONCURRENCY": "20",
           "COMPANION_LOG_FORMAT": "json"}
    if "SQLALCHEMY_DATABASE_URI" in database:
        env["COMPANION_SQLALCHEMY_DATABASE_URI"] = database["SQLALCHEMY_DATABASE_URI"]
    env.pop("COMPANION_SCHEDULER", None)
    logs = [open(tmp_path / f"dispatcher-{n}.log", "w+") for n in range(DISPATCHERS)]
    processes = [subprocess.Popen([FLASK, "--app", "companion", "scheduler"], env=env, cwd=ROOT,
                                  stdout=log, stderr=subprocess.STDOUT) for log in logs]
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with app.app_context():
                left = db.session.scalar(select(func.count()).select_from(Reminder).where(
                    Reminder.state.in_(["pending", "leased"]), Reminder.due_at <= now))
            if not left:
                break
            assert all(p.poll() is None for p in processes), "a dispatcher died"
            time.sleep(0.5)
        assert not left, f"{left} reminders still due after 3 minutes"
        # A run logs what it handled when it ends, a moment after its last outcome is stored.
        while time.monotonic() < deadline and sum(handled_by(logs)) < due:
            time.sleep(0.5)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)

    with app.app_context():
        states = Counter(db.session.scalars(select(Reminder.state).where(Reminder.due_at <= now)))
    assert states == {"sent": due}
    topics = Counter(p.headers["topic"] for p in push_service.received() if p.status == 201)
    assert len(push_service.delivered()) == due  # decrypted, VAPID verified
    assert set(topics.values()) == {1} and len(topics) == due  # each exactly once

    handled = handled_by(logs)
    print("handled per dispatcher:", handled, "of", due)
    assert sum(handled) == due
    assert sum(1 for n in handled if n) >= 2, f"the work was not shared: {handled}"
    for log in logs:
        log.close()


def handled_by(logs):
    """How many reminders each dispatcher says it handled (its JSON log lines)."""
    counts = []
    for log in logs:
        log.flush()
        log.seek(0)
        records = [json.loads(line) for line in log if line.startswith("{") and line.endswith("}\n")]
        counts.append(sum(int(r["message"].split(" handled ")[1].split()[0])
                          for r in records if " handled " in r["message"]))
    return counts
