"""Fan-out benchmark: the dispatcher draining N due reminders at once, against a push service
fake with injected latency, and a plain pywebpush webpush() loop against the same fake.

    python bench/fanout.py --reminders 10000 --latency-ms 100

For each latency: a throwaway instance (temporary directory, SQLite) with N sessions, one
phone each and one reminder due now; the fake in a process of its own (bench/pushfake.py);
the baseline loop on a sample, then the real dispatcher job (scheduler.dispatch_reminders)
until nothing is due, each in a fresh process so its CPU time and peak RSS are its own.
Exactly once: the fake saw each subscriber's reminder Topic once, and every row is `sent`.
Prints the figures, appends a line to docs/benchmarks.md, and ends with a JSON line.
"""
import argparse
import json
import os
import platform
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]
import keys  # noqa: E402
from companion.config import DEFAULTS  # noqa: E402

SUBJECT = "mailto:bench@clinic.example"
TOPIC = "morning-1"  #: every session's reminder has this key, so this Topic
RESULTS = ROOT / "docs" / "benchmarks.md"


def config(instance, origin, concurrency=None, batch=None):
    settings = {"INSTANCE_PATH": str(instance), "SCHEDULER": "off", "VAPID_SUBJECT": SUBJECT,
                "PUSH_ENDPOINT_ALLOWLIST": [origin]}
    if concurrency:
        settings["PUSH_CONCURRENCY"] = concurrency
    if batch:
        settings["DISPATCH_BATCH"] = batch
    return settings


def populate(instance, origin, seed, n):
    """N sessions, one subscribed phone each, one morning reminder each, due a minute ago."""
    from sqlalchemy import func, insert, select

    from companion import clinics, create_app
    from companion.extensions import db
    from companion.models import PushSubscription, Reminder, Treatment
    from companion.push import b64url

    app = create_app(config(instance, origin))
    now = datetime.now(timezone.utc)
    with app.app_context():
        clinic = clinics.create("Bench Clinic", phone="+44 20 7946 0000", timezone="UTC")
        chunk = 2000
        for start in range(0, n, chunk):
            ids = range(start + 1, min(n, start + chunk) + 1)
            db.session.execute(insert(Treatment), [{
                "id": i, "clinic_id": clinic.id, "token": f"bench{i:08d}{secrets.token_hex(8)}",
                "short_code": f"B{i:08d}", "client_name": keys.client_name(i),
                "treated_at": now - timedelta(days=1), "timezone": "UTC"} for i in ids])
            subs = []
            for i in ids:
                point, auth = keys.public(seed, i)
                subs.append({"treatment_id": i, "endpoint": f"{origin}/push/{i}",
                             "p256dh": b64url(point), "auth": b64url(auth)})
            db.session.execute(insert(PushSubscription), subs)
            db.session.execute(insert(Reminder), [{
                "treatment_id": i, "key": TOPIC, "kind": "morning", "day": 1,
                "due_at": now - timedelta(minutes=1), "stale_at": now + timedelta(hours=3),
                "title": "Day 1: this morning's care",
                "body": "Cleanse gently, moisturise, mineral sunscreen SPF 30+ before going out."}
                for i in ids])
            db.session.commit()
        assert db.session.scalar(select(func.count(Reminder.id))) == n
        db.engine.dispose()


def states(instance, origin):
    from sqlalchemy import func, select

    from companion import create_app
    from companion.extensions import db
    from companion.models import Reminder

    app = create_app(config(instance, origin))
    with app.app_context():
        found = dict(db.session.execute(select(Reminder.state, func.count(Reminder.id))
                                        .group_by(Reminder.state)).all())
        db.engine.dispose()
    return found


def run_dispatcher(args):
    """Child process: the scheduler's own job, as `flask scheduler` runs it, until drained.

    It says "ready" once built and starts on "go", so that several start together and the
    time measured is the dispatching alone."""
    import gc

    from apscheduler.schedulers.blocking import BlockingScheduler

    from companion import create_app, scheduler

    app = create_app(config(args.instance, args.origin, args.concurrency, args.batch))
    with app.app_context():  # what `flask scheduler` does before its first run
        scheduler.build(app, BlockingScheduler)
        gc.freeze()
    database = _time_database_calls()
    rss_before = _status_mb("VmRSS")
    peak_reset = _reset_peak_rss()
    print("ready", flush=True)
    sys.stdin.readline()
    started, cpu = time.time(), time.process_time()
    handled = 0
    while n := scheduler.dispatch_reminders(app):
        handled += n
    print(json.dumps({"handled": handled, "started": started, "ended": time.time(),
                      "cpu_seconds": time.process_time() - cpu, "rss_before_mb": rss_before,
                      "database_cpu_seconds": database[0],
                      # the peak while dispatching where Linux can restart the count, else
                      # the process's (start-up included)
                      "peak_rss_mb": _status_mb("VmHWM") if peak_reset else _peak_rss_mb(),
                      "process_peak_rss_mb": _peak_rss_mb()}))


