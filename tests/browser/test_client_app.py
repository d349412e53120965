"""The client's plan in a real phone-sized Chromium: what a client sees, ticks, and keeps offline."""
import re
import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image
from playwright.sync_api import expect

from companion import pwa
from companion.client import hm, longdate

pytestmark = pytest.mark.browser

CLINIC = "Calm Skin Clinic"


def greeting(page, name):
    """The plan's "Hi <name>, here is <date>" heading."""
    return page.get_by_role("heading", name=re.compile(rf"^Hi {name}, here is "))


def screenshot(page, output_path, name):
    path = Path(output_path) / name
    page.screenshot(path=path, full_page=True)
    assert path.is_file() and path.stat().st_size > 0, f"no screenshot at {path}"
    with Image.open(path) as image:
        return image.size


# -- Today ------------------------------------------------------------------------------


def test_today_shows_the_day_care_steps_off_limits_and_call_button(
        live_server, page, page_errors, output_path):
    session = live_server.create_session()
    response = page.goto(session.url, wait_until="load")
    assert response.status == 200

    expect(page.locator("#today-day")).to_have_text(f"Day {session.day} after your treatment")
    expect(greeting(page, "Ana")).to_be_visible()
    steps = page.locator("#checklist .step")
    expect(steps.first).to_be_visible()
    assert steps.count() >= 2
    # Every step can be ticked, and none is ticked on a fresh device.
    boxes = page.locator("#checklist").get_by_role("checkbox")
    expect(boxes).to_have_count(steps.count())
    for i in range(boxes.count()):
        expect(boxes.nth(i)).not_to_be_checked()

    off_limits = page.locator("#off-limits .restriction")
    expect(page.get_by_role("heading", name="Still off-limits")).to_be_visible()
    expect(off_limits.filter(has_text="Sweating and strenuous exercise")).to_be_visible()
    # 72 h from a treatment 20 h ago: about two days left, counted down live.
    expect(off_limits.filter(has_text="Sweating").locator(".countdown")).to_have_text(
        re.compile(r"^in (2 days( \d+ h)?|1 day \d+ h)$"))

    call = page.get_by_role("link", name=f"Call {CLINIC}: +44 20 7946 0123")
    expect(call).to_be_visible()
    expect(call).to_have_attribute("href", "tel:+442079460123")
    expect(page.locator("#today")).to_be_in_viewport()

    width, height = screenshot(page, output_path, "today-390x844.png")
    assert width == 390 * 3 and height >= 844 * 3, f"not a 390x844 @3x screenshot: {width}x{height}"
    assert page_errors == [], "errors while loading the plan:\n" + "\n".join(page_errors)


def test_today_in_dark_mode(live_server, new_context, output_path):
    session = live_server.create_session()
    page = new_context(color_scheme="dark").new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(session.url, wait_until="load")

    expect(page.locator("#today-day")).to_have_text(f"Day {session.day} after your treatment")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    channels = [int(c) for c in re.findall(r"\d+", background)[:3]]
    assert len(channels) == 3 and max(channels) < 64, f"page is not dark: body is {background}"
    width, _ = screenshot(page, output_path, "today-390x844-dark.png")
    assert width == 390 * 3
    assert errors == []


def test_referrer_policy_keeps_the_token_private(live_server, page):
    session = live_server.create_session()
    static_requests = []
    page.on("request", lambda r: static_requests.append(r) if "/static/" in r.url else None)
    response = page.goto(session.url, wait_until="load")
    assert response.headers.get("referrer-policy") == "no-referrer"
    # The browser obeys it: the files the plan loads are not told the plan's address.
    assert static_requests, "the plan loaded no static files"
    leaks = [(r.url, r.all_headers().get("referer")) for r in static_requests
             if r.all_headers().get("referer")]
    assert leaks == []


# -- A later day ------------------------------------------------------------------------


