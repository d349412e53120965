"""Serving benchmark: the client's Today page (GET /s/<token>) and the plan API
(GET /api/v1/me/plan) under gunicorn, against a trivial Flask route served the same way.

    .venv/bin/python bench/serving.py            # needs wrk: apt-get install -y wrk

Both apps run under companion/gunicorn_conf.py (`gunicorn -c python:companion.gunicorn_conf`:
sync workers, access log, worker recycling) with the same WEB_CONCURRENCY, one at a time on
127.0.0.1. wrk (C, one thread, in a process of its own) keeps a fixed number of connections
busy: a warm-up, then the measured run; p50/p99 latency and requests/s come from wrk, the
server's CPU time per request from /proc (master, workers, and workers recycled meanwhile).
Each request carries another client address in X-Forwarded-For (as from a reverse proxy;
COMPANION_PROXY_COUNT=1), so per-address rate limits count many phones, not one busy one.
gunicorn's sync workers answer `Connection: close`, so wrk reconnects for every request, for
both apps alike. The session is made by `flask --app companion demo`, on SQLite (the embedded
default) and on a throwaway PostgreSQL database; the trivial route is measured again before
each database, and each app is compared with the trivial figure measured just before it.
Target: companion >= 70 % of the trivial route's requests/s. Prints the figures, appends a
line to docs/benchmarks.md, and ends with a JSON line.
"""
import argparse
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager, nullcontext
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import results  # noqa: E402

ROOT = results.ROOT
VENV_BIN = Path(sys.executable).parent
TARGET = 0.70
TICK = os.sysconf("SC_CLK_TCK")
#: wrk script: every request from another client address, as a reverse proxy reports it
#: (X-Forwarded-For, COMPANION_PROXY_COUNT=1), so per-address rate limits see many phones
#: instead of refusing one very busy one; the limiter's own work is still measured
CLIENTS_LUA = """
math.randomseed(os.time())
request = function()
  wrk.headers["X-Forwarded-For"] = "10." .. math.random(0, 255) .. "." ..
      math.random(0, 255) .. "." .. math.random(1, 254)
  return wrk.format()
end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env(instance, database_url):
    env = {**os.environ, "COMPANION_INSTANCE_PATH": str(instance), "COMPANION_SCHEDULER": "off",
           "COMPANION_PROXY_COUNT": "1"}
    env.pop("COMPANION_SQLALCHEMY_DATABASE_URI", None)
    if database_url:
        env["COMPANION_SQLALCHEMY_DATABASE_URI"] = database_url
    return env


def flask(env, *args):
    out = subprocess.run([str(VENV_BIN / "flask"), "--app", "companion", *args], env=env,
                         cwd=ROOT, check=True, capture_output=True, text=True)
    return out.stdout


def demo_session(instance, database_url):
    """`flask --app companion demo` on this database (its schema first, as bin/serve does)."""
    env = app_env(instance, database_url)
    flask(env, "db", "upgrade")
    demo = json.loads(flask(env, "demo").strip().splitlines()[-1])
    return demo["client_url"].rsplit("/s/", 1)[1]


@contextmanager
def gunicorn(app, env, workers, log):
    """gunicorn with the production settings on a free port; yields (base URL, master pid)."""
    port = free_port()
    env = {**env, "COMPANION_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)}
    argv = [str(VENV_BIN / "gunicorn"), "-c", "python:companion.gunicorn_conf", app]
    if app.startswith("trivial:"):
        argv[-1:-1] = ["--pythonpath", str(HERE)]
    with open(log, "ab") as out:
        server = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=out)
    try:
        yield f"http://127.0.0.1:{port}", server.pid
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wait_ready(url, headers=None, timeout=90):
    """Until every worker can answer: a few successful requests in a row."""
    deadline, ok = time.monotonic() + timeout, 0
    while ok < 10:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                        timeout=10) as response:
                ok += response.status == 200
        except OSError:
            ok = 0
            if time.monotonic() > deadline:
                raise SystemExit(f"the server at {url} did not answer within {timeout} s")
            time.sleep(0.3)


def server_cpu_seconds(master):
    """CPU time of the master, its live workers and the workers it has reaped."""
    def stat(pid):
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()

    fields = stat(master)
    # utime, stime, cutime, cstime are fields 14-17 (1-based); after the comm they start at 11
    total = sum(int(v) for v in fields[11:15])
    for pid in workers_of(master):
        try:
            total += sum(int(v) for v in stat(pid)[11:13])
        except OSError:  # recycled meanwhile: its time is in the master's cutime now
            pass
    return total / TICK


def workers_of(master):
    path = Path(f"/proc/{master}/task/{master}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def peak_worker_rss_mb(master):
    peak = 0
    for pid in workers_of(master):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
    return round(peak / 1024, 1)


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * UNITS[unit]


def wrk(url, connections, seconds, headers, script):
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s",
            "-s", str(script)]
    for header in headers:
        argv += ["-H", header]
    out = subprocess.run(argv + [url], check=True, capture_output=True, text=True).stdout
    percentiles = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", out, re.M))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": round(_ms(percentiles["50"]), 2),
        "p99_ms": round(_ms(percentiles["99"]), 2),
        "requests": requests,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        # read errors are the closed keep-alive connections (Connection: close), not failures
        "socket_errors": {k: int(v) for k, v in zip(("connect", "read", "write", "timeout"),
                                                      errors.groups())} if errors else {},
    }


def measure(url, master, args, headers=()):
    """A warm-up, then the measured run with the server's CPU time around it."""
    wrk(url, args.connections, args.warmup, headers, args.script)
    cpu = server_cpu_seconds(master)
    figures = wrk(url, args.connections, args.duration, headers, args.script)
    cpu = server_cpu_seconds(master) - cpu
    figures["server_cpu_ms_per_request"] = round(cpu / max(1, figures["requests"]) * 1e3, 3)
    figures["requests_per_s"] = round(figures["requests_per_s"])
    figures["peak_worker_rss_mb"] = peak_worker_rss_mb(master)
    return figures


