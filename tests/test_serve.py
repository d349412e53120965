"""Production serving as docs/deploy.md describes it: bin/serve (gunicorn, two workers, no
scheduler inside) and a separate `bin/serve scheduler` process, on SQLite and PostgreSQL;
/healthz reports the dispatcher; the access log never shows a client's token."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from test_run_push import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
FLASK = str(Path(sys.executable).parent / "flask")


def health(base):
    try:
        response = requests.get(base + "/healthz", timeout=2)
    except requests.RequestException:
        return None
    return response.status_code, response.json()


@pytest.fixture
def served(tmp_path, database):
    port = free_port()
    env = {**os.environ,
           "COMPANION_INSTANCE_PATH": str(tmp_path / "instance"),
           "COMPANION_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "COMPANION_BIND": f"127.0.0.1:{port}",
           "WEB_CONCURRENCY": "2",
           "COMPANION_DISPATCH_INTERVAL_SECONDS": "1",
           "COMPANION_LOG_FORMAT": "json"}
    if "SQLALCHEMY_DATABASE_URI" in database:
        env["COMPANION_SQLALCHEMY_DATABASE_URI"] = database["SQLALCHEMY_DATABASE_URI"]
    env.pop("COMPANION_SCHEDULER", None)
    processes, logs = [], []

    def start(*args):
        log = open(tmp_path / f"{len(logs)}.log", "w+")
        logs.append(log)
        processes.append(subprocess.Popen([str(ROOT / "bin" / "serve"), *args], env=env,
                                          stdout=log, stderr=subprocess.STDOUT, cwd=ROOT))
        return processes[-1]

    web = start()
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: health(base), 60, "gunicorn to answer")
    yield base, env, start, web, logs[0]
    for process in processes:
        process.terminate()
        process.wait(20)
    for log in logs:
        log.close()


def test_gunicorn_workers_serve_and_a_separate_scheduler_makes_it_healthy(served):
    base, env, start, web, web_log = served
    def workers():  # bin/serve exec'd gunicorn: its master is web.pid
        found = subprocess.run(["pgrep", "-P", str(web.pid)], capture_output=True, text=True)
        return len(found.stdout.split()) == 2
    wait_for(workers, 30, "two gunicorn workers")

    status, report = health(base)
    assert status == 503 and report["database"] == "ok"
    assert report["scheduler"] == "no heartbeat yet"  # web workers never dispatch

    demo = subprocess.run([FLASK, "--app", "companion", "demo"], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=True)
    info = json.loads(demo.stdout.strip().splitlines()[-1])
    page = requests.get(info["client_url"], timeout=5)
    assert page.status_code == 200 and "Day" in page.text
    token = info["client_url"].rsplit("/", 1)[1]
    plan = requests.get(base + "/api/v1/me/plan", headers={"Authorization": f"Bearer {token}"},
                        timeout=5)
    assert plan.status_code == 200 and plan.json()["day"] >= 0

    start("scheduler")
    wait_for(lambda: (health(base) or (0,))[0] == 200, 60, "the scheduler's heartbeat")
    status, report = health(base)
    assert report == {"status": "ok", "database": "ok", "scheduler": "ok",
                      "scheduler_heartbeat_age_seconds": report["scheduler_heartbeat_age_seconds"]}

    web_log.seek(0)
    lines = [json.loads(line) for line in web_log if line.startswith("{")]
    access = [r for r in lines if r["logger"] == "gunicorn.access"]
    assert any("/s/[redacted]" in r["message"] for r in access)
    assert token not in web_log.read() + json.dumps(lines)