def run_baseline(args):
    """Child process: what a plain loop does, webpush() per message, to the same fake."""
    from py_vapid import Vapid02
    from pywebpush import webpush

    from companion.push import b64url

    with open(Path(args.instance) / "vapid_private.pem", "rb") as f:
        vapid = Vapid02.from_pem(f.read())
    phones = []
    for i in range(1, args.count + 1):
        point, auth = keys.public(args.seed, i)
        phones.append({"endpoint": f"{args.origin}/push/{i}",
                       "keys": {"p256dh": b64url(point), "auth": b64url(auth)}})
    data = json.dumps({"title": "Day 1: this morning's care", "body": "Mineral sunscreen.",
                       "url": "/s/x#day-1", "tag": "baseline"}, separators=(",", ":"))
    wall, cpu = time.perf_counter(), time.process_time()
    for phone in phones:
        webpush(phone, data, vapid_private_key=vapid, vapid_claims={"sub": SUBJECT}, ttl=3600,
                timeout=10, headers={"Content-Type": "application/octet-stream",
                                     "Topic": "baseline", "Urgency": "normal"})
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(json.dumps({"messages": len(phones), "seconds": wall, "cpu_seconds": cpu}))


def _time_database_calls():
    """Count the CPU time spent inside SQLAlchemy's execute and commit calls (the outermost
    of nested ones), so the sender's own share can be told apart. Bench-only instrumentation."""
    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session

    spent, depth = [0.0], [0]

    def timed(method):
        def wrapper(*args, **kwargs):
            depth[0] += 1
            start = time.process_time()
            try:
                return method(*args, **kwargs)
            finally:
                depth[0] -= 1
                if not depth[0]:
                    spent[0] += time.process_time() - start
        return wrapper

    for cls, names in ((Session, ("execute", "commit")),
                       (Connection, ("execute", "exec_driver_sql", "commit"))):
        for name in names:
            setattr(cls, name, timed(getattr(cls, name)))
    return spent


def _status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def _reset_peak_rss():
    """Restart the kernel's peak-RSS count (VmHWM), so start-up's peak is not the dispatcher's."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def _argv(role, **options):
    argv = [sys.executable, __file__, "--role", role]
    for name, value in options.items():
        if value is not None:
            argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


def child(role, **options):
    out = subprocess.run(_argv(role, **options), check=True, capture_output=True, text=True,
                         cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def dispatchers(count, **options):
    """`count` dispatcher processes started together; their figures combined."""
    procs = [subprocess.Popen(_argv("dispatch", **options), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
             for _ in range(count)]
    for proc in procs:
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit("a dispatcher process failed to start")
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    runs = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode:
            raise SystemExit("a dispatcher process failed")
        runs.append(json.loads(out.strip().splitlines()[-1]))
    return {"handled": sum(r["handled"] for r in runs),
            "seconds": max(r["ended"] for r in runs) - min(r["started"] for r in runs),
            "cpu_seconds": sum(r["cpu_seconds"] for r in runs),
            "database_cpu_seconds": sum(r["database_cpu_seconds"] for r in runs),
            "rss_before_mb": max(r["rss_before_mb"] for r in runs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "process_peak_rss_mb": max(r["process_peak_rss_mb"] for r in runs),
            "handled_each": [r["handled"] for r in runs]}


def bench(n, latency_ms, baseline_count, concurrency, batch, processes):
    seed = secrets.token_hex(8)
    fake = subprocess.Popen(
        [sys.executable, str(HERE / "pushfake.py"), "--latency-ms", str(latency_ms),
         "--seed", seed], stdout=subprocess.PIPE, text=True)
    try:
        port = int(fake.stdout.readline().split()[1])
        origin = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryDirectory(prefix="companion-bench-") as tmp:
            instance = Path(tmp) / "instance"
            populate(instance, origin, seed, n)
            baseline = child("baseline", instance=instance, origin=origin, seed=seed,
                             count=baseline_count)
            dispatched = dispatchers(processes, instance=instance, origin=origin,
                                     concurrency=concurrency, batch=batch)
            found = states(instance, origin)
        seen = requests.get(f"{origin}/stats", timeout=10).json()
    finally:
        fake.terminate()
        fake.wait(10)
    topic = seen["topics"].get(TOPIC, {})
    once = (topic.get("messages") == n and topic.get("subscribers") == n
            and topic.get("duplicates") == 0 and found == {"sent": n}
            and seen["problems"] == 0 and dispatched["handled"] == n)
    return {
        "reminders": n, "latency_ms": latency_ms,
        "messages_per_s": round(n / dispatched["seconds"]),
        "baseline_messages_per_s": round(baseline["messages"] / baseline["seconds"], 1),
        "cpu_us_per_message": round(dispatched["cpu_seconds"] / n * 1e6),
        "sender_cpu_us_per_message": round(
            (dispatched["cpu_seconds"] - dispatched["database_cpu_seconds"]) / n * 1e6),
        "database_cpu_us_per_message": round(dispatched["database_cpu_seconds"] / n * 1e6),
        "peak_rss_mb": dispatched["peak_rss_mb"],
        "sent_exactly_once": once,
        "seconds": round(dispatched["seconds"], 2),
        "baseline_messages": baseline["messages"],
        "baseline_cpu_us_per_message": round(baseline["cpu_seconds"] / baseline["messages"] * 1e6),
        "rss_before_dispatch_mb": dispatched["rss_before_mb"],
        "process_peak_rss_mb": dispatched["process_peak_rss_mb"],
        "concurrency": concurrency or DEFAULTS["PUSH_CONCURRENCY"],
        "batch": batch or DEFAULTS["DISPATCH_BATCH"],
        "dispatchers": processes, "handled_each": dispatched["handled_each"],
        "fake": {"received": seen["received"], "decrypted": seen["decrypted"],
                 "vapid_tokens": seen["vapid_tokens"], "peak_in_flight": seen["peak_in_flight"],
                 "problems": seen["problems"], "problem_samples": seen["problem_samples"]},
        "states": found,
        "code": code_version(),
    }


def code_version():
    """The commit measured; `+changes` when companion/ differs from it (work in progress)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    return commit + ("+changes" if git("status", "--porcelain", "--", "companion").strip() else "")


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), "")
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{platform.machine()}, {cores} cores{f' ({model})' if model else ''}, "
            f"Python {platform.python_version()}")