def line(name, f):
    errors = f"; {f['non_2xx']} non-2xx!" if f["non_2xx"] else ""
    return (f"{name:<26} {f['requests_per_s']:>6} req/s   p50 {f['p50_ms']:>7.2f} ms   "
            f"p99 {f['p99_ms']:>7.2f} ms   {f['server_cpu_ms_per_request']:.2f} ms CPU/req   "
            f"worker RSS {f['peak_worker_rss_mb']} MB{errors}")


def bench(args, tmp):
    logs = tmp / "gunicorn.log"
    args.script = tmp / "clients.lua"
    args.script.write_text(CLIENTS_LUA)
    runs = {}
    trivial_env = app_env(tmp / "trivial-instance", None)
    with gunicorn("trivial:create_app()", trivial_env, args.workers, logs) as (trivial, tpid):
        wait_ready(trivial + "/")
        for database in args.databases:
            runs[database] = {"trivial": measure(trivial + "/", tpid, args)}
            print(line(f"trivial route ({database})", runs[database]["trivial"]), flush=True)
            where = (results.postgres_database(args.postgres) if database == "postgresql"
                     else nullcontext(None))
            with where as database_url:
                instance = tmp / f"{database}-instance"
                token = demo_session(instance, database_url)
                env = app_env(instance, database_url)
                with gunicorn("companion:create_app()", env, args.workers, logs) as (base, pid):
                    bearer = (f"Authorization: Bearer {token}",)
                    wait_ready(f"{base}/s/{token}")
                    wait_ready(f"{base}/api/v1/me/plan", {"Authorization": f"Bearer {token}"})
                    runs[database]["today"] = measure(f"{base}/s/{token}", pid, args)
                    print(line(f"Today page ({database})", runs[database]["today"]), flush=True)
                    runs[database]["plan_api"] = measure(f"{base}/api/v1/me/plan", pid, args,
                                                         bearer)
                    print(line(f"plan API ({database})", runs[database]["plan_api"]), flush=True)
                    # what the page costs (so a reader can tell rendering from transfer)
                    with urllib.request.urlopen(f"{base}/s/{token}") as response:
                        runs[database]["today_bytes"] = len(response.read())
    return runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", nargs="+", choices=["sqlite", "postgresql"],
                        default=["sqlite", "postgresql"])
    parser.add_argument("--workers", type=int, default=2 * multiprocessing.cpu_count() + 1,
                        help="WEB_CONCURRENCY for both apps (default: gunicorn_conf's, "
                             "2 x cores + 1)")
    parser.add_argument("--connections", type=int,
                        help="wrk's concurrent connections (default: 2 x workers)")
    parser.add_argument("--duration", type=int, default=15, help="seconds measured per URL")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of warm-up per URL")
    parser.add_argument("--postgres", default=results.POSTGRES,
                        help="PostgreSQL server URL; a throwaway database is made there")
    parser.add_argument("--no-record", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args()
    args.connections = args.connections or 2 * args.workers
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: install it with `apt-get install -y wrk` (Debian), "
                         "then run this again.")
    if "postgresql" in args.databases and (why := results.postgres_answers(args.postgres)):
        raise SystemExit(f"PostgreSQL at {args.postgres} does not answer ({why}); start it or "
                         "run with --databases sqlite")

    load = results.load()
    code = results.code_version()
    settings = (f"{args.workers} sync workers, wrk {args.connections} connections, "
                f"{args.warmup} s warm-up + {args.duration} s per URL, code {code}")
    print(f"serving, {settings} ({results.machine()}, load {load:.2f}):", flush=True)
    with tempfile.TemporaryDirectory(prefix="companion-bench-") as tmp:
        runs = bench(args, Path(tmp))

    ratios = {f"{db}_{what}": round(run[what]["requests_per_s"]
                                    / run["trivial"]["requests_per_s"], 3)
              for db, run in runs.items() for what in ("today", "plan_api")}
    refused = sum(run[what]["non_2xx"] for run in runs.values()
                  for what in ("trivial", "today", "plan_api"))
    met = all(r >= TARGET for r in ratios.values()) and not refused
    for name, ratio in ratios.items():
        print(f"  {name}: {ratio:.1%} of the trivial route's requests/s "
              f"(target >= {TARGET:.0%}: {'met' if ratio >= TARGET else 'MISSED'})")
    summary = {"benchmark": "serving", "workers": args.workers, "connections": args.connections,
               "duration_s": args.duration, "warmup_s": args.warmup, "load": round(load, 2),
               "code": code, "runs": runs, "ratio_to_trivial": ratios, "non_2xx": refused,
               "target": TARGET, "target_met": met,
               "baseline": "a trivial Flask route under the same gunicorn config and workers, "
                           "measured just before each database"}
    if not args.no_record:
        write_line(summary, settings)
    print(json.dumps(summary), flush=True)


