"""Browser fixtures: Debian Chromium through Playwright, a live server per test, phone contexts.

See /work/shared/TESTING.md for why the launch flags and waits look the way they do.
"""
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from companion import clinics, create_app, treatments
from companion.extensions import db

CHROMIUM = Path("/usr/bin/chromium")
#: without the background-networking flags Chromium keeps calling the closed network
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # A missing browser is a broken setup (bin/test installs it), never a reason to skip.
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium` "
                    "(bin/test does this)", pytrace=False)
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def base_url():
    # Replaces pytest-playwright's own, a method on a plugin class that pytest 9 warns about
    # (an error under filterwarnings). Tests use live_server.url: every test has its own port.
    return None


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """Every context is a phone: 390x844 CSS pixels at 3x."""
    return {**browser_context_args, **PHONE}


@dataclass
class Session:
    token: str
    short_code: str
    #: the recovery day the server computes for this session now
    day: int
    path: str
    url: str


class LiveServer:
    """The app served over real HTTP on 127.0.0.1, as the browser sees it."""

    def __init__(self, app, url):
        self.app = app
        self.url = url

    def create_session(self, *, client_name="Ana", hours_ago=20, clinic_name="Calm Skin Clinic",
                       phone="+44 20 7946 0123", timezone_name="Europe/London", **fields):
        """A clinic and one treatment session; returns what the client's link needs."""
        now = datetime.now(timezone.utc)
        with self.app.app_context():
            clinic = clinics.create(clinic_name, phone=phone, timezone=timezone_name)
            t = treatments.create(clinic, client_name=client_name,
                                  treated_at=now - timedelta(hours=hours_ago), **fields)
            day = treatments.plan_for(t, now).day
            path = f"/s/{t.token}"
            return Session(t.token, t.short_code, day, path, self.url + path)

    def plan_at(self, session, moment):
        """The plan the server computes for `session` at `moment` (careplan.Plan)."""
        with self.app.app_context():
            return treatments.plan_for(treatments.by_token(session.token), moment)

    def revoke(self, session):
        """The clinic withdraws the link."""
        with self.app.app_context():
            t = treatments.by_token(session.token)
            treatments.revoke(t.clinic_id, t.id)


@pytest.fixture
def live_server(tmp_path, database):
    # Bind first (port 0: the OS picks a free one), then build the app knowing its address.
    holder = {}
    server = make_server("127.0.0.1", 0, lambda env, start: holder["app"](env, start),
                         threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app = create_app({
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "TESTING": True,
        "PUBLIC_URL": url,
        **database,
    })
    holder["app"] = app
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield LiveServer(app, url)
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def page_errors(page):
    """Console errors and uncaught exceptions of `page`, as readable lines."""
    errors = []
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text} ({m.location})")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    return errors


@pytest.fixture
def wait_for_service_worker():
    """wait(page): until an *activated* worker controls the page (`ready` resolves too early)."""
    def wait(page, timeout=15_000):
        page.wait_for_function(
            "() => !!navigator.serviceWorker.controller"
            " && navigator.serviceWorker.controller.state === 'activated'",
            timeout=timeout,
        )
    return wait


@pytest.fixture
def assert_accessible():
    """check(page, where): axe-core finds no violation on what the page shows now."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm install` (axe-core)", pytrace=False)

    def check(page, where=""):
        # Evaluated through the DevTools protocol: the app's CSP (no inline script) stays on.
        page.evaluate(AXE.read_text() + "\n;window.axe = axe; true")
        violations = page.evaluate("async () => (await axe.run()).violations")
        lines = [
            f"- {v['id']} ({v.get('impact')}): {v['help']}\n    at: "
            + "; ".join(_target(n["target"]) for n in v["nodes"])
            for v in violations
        ]
        assert not violations, (
            f"axe-core: {len(violations)} violation(s) on {where or page.url}\n" + "\n".join(lines)
        )
    return check


def _target(target):
    # A node's target is a list of selectors (nested lists for shadow roots and frames).
    if isinstance(target, list):
        return " >>> ".join(_target(t) for t in target)
    return str(target)


@pytest.fixture
def persistent_context(browser_type, browser_type_launch_args, tmp_path):
    """A profile on disk like a phone's browser: installability is never reported in incognito."""
    context = browser_type.launch_persistent_context(
        str(tmp_path / "profile"), **browser_type_launch_args, **PHONE
    )
    yield context
    context.close()
