"""What the serving, claims and page benchmarks share: the machine line, the table row in
docs/benchmarks.md (the fan-out benchmark's table and columns), a throwaway PostgreSQL
database, and which code was measured."""
import contextlib
import os
import platform
import secrets
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "benchmarks.md"
#: this machine's server (TESTING.md); --postgres overrides it
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
HEADER = (
    "# Benchmarks\n\n"
    "Appended by the scripts in `bench/` (see bench/README.md), one line per run; the\n"
    "baseline is measured in the same run (fan-out: against the same push service fake).\n"
    "Load is the 1-minute load average when the run started (other work on the machine).\n\n"
    "| Date (UTC) | Benchmark | Machine | Load | Settings | Result | Baseline | "
    "CPU µs/msg | Peak RSS | Exactly once |\n"
    "|---|---|---|---|---|---|---|---|---|---|\n")


def machine():
    """`x86_64, 2 cores (model), Python 3.11.2`: as bench/fanout.py writes it."""
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        model = next((line.split(":", 1)[1].strip() for line in f
                      if line.startswith("model name")), "")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{platform.machine()}, {cores} cores{f' ({model})' if model else ''}, "
            f"Python {platform.python_version()}")


def load():
    return os.getloadavg()[0]


def append_row(benchmark, load_at_start, settings, result, baseline, cpu="—", rss="—"):
    """One line in the benchmarks table; columns the run has no figure for read "—"."""
    if not RESULTS.exists():
        RESULTS.write_text(HEADER)
    cells = [f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M}", benchmark, machine(),
             f"{load_at_start:.2f}", settings, result, baseline, cpu, rss, "—"]
    with RESULTS.open("a") as f:
        f.write("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |\n")


@contextlib.contextmanager
def postgres_database(server_url=POSTGRES):
    """A database of our own on the server, dropped afterwards: yields its SQLAlchemy URL."""
    import psycopg

    name = f"companion_bench_{secrets.token_hex(4)}"
    base = server_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(base, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_answers(server_url=POSTGRES):
    """None when the server answers, else why not."""
    try:
        import psycopg

        base = server_url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(base, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except Exception as error:  # whatever it is, the PostgreSQL half cannot run
        return f"{type(error).__name__}: {error}".strip()
    return None


def code_version():
    """The commit measured, `+changes` when the app's files differ from it (others' work)."""
    import subprocess

    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    changed = git("status", "--porcelain", "--", "companion", "templates", "static").strip()
    return commit + ("+changes" if changed else "")
