"""Claims benchmark: planning one session and claiming 1,000 due reminders while the
reminders table grows to 100,000 planned sessions (3 million rows), on SQLite and PostgreSQL.

    .venv/bin/python bench/claims.py
    .venv/bin/python bench/claims.py --databases sqlite --sessions 20000 --checkpoints 10000 100000

One representative session is planned by the real planner (reminders.replan, as
subscriptions.save does when a phone subscribes); its rows are then copied in bulk for
100,000 sessions (sqlite3 executemany; COPY on PostgreSQL), each copy treated at another
moment of the last 120 days: rows already due are `sent`, later ones `pending`, except a
fixed pool of `--due` rows (2,000) that are pending and due. So the number of due rows stays
the same while the table grows. At each checkpoint (10k, 100k, 1M rows, then all):
  - claim: reminders.claim(owner, now, 1000), --claims times (each batch put back between
    samples, untimed), median and range; the EXPLAIN of the statement claim() really sends
    (caught on the engine), and whether it uses ix_reminders_unsent_due (the partial index
    on unsent rows);
  - plan: reminders.replan of one subscribed session, --replans times, median.
Baselines in the same run: the claim at the smallest checkpoint (flatness is measured
against it), and the claim at the largest with the partial index dropped.
Target: at the largest checkpoint the claim takes at most 2x its time at the smallest, through
the partial index. Prints the figures, appends a line to docs/benchmarks.md, ends with JSON.
"""
import argparse
import json
import random
import secrets
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]
import results  # noqa: E402

INDEX = "ix_reminders_unsent_due"
FLAT = 2.0  #: the largest checkpoint's claim may take at most this many times the smallest's
BATCH = 1000
OWNER = "bench-claims"
SPREAD = timedelta(days=120)  #: copies are treated at moments spread over this past
COLUMNS = ("id", "treatment_id", "key", "kind", "day", "due_at", "stale_at", "title", "body",
           "state", "lease_owner", "lease_until", "attempts", "sent_at", "last_error")
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class Table:
    """The reminders table as the benchmark grows it: copies of one planned session."""

    def __init__(self, template, clinic_id, now, due, seed):
        #: (key, kind, day, due after treatment, fresh for, title, body) of the real plan
        self.template = template
        self.clinic_id, self.now, self.due = clinic_id, now, due
        self.random = random.Random(seed)
        self.sessions = 0   #: copies made
        self.rows = 0       #: reminder rows made by copying
        self.due_made = 0

    def treated_at(self):
        return self.now - SPREAD * self.random.random()

    def session_rows(self, treated_at, treatment_id, reminder_id):
        """The copy's rows: sent when due, pending later; the first `due` rows of all due now."""
        out = []
        for key, kind, day, after, fresh, title, body in self.template:
            if self.due_made < self.due:
                # due from about 17 minutes to a second ago, half a second apart
                due_at = self.now - timedelta(seconds=1 + 0.5 * (self.due - self.due_made))
                state, sent_at, attempts = "pending", None, 0
                self.due_made += 1
            else:
                due_at = treated_at + after
                sent = due_at <= self.now
                state, sent_at, attempts = ("sent", due_at, 1) if sent else ("pending", None, 0)
            out.append((reminder_id + len(out), treatment_id, key, kind, day, due_at,
                        due_at + fresh, title, body, state, None, None, attempts, sent_at, None))
        return out


def short_code(n):
    digits = []
    for _ in range(8):
        n, r = divmod(n, 32)
        digits.append(CODE_ALPHABET[r])
    return "".join(reversed(digits))