def open_tomorrow(live_server, page):
    """Open a plan with the phone's clock a day ahead; returns the server's plan for then."""
    # Treated minutes ago: today is day 0, tomorrow day 1, when sunscreen starts at 24 h.
    session = live_server.create_session(hours_ago=0.05)
    tomorrow = datetime.now(timezone.utc) + timedelta(days=1)
    later = live_server.plan_at(session, tomorrow)
    assert later.day == session.day + 1
    # The page (as saved, or as served) carries today's plan; the phone says tomorrow.
    page.clock.install(time=tomorrow)
    page.goto(session.url, wait_until="load")
    return later


def test_plan_opened_the_next_day_shows_that_days_care(live_server, page):
    later = open_tomorrow(live_server, page)

    expect(page.locator("#today-day")).to_have_text(f"Day {later.day} after your treatment")
    expect(page.locator("#today-date")).to_have_text(longdate(later.today.date))
    expect(page.locator("#checklist .step-title")).to_have_text(
        [v.step.title for v in later.today.steps])
    # Make-up was off-limits for 24 h: by tomorrow it is allowed again.
    expect(page.locator("#allowed .restriction", has_text="Make-up")).to_be_visible()
    expect(page.locator("#off-limits .restriction", has_text="Make-up")).to_have_count(0)
    # A step that may not start before a given time says so, as the server would show it.
    labels = {"morning": "Morning", "evening": "Evening", "anytime": "Today"}
    expect(page.locator("#checklist .step-time")).to_have_text(
        [f"From {hm(v.not_before)}" if v.not_before else labels[v.step.time]
         for v in later.today.steps])


def test_plan_opened_the_next_day_marks_that_day_in_the_timeline(live_server, page):
    later = open_tomorrow(live_server, page)

    page.get_by_role("link", name="Timeline").click()
    marked = page.locator("#timeline .day.is-today")
    expect(marked).to_have_count(1)
    expect(marked.get_by_role("heading")).to_contain_text(f"Day {later.day}")
    expect(page.locator("#timeline .badge")).to_have_count(1)
    expect(marked.locator(".badge")).to_have_text("Today")


# -- Tabs -------------------------------------------------------------------------------


def test_tabs_show_timeline_and_next_session_and_back_returns(live_server, page):
    session = live_server.create_session(series_index=1, series_total=3)
    page.goto(session.url)
    today = page.locator("#today")
    timeline = page.locator("#timeline")
    upcoming = page.locator("#next")
    expect(today).to_be_visible()
    expect(timeline).to_be_hidden()

    page.get_by_role("link", name="Timeline").click()
    expect(timeline).to_be_visible()
    expect(today).to_be_hidden()
    expect(page.get_by_role("link", name="Timeline")).to_have_attribute("aria-current", "page")
    marked = timeline.locator(".day.is-today")
    expect(marked).to_have_count(1)
    expect(marked.get_by_role("heading")).to_contain_text(f"Day {session.day}")
    expect(marked.locator(".badge")).to_have_text("Today")

    page.get_by_role("link", name="Next session").click()
    expect(upcoming).to_be_visible()
    expect(timeline).to_be_hidden()
    expect(upcoming).to_contain_text("Session 2 of 3")

    page.go_back()
    expect(timeline).to_be_visible()
    expect(upcoming).to_be_hidden()
    page.go_back()
    expect(today).to_be_visible()
    expect(timeline).to_be_hidden()
    expect(page.get_by_role("link", name="Today")).to_have_attribute("aria-current", "page")


# -- Check-offs -------------------------------------------------------------------------


def test_ticked_steps_stay_ticked_on_this_device_and_only_for_this_plan(live_server, page):
    mine = live_server.create_session(client_name="Ana")
    other = live_server.create_session(client_name="Bea", clinic_name="Other Clinic")
    page.goto(mine.url)
    first = page.locator("#checklist").get_by_role("checkbox").first
    second = page.locator("#checklist").get_by_role("checkbox").nth(1)
    first.check()
    expect(page.locator("#checklist .step").first).to_have_class(re.compile(r"\bis-done\b"))

    page.reload()
    expect(first).to_be_checked()
    expect(second).not_to_be_checked()

    page.goto(other.url)
    expect(greeting(page, "Bea")).to_be_visible()
    boxes = page.locator("#checklist").get_by_role("checkbox")
    expect(boxes.first).to_be_visible()
    for i in range(boxes.count()):
        expect(boxes.nth(i)).not_to_be_checked()

    page.goto(mine.url)
    first.uncheck()
    page.reload()
    expect(first).not_to_be_checked()