def write_line(summary, settings):
    runs, ratios = summary["runs"], summary["ratio_to_trivial"]

    def figures(f):
        return f"{f['requests_per_s']} req/s p50 {f['p50_ms']} p99 {f['p99_ms']} ms"

    result = "; ".join(
        f"{db}: Today {figures(run['today'])}, plan API {figures(run['plan_api'])} "
        f"({ratios[db + '_today']:.0%} / {ratios[db + '_plan_api']:.0%} of trivial)"
        for db, run in runs.items())
    result += f"; target >= {TARGET:.0%} of trivial: {'met' if summary['target_met'] else 'MISSED'}"
    baseline = "; ".join(f"trivial route {figures(run['trivial'])} (before {db})"
                         for db, run in runs.items())
    cpu = "; ".join(
        f"{db}: Today {run['today']['server_cpu_ms_per_request'] * 1000:.0f}, plan API "
        f"{run['plan_api']['server_cpu_ms_per_request'] * 1000:.0f}, trivial "
        f"{run['trivial']['server_cpu_ms_per_request'] * 1000:.0f} µs/req"
        for db, run in runs.items())
    rss = f"{max(run['today']['peak_worker_rss_mb'] for run in runs.values())} MB per worker"
    results.append_row("serving", summary["load"], settings, result, baseline, cpu, rss)


if __name__ == "__main__":
    main()
