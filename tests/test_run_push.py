"""The whole path as a clinic would run it: `flask --app companion run` with its in-process
dispatcher, a client subscribed at web-push-testing (npm) on loopback, reminders arriving."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
FLASK = str(Path(sys.executable).parent / "flask")
WPT = ROOT / "node_modules" / "web-push-testing"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"gave up waiting for {what} after {seconds} s")


def _up(url):
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False


@pytest.fixture
def web_push_testing():
    if not WPT.exists() or shutil.which("node") is None:
        pytest.fail("web-push-testing is not installed: run bin/test (npm ci)")
    port = free_port()
    process = subprocess.Popen(["node", str(ROOT / "tests" / "webpushtesting.js"), str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout.readline().strip() == f"ready {port}"
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)
    process.stdout.close()


@pytest.fixture
def running_app(tmp_path, web_push_testing):
    port = free_port()
    env = {**os.environ,
           "COMPANION_INSTANCE_PATH": str(tmp_path / "instance"),
           "COMPANION_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "COMPANION_PUSH_ENDPOINT_ALLOWLIST": json.dumps([web_push_testing]),
           "COMPANION_VAPID_SUBJECT": "mailto:ops@clinic.example",
           "COMPANION_DISPATCH_INTERVAL_SECONDS": "2"}
    env.pop("COMPANION_SCHEDULER", None)
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen([FLASK, "--app", "companion", "run", "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: _up(base + "/api/v1/vapid-public-key"), 30, "the app to start")
    demo = subprocess.run([FLASK, "--app", "companion", "demo"], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=True)
    info = json.loads(demo.stdout.strip().splitlines()[-1])
    yield base, info
    server.terminate()
    server.wait(10)
    log.close()


def test_flask_run_delivers_a_test_and_a_morning_reminder(running_app, web_push_testing):
    base, info = running_app
    token = info["client_url"].rsplit("/", 1)[1]
    auth = {"Authorization": f"Bearer {token}"}
    key = requests.get(base + "/api/v1/vapid-public-key", timeout=5).json()["publicKey"]
    subscribed = requests.post(web_push_testing + "/subscribe", timeout=5, json={
        "applicationServerKey": key, "userVisibleOnly": "true"}).json()["data"]

    def messages():
        reply = requests.post(web_push_testing + "/get-notifications", timeout=5,
                              json={"clientHash": subscribed["clientHash"]})
        return [json.loads(m) for m in reply.json()["data"]["messages"]]

    stored = requests.put(base + "/api/v1/me/push-subscription", headers=auth, timeout=5,
                          json={"endpoint": subscribed["endpoint"], "keys": subscribed["keys"]})
    assert stored.status_code == 201, stored.text

    # The client sets the morning reminder to the next minute (no quiet hours in the way).
    zone = ZoneInfo(requests.get(base + "/api/v1/me/preferences", headers=auth, timeout=5)
                    .json()["timezone"])
    next_minute = (datetime.now(zone) + timedelta(minutes=1)).strftime("%H:%M")
    prefs = requests.put(base + "/api/v1/me/preferences", headers=auth, timeout=5, json={
        "morning": next_minute, "quiet_start": None, "quiet_end": None})
    assert prefs.status_code == 200, prefs.text

    assert requests.post(base + "/api/v1/me/test-notification", headers=auth,
                         timeout=5).status_code == 202
    got = wait_for(lambda: [m for m in messages() if m["tag"].startswith("test-")], 15,
                   "the test reminder")
    assert got[0]["title"] == "Test reminder"

    morning = wait_for(lambda: [m for m in messages() if m["tag"].startswith("morning-")], 100,
                       "the morning reminder")
    assert morning[0]["title"].endswith("this morning's care")
    assert morning[0]["url"] == f"/s/{token}#day-{morning[0]['tag'].split('-')[1]}"
    assert len([m for m in messages() if m["tag"] == morning[0]["tag"]]) == 1