# -- Offline ----------------------------------------------------------------------------


def test_plan_opens_offline_from_the_service_worker(
        live_server, page, context, wait_for_service_worker):
    session = live_server.create_session()
    page.goto(session.url, wait_until="load")
    wait_for_service_worker(page)
    expect(page.locator("#offline")).to_be_hidden()
    # The first visit saves the plan a moment after the worker takes over (app.js).
    page.wait_for_function("async () => !!(await (await caches.open('plans')).match(location.pathname))")

    context.set_offline(True)
    response = page.reload()
    assert response is not None and response.from_service_worker
    assert response.status == 200
    expect(greeting(page, "Ana")).to_be_visible()
    expect(page.locator("#today-day")).to_have_text(f"Day {session.day} after your treatment")
    expect(page.locator("#offline")).to_be_visible()
    expect(page.locator("#offline")).to_contain_text("You are offline. This is your saved plan")
    assert page.url == session.url
    assert not page.url.startswith("chrome-error:")

    # Another page, also while offline: the start page comes from the saved shell.
    response = page.goto(live_server.url + "/")
    assert response is not None and response.from_service_worker
    expect(page.get_by_role("heading", level=1)).to_have_text("Your aftercare plan")
    expect(page.get_by_label("Code from your aftercare card")).to_be_visible()
    expect(page.locator("#offline")).to_be_visible()
    assert not page.url.startswith("chrome-error:")


@pytest.mark.parametrize("reopened_at", ["", "?app=1"], ids=["browser", "installed-app"])
def test_withdrawn_link_says_so_and_its_saved_copy_is_dropped(
        live_server, page, context, wait_for_service_worker, reopened_at):
    session = live_server.create_session()
    page.goto(session.url, wait_until="load")
    wait_for_service_worker(page)
    page.reload(wait_until="load")  # through the worker: now it is saved
    live_server.revoke(session)

    # Reopened in the browser, or from the home-screen icon (the manifest's start_url).
    response = page.goto(session.url + reopened_at)
    assert response.status == 410
    expect(page.get_by_role("heading", level=1)).to_have_text("This link was withdrawn")

    context.set_offline(True)
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your aftercare plan")
    expect(page.get_by_text("Hi Ana")).to_have_count(0)


# -- Installable ------------------------------------------------------------------------


def test_plan_is_installable_and_opens_this_plan(
        live_server, persistent_context, wait_for_service_worker):
    session = live_server.create_session()
    page = persistent_context.pages[0] if persistent_context.pages else persistent_context.new_page()
    page.goto(session.url, wait_until="load")
    wait_for_service_worker(page)

    cdp = persistent_context.new_cdp_session(page)
    result = cdp.send("Page.getInstallabilityErrors")
    assert result["installabilityErrors"] == []

    href = page.locator('link[rel="manifest"]').get_attribute("href")
    assert href == f"{session.path}/manifest.webmanifest"
    response = page.request.get(live_server.url + href)
    assert response.ok
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()
    assert urlsplit(manifest["start_url"]).path == session.path
    assert manifest["id"] == session.path
    assert manifest["display"] == "standalone"
    # The home-screen icon opens this client's plan.
    page.goto(live_server.url + manifest["start_url"], wait_until="load")
    expect(greeting(page, "Ana")).to_be_visible()


# -- Accessibility ----------------------------------------------------------------------


@pytest.mark.parametrize("tab", ["today", "timeline", "next"])
def test_plan_tabs_are_accessible(live_server, page, assert_accessible, tab):
    session = live_server.create_session(series_index=1, series_total=3)
    page.goto(f"{session.url}#{tab}", wait_until="load")
    expect(page.locator(f"#{tab}")).to_be_visible()
    assert_accessible(page, f"the {tab} tab")


def test_today_is_accessible_in_dark_mode(live_server, new_context, assert_accessible):
    session = live_server.create_session()
    page = new_context(color_scheme="dark").new_page()
    page.goto(session.url, wait_until="load")
    expect(page.locator("#today")).to_be_visible()
    assert_accessible(page, "the today tab in dark mode")