def write_line(result, load):
    """One table row per run in docs/benchmarks.md, under a header written the first time."""
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Benchmarks\n\n"
            "Appended by the scripts in `bench/` (see bench/README.md), one line per run; the\n"
            "baseline is measured in the same run (fan-out: against the same push service "
            "fake).\nLoad is the 1-minute load average when the run started (other work on "
            "the machine).\n\n"
            "| Date (UTC) | Benchmark | Machine | Load | Settings | Result | Baseline | "
            "CPU µs/msg | Peak RSS | Exactly once |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n")
    settings = (f"{result['reminders']} reminders, {result['latency_ms']:g} ms latency, "
                f"{result['dispatchers']} dispatcher process(es), "
                f"concurrency {result['concurrency']}, batch {result['batch']}, "
                f"code {result['code']}")
    row = (f"| {datetime.now(timezone.utc):%Y-%m-%d %H:%M} | fan-out | {machine()} | {load:.2f} "
           f"| {settings} | {result['messages_per_s']} msg/s ({result['seconds']} s) "
           f"| {result['baseline_messages_per_s']} msg/s webpush() loop, "
           f"{result['baseline_messages']} msgs | {result['cpu_us_per_message']}: "
           f"{result['sender_cpu_us_per_message']} sending + "
           f"{result['database_cpu_us_per_message']} database "
           f"(baseline {result['baseline_cpu_us_per_message']}) | {result['peak_rss_mb']} MB "
           f"| {'yes' if result['sent_exactly_once'] else 'NO'} |\n")
    with RESULTS.open("a") as f:
        f.write(row)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reminders", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0, 100],
                        help="one run per latency; the JSON of the last one ends the output")
    parser.add_argument("--baseline-messages", type=int,
                        help="webpush() calls in the baseline (default: 1000 at 0 ms, else 200)")
    parser.add_argument("--concurrency", type=int, help="PUSH_CONCURRENCY (default: the app's)")
    parser.add_argument("--batch", type=int, help="DISPATCH_BATCH (default: the app's)")
    parser.add_argument("--dispatchers", type=int, default=1,
                        help="dispatcher processes sharing the work (default: 1)")
    parser.add_argument("--no-record", action="store_true", help="do not write docs/benchmarks.md")
    # The benchmark's own child processes:
    parser.add_argument("--role", choices=["dispatch", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--instance", help=argparse.SUPPRESS)
    parser.add_argument("--origin", help=argparse.SUPPRESS)
    parser.add_argument("--seed", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "dispatch":
        return run_dispatcher(args)
    if args.role == "baseline":
        return run_baseline(args)

    for latency in args.latency_ms:
        load = os.getloadavg()[0]
        count = args.baseline_messages or (1000 if latency == 0 else 200)
        result = bench(args.reminders, latency, min(count, args.reminders), args.concurrency,
                       args.batch, args.dispatchers)
        print(f"fan-out, {args.reminders} reminders, {latency:g} ms latency, "
              f"{args.dispatchers} dispatcher process(es) ({machine()}, load {load:.2f}):\n"
              f"  dispatcher: {result['messages_per_s']} msg/s ({result['seconds']} s), "
              f"{result['cpu_us_per_message']} µs CPU/msg ({result['sender_cpu_us_per_message']} "
              f"sending, {result['database_cpu_us_per_message']} database), "
              f"peak RSS {result['peak_rss_mb']} MB, "
              f"exactly once: {result['sent_exactly_once']}\n"
              f"  baseline webpush() loop: {result['baseline_messages_per_s']} msg/s, "
              f"{result['baseline_cpu_us_per_message']} µs CPU/msg "
              f"({result['baseline_messages']} msgs)", flush=True)
        if not args.no_record:
            write_line(result, load)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