def grow(table, target_rows, chunk=20_000):
    """Copy sessions until the copies hold at least `target_rows` rows; returns seconds."""
    from sqlalchemy import func, insert, select, text

    from companion.extensions import db
    from companion.models import Reminder, Treatment

    started = time.perf_counter()
    dialect = db.engine.dialect.name
    while table.rows < target_rows:
        sessions = min(chunk // len(table.template) + 1,
                       -(-(target_rows - table.rows) // len(table.template)))
        first_t = (db.session.scalar(select(func.max(Treatment.id))) or 0) + 1
        first_r = (db.session.scalar(select(func.max(Reminder.id))) or 0) + 1
        treated = [table.treated_at() for _ in range(sessions)]
        db.session.execute(insert(Treatment), [{
            "id": first_t + k, "clinic_id": table.clinic_id, "token": secrets.token_urlsafe(24),
            "short_code": short_code(10**9 + table.sessions + k),
            "client_name": f"Client {table.sessions + k:06d}",
            "treated_at": treated[k], "timezone": "Europe/London"} for k in range(sessions)])
        rows = []
        for k in range(sessions):
            rows += table.session_rows(treated[k], first_t + k, first_r + len(rows))
        if dialect == "postgresql":
            connection = db.session.connection().connection.driver_connection
            with connection.cursor() as cursor:
                with cursor.copy(f"COPY reminders ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        else:
            # datetimes as the app's column type writes them on SQLite (text, UTC)
            column = Reminder.__table__.c.due_at.type.dialect_impl(db.engine.dialect)
            stamp = column.bind_processor(db.engine.dialect)
            connection = db.session.connection().connection.driver_connection
            connection.executemany(
                f"INSERT INTO reminders ({', '.join(COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(COLUMNS))})",
                [row[:5] + (stamp(row[5]), stamp(row[6])) + row[7:13]
                 + (stamp(row[13]) if row[13] else None, None) for row in rows])
        db.session.commit()
        table.sessions += sessions
        table.rows += len(rows)
    if dialect == "postgresql":
        # what autovacuum does after a large insert; and ORM inserts continue after our ids
        db.session.execute(text("SELECT setval(pg_get_serial_sequence('reminders', 'id'), "
                                "(SELECT max(id) FROM reminders))"))
        db.session.execute(text("SELECT setval(pg_get_serial_sequence('treatments', 'id'), "
                                "(SELECT max(id) FROM treatments))"))
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("ANALYZE reminders")
            c.exec_driver_sql("ANALYZE treatments")
    return time.perf_counter() - started


class Catch:
    """The UPDATE claim() sends, caught on the engine, to EXPLAIN exactly that."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.statement = None
        event.listen(engine, "before_cursor_execute", self.seen)

    def seen(self, conn, cursor, statement, parameters, context, executemany):
        text = statement.lstrip().upper()
        if text.startswith("UPDATE REMINDERS") and "RETURNING" in text:
            self.statement = (statement, parameters)


def explain(catch):
    """The plan of the last claim statement (PostgreSQL: executed, then rolled back)."""
    from companion.extensions import db

    statement, parameters = catch.statement
    with db.engine.connect() as connection:
        if db.engine.dialect.name == "postgresql":
            rows = connection.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters).all()
            connection.rollback()
        else:
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    return [row[-1] for row in rows]


def put_back(ids):
    from sqlalchemy import update

    from companion.extensions import db
    from companion.models import Reminder

    db.session.execute(update(Reminder).where(Reminder.id.in_(ids))
                       .values(state="pending", lease_owner=None, lease_until=None, attempts=0))
    db.session.commit()


def time_claims(table, count):
    from companion import reminders

    samples = []
    for _ in range(count + 1):  # the first warms the cache and is not counted
        started = time.perf_counter()
        ids = reminders.claim(OWNER, table.now, BATCH)
        samples.append((time.perf_counter() - started) * 1e3)
        if len(ids) != BATCH:
            raise SystemExit(f"claim() returned {len(ids)} rows, {BATCH} were due")
        put_back(ids)
    return samples[1:]


def time_replans(treatment, now, count):
    from companion import reminders

    samples = []
    for _ in range(count + 1):
        started = time.perf_counter()
        reminders.replan(treatment, now)
        samples.append((time.perf_counter() - started) * 1e3)
    return samples[1:]


def summary(samples):
    return {"median_ms": round(statistics.median(samples), 2),
            "min_ms": round(min(samples), 2), "max_ms": round(max(samples), 2),
            "samples": len(samples)}


def table_facts():
    from sqlalchemy import func, select, text

    from companion.extensions import db
    from companion.models import Reminder

    facts = dict(db.session.execute(select(Reminder.state, func.count(Reminder.id))
                                    .group_by(Reminder.state)).all())
    facts["rows"] = sum(facts.values())
    if db.engine.dialect.name == "postgresql":
        size = db.session.scalar(text("SELECT pg_total_relation_size('reminders')"))
    else:
        size = (db.session.scalar(text("PRAGMA page_count"))
                * db.session.scalar(text("PRAGMA page_size")))
    db.session.commit()
    facts["database_mb"] = round(size / 2**20)
    return facts


def representative(now):
    """A clinic and one subscribed session, planned by the real planner (as a phone
    subscribing does); returns (session, its clinic id, its rows as a template)."""
    from sqlalchemy import select

    from companion import clinics, reminders, treatments
    from companion.extensions import db
    from companion.models import PushSubscription, Reminder

    clinic = clinics.create("Bench Clinic", phone="+44 20 7946 0000", timezone="Europe/London")
    treatment = treatments.create(clinic, client_name="Sam", treated_at=now - timedelta(hours=1),
                                  series_index=1, series_total=3, areas=["face"])
    db.session.add(PushSubscription(
        treatment_id=treatment.id, endpoint="https://fcm.googleapis.com/fcm/send/bench",
        p256dh="B" + "A" * 86, auth="A" * 22))
    db.session.flush()
    # planned as at the moment of treatment: every reminder of the session, none stale yet
    reminders.replan(treatment, treatment.treated_at)
    rows = db.session.scalars(select(Reminder).where(Reminder.treatment_id == treatment.id)
                              .order_by(Reminder.due_at)).all()
    template = [(r.key, r.kind, r.day, r.due_at - treatment.treated_at, r.stale_at - r.due_at,
                 r.title, r.body) for r in rows]
    reminders.replan(treatment, now)  # and as it stands now
    return treatment, clinic.id, template


def run_database(name, url, args, tmp):
    from sqlalchemy import text

    from companion import create_app
    from companion.extensions import db

    config = {"INSTANCE_PATH": str(Path(tmp) / name), "SCHEDULER": "off", "AUTO_MIGRATE": True}
    if url:
        config["SQLALCHEMY_DATABASE_URI"] = url
    app = create_app(config)
    out = {"checkpoints": []}
    with app.app_context():
        now = datetime.now(timezone.utc)
        treatment, clinic_id, template = representative(now)
        out["rows_per_session"] = len(template)
        table = Table(template, clinic_id, now, args.due, args.seed)
        catch = Catch(db.engine)
        total = args.sessions * len(template)
        points = sorted({c for c in args.checkpoints if c < total} | {total})
        for point in points:
            load_s = grow(table, point - len(template))  # the representative session counts
            claims = time_claims(table, args.claims)
            plan = explain(catch)
            replans = time_replans(treatment, now, args.replans)
            facts = table_facts()
            entry = {"rows": facts["rows"], "sessions": table.sessions + 1,
                     "states": {k: v for k, v in facts.items() if k not in ("rows", "database_mb")},
                     "database_mb": facts["database_mb"], "load_seconds": round(load_s, 1),
                     "claim": summary(claims), "replan": summary(replans),
                     "index_used": any(INDEX in line for line in plan), "explain": plan}
            out["checkpoints"].append(entry)
            print(f"  {name:<10} {entry['rows']:>9,} rows ({entry['sessions']:,} sessions, "
                  f"{facts.get('pending', 0):,} pending, {facts['database_mb']} MB, loaded in "
                  f"{load_s:.0f} s): claim {BATCH} median {entry['claim']['median_ms']:.1f} ms "
                  f"({entry['claim']['min_ms']:.1f}-{entry['claim']['max_ms']:.1f}), "
                  f"replan median {entry['replan']['median_ms']:.1f} ms, "
                  f"{'uses ' + INDEX if entry['index_used'] else 'does NOT use ' + INDEX}",
                  flush=True)
        print(f"  {name} EXPLAIN of claim() at {out['checkpoints'][-1]['rows']:,} rows:")
        for line in out["checkpoints"][-1]["explain"]:
            print(f"      {line}")
        # Baseline: the same claim without the partial index.
        db.session.execute(text(f"DROP INDEX {INDEX}"))
        db.session.commit()
        without = time_claims(table, args.no_index_claims)
        out["without_index"] = {"rows": out["checkpoints"][-1]["rows"], "claim": summary(without),
                                "explain": explain(catch)}
        print(f"  {name} without {INDEX}: claim median "
              f"{out['without_index']['claim']['median_ms']:.1f} ms; EXPLAIN:")
        for line in out["without_index"]["explain"]:
            print(f"      {line}")
        db.session.remove()
        db.engine.dispose()
    first, last = out["checkpoints"][0], out["checkpoints"][-1]
    out["growth"] = round(last["claim"]["median_ms"] / first["claim"]["median_ms"], 2)
    out["flat"] = out["growth"] <= FLAT and all(c["index_used"] for c in out["checkpoints"])
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", nargs="+", choices=["sqlite", "postgresql"],
                        default=["sqlite", "postgresql"])
    parser.add_argument("--sessions", type=int, default=100_000,
                        help="sessions in the full table (about 30 rows each)")
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[10_000, 100_000, 1_000_000],
                        help="table sizes (rows) measured on the way; the full table always is")
    parser.add_argument("--due", type=int, default=2000, help="rows due at every checkpoint")
    parser.add_argument("--claims", type=int, default=15, help="timed claims per checkpoint")
    parser.add_argument("--replans", type=int, default=15, help="timed replans per checkpoint")
    parser.add_argument("--no-index-claims", type=int, default=3,
                        help="timed claims without the partial index, at the largest size")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--postgres", default=results.POSTGRES,
                        help="PostgreSQL server URL; a throwaway database is made there")
    parser.add_argument("--no-record", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args()
    if args.due < BATCH:
        parser.error(f"--due must be at least {BATCH}: each claim takes {BATCH} due rows")
    if "postgresql" in args.databases and (why := results.postgres_answers(args.postgres)):
        raise SystemExit(f"PostgreSQL at {args.postgres} does not answer ({why}); start it or "
                         "run with --databases sqlite")

    load, code = results.load(), results.code_version()
    settings = (f"{args.sessions:,} sessions, checkpoints "
                f"{', '.join(f'{c:,}' for c in args.checkpoints)} rows + full, {args.due:,} due, "
                f"{args.claims} claims of {BATCH} per checkpoint, code {code}")
    print(f"claims, {settings} ({results.machine()}, load {load:.2f}):", flush=True)
    runs, started = {}, time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="companion-bench-") as tmp:
        for name in args.databases:
            where = (results.postgres_database(args.postgres) if name == "postgresql"
                     else nullcontext(None))
            with where as url:
                runs[name] = run_database(name, url, args, tmp)
    met = all(run["flat"] for run in runs.values())
    for name, run in runs.items():
        first, last = run["checkpoints"][0], run["checkpoints"][-1]
        print(f"  {name}: claim {first['claim']['median_ms']:.1f} ms at {first['rows']:,} rows -> "
              f"{last['claim']['median_ms']:.1f} ms at {last['rows']:,} rows (x{run['growth']}; "
              f"without the partial index {run['without_index']['claim']['median_ms']:.1f} ms); "
              f"flat (<= x{FLAT:g}, through the index): {'met' if run['flat'] else 'MISSED'}")
    summary = {"benchmark": "claims", "load": round(load, 2), "code": code,
               "sessions": args.sessions, "due": args.due, "batch": BATCH,
               "seconds": round(time.perf_counter() - started), "runs": runs,
               "baseline": "claim at the smallest checkpoint (flatness), and claim with "
                           f"{INDEX} dropped at the largest",
               "target": f"claim at the largest size <= {FLAT:g}x the smallest, through {INDEX}",
               "target_met": met}
    if not args.no_record:
        write_line(summary, settings)
    print(json.dumps(summary), flush=True)


def write_line(summary, settings):
    parts, baselines = [], []
    for name, run in summary["runs"].items():
        points = run["checkpoints"]
        index = "index" if all(c["index_used"] for c in points) else "NO index"
        parts.append(
            f"{name}: claim {BATCH} "
            + ", ".join(f"{c['claim']['median_ms']:.1f} ms @ {c['rows']:,}" for c in points)
            + f" rows ({index}, x{run['growth']}: {'flat' if run['flat'] else 'NOT flat'}); "
            + "replan " + ", ".join(f"{c['replan']['median_ms']:.1f}" for c in points) + " ms")
        baselines.append(
            f"{name}: smallest size {points[0]['claim']['median_ms']:.1f} ms; partial index "
            f"dropped {run['without_index']['claim']['median_ms']:.1f} ms "
            f"@ {run['without_index']['rows']:,}")
    result = "; ".join(parts) + (f"; target flat (<= x{FLAT:g}): "
                                 f"{'met' if summary['target_met'] else 'MISSED'}")
    results.append_row("claims", summary["load"], settings, result, "; ".join(baselines))


if __name__ == "__main__":
    main()