def test_start_page_is_accessible(live_server, page, assert_accessible):
    page.goto(live_server.url + "/", wait_until="load")
    expect(page.get_by_label("Code from your aftercare card")).to_be_visible()
    assert_accessible(page, "the start page")


def test_not_found_page_is_accessible(live_server, page, assert_accessible):
    response = page.goto(f"{live_server.url}/s/{secrets.token_urlsafe(24)}", wait_until="load")
    assert response.status == 404
    assert_accessible(page, "the 404 page")


def test_short_code_error_is_accessible(live_server, page, assert_accessible):
    page.goto(live_server.url + "/")
    page.get_by_label("Code from your aftercare card").fill("12")
    page.get_by_role("button", name="Open my plan").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page, "the start page with a code error")


# -- Links and codes --------------------------------------------------------------------


def test_unknown_link_shows_a_friendly_not_found_page(live_server, page):
    token = secrets.token_urlsafe(24)
    assert len(token) == 32
    response = page.goto(f"{live_server.url}/s/{token}")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("We could not find this plan")
    link = page.get_by_role("link", name="Type my code")
    expect(link).to_have_attribute("href", "/")
    link.click()
    expect(page.get_by_label("Code from your aftercare card")).to_be_visible()
    assert page.url == live_server.url + "/"


def submit_code(page, text):
    page.get_by_label("Code from your aftercare card").fill(text)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Open my plan").click()
    return navigation.value


def test_short_code_form_explains_a_wrong_code(live_server, page):
    live_server.create_session()
    page.goto(live_server.url + "/")

    response = submit_code(page, "ABC")
    assert response.status == 400
    expect(page.get_by_role("alert")).to_contain_text("A code has 8 letters and numbers")
    expect(page.get_by_label("Code from your aftercare card")).to_have_value("ABC")

    response = submit_code(page, "ZZZZ-9999")
    assert response.status == 404
    expect(page.get_by_role("alert")).to_contain_text("could not find")


@pytest.mark.parametrize("separator", ["-", " "])
def test_short_code_typed_lowercase_opens_the_plan(live_server, page, separator):
    session = live_server.create_session()
    code = session.short_code.lower()
    page.goto(live_server.url + "/")

    response = submit_code(page, code[:4] + separator + code[4:])
    assert response.status == 200
    assert page.url == session.url
    expect(greeting(page, "Ana")).to_be_visible()
    expect(page.locator("#today-day")).to_have_text(f"Day {session.day} after your treatment")


# -- Updates ----------------------------------------------------------------------------


def test_new_version_is_offered_and_applied_on_request(
        live_server, page, wait_for_service_worker):
    session = live_server.create_session()
    page.goto(session.url, wait_until="load")
    wait_for_service_worker(page)
    with live_server.app.app_context():
        old_version = pwa.app_version()
        # A new deploy: one more static file changes the version the worker is built with.
        live_server.app.extensions["companion.fingerprints"]["css/new-release.css"] = "1"
        new_version = pwa.app_version()
    assert new_version != old_version
    expect(page.locator("#update")).to_be_hidden()

    page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.update())")
    banner = page.locator("#update")
    expect(banner).to_be_visible(timeout=15_000)
    expect(banner).to_contain_text("A new version of the app is ready")
    # The new worker has its shell ready and waits for the client to agree.
    assert f"shell-{new_version}" in page.evaluate("caches.keys()")
    assert page.evaluate("navigator.serviceWorker.getRegistration().then(r => !!r.waiting)")
    page.evaluate("window.__beforeUpdate = true")

    with page.expect_event("load", timeout=15_000):
        banner.get_by_role("button", name="Update now").click()
    assert page.evaluate("window.__beforeUpdate === undefined"), "the page did not reload"
    wait_for_service_worker(page)
    expect(greeting(page, "Ana")).to_be_visible()
    expect(page.locator("#update")).to_be_hidden()
    assert page.url == session.url
    caches = page.evaluate("caches.keys()")
    assert f"shell-{new_version}" in caches and f"shell-{old_version}" not in caches
