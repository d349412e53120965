"""The daily check-in in a real phone-sized Chromium: answered on a recovery day, judged by the
server's rules, shown with the clinic's number when it needs the clinic, flagged on the clinic's
dashboard, and kept on the phone while offline until it is sent, exactly once.
"""
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pagecheck import clip_screenshot, serve_with_policy
from playwright.sync_api import expect
from sqlalchemy import select

from companion import apitokens, reminderplan, reminders, staff, treatments
from companion.extensions import db
from companion.models import CheckIn, Reminder

pytestmark = pytest.mark.browser

CLINIC, PHONE, TEL = "Calm Skin Clinic", "+44 20 7946 0123", "tel:+442079460123"
EMAIL, PASSWORD = "nurse@calm.example", "correct horse battery"
SAVED = "Saved on this phone. It will be sent when you are back online."
CHECK_LATER = "We\u2019ll check your answers when you\u2019re back online."
LOCAL_EMERGENCY = "Call your local emergency number now (for example 112 or 999)."
LEGENDS = {"redness": "Redness", "swelling": "Swelling", "pain": "Pain", "itch": "Itching"}
SIGNS = {
    "warmth": "Treated skin feels hot, or warmer than yesterday",
    "pus": "Pus or yellow crusts",
    "blisters": "Blisters or cold sores",
    "rash": "A rash that is spreading",
    "fever": "Fever",
    "breathing": "Trouble breathing",
    "facial_swelling": "Swelling of the face or throat",
}


def open_plan(page, url):
    """Open a plan and let its service worker install, as on a phone (a test that ended while
    the worker still fetched its files would race the live server's shutdown)."""
    response = page.goto(url, wait_until="load")
    page.wait_for_function("() => !!navigator.serviceWorker.controller"
                           " && navigator.serviceWorker.controller.state === 'activated'")
    return response


def open_day(live_server, page, day, **fields):
    """A session treated `day` days ago (in its own time zone), opened on the phone."""
    session = live_server.create_session(hours_ago=day * 24, **fields)
    assert session.day == day, "the session is not on the day this test is about"
    open_plan(page, session.url)
    return session


def card(page):
    return page.locator("#checkin")


def result(page):
    return page.locator("#checkin-result")


def answer(page, signs=(), note=None, send=True, **levels):
    """Fill the card as a client taps it: a level for every symptom (none unless given)."""
    for name, legend in LEGENDS.items():
        group = card(page).get_by_role("group", name=legend, exact=True)
        group.locator("label", has_text=re.compile(rf"^{levels.get(name, 'none')}$", re.IGNORECASE)).click()
        expect(group.get_by_label(levels.get(name, "none").capitalize(), exact=True)).to_be_checked()
    for sign in signs:
        card(page).get_by_label(SIGNS[sign], exact=True).check()
    if note:
        card(page).get_by_label("Anything else for your clinic? (optional)").fill(note)
    if send:
        card(page).get_by_role("button", name="Send", exact=True).click()


def outcome(page):
    return result(page).get_by_role("heading", level=3)


def check_ins(live_server, session):
    with live_server.app.app_context():
        treatment = treatments.by_token(session.token)
        return list(db.session.scalars(select(CheckIn).where(CheckIn.treatment_id == treatment.id)))


def queued(page):
    return page.evaluate("(key) => JSON.parse(localStorage.getItem('companion:checkin-queue:' + key) || '[]')",
                         page.locator("#plan").get_attribute("data-key"))


def save_card_screenshot(page, output_path, name):
    """The card as laid out on the page (an element screenshot would scroll it under the header)."""
    path = Path(output_path) / name
    clip_screenshot(page, card(page), path)
    assert path.is_file() and path.stat().st_size > 0


def go_offline(page, context):
    """No network, as the page knows it (the event comes a moment after the switch)."""
    context.set_offline(True)
    page.wait_for_function("() => !navigator.onLine")


def header_bottom(page):
    return page.evaluate("document.querySelector('.top').getBoundingClientRect().bottom")


# -- Done when: day 5, strong redness and warmth -> contact the clinic, and the clinic sees it --


def test_strong_redness_and_warmth_on_day_5_says_call_the_clinic_and_the_clinic_sees_it(
        live_server, page, page_errors, new_context, output_path):
    session = open_day(live_server, page, 5)
    expect(card(page).get_by_role("heading", name="How is your skin today?")).to_be_visible()
    save_card_screenshot(page, output_path, "checkin-form-390x844.png")

    with page.expect_response(lambda r: r.url.endswith("/api/v1/me/check-ins")
                              and r.request.method == "POST") as posted:
        answer(page, redness="strong", signs=["warmth"], note="Hot since this morning")
    assert posted.value.status == 201
    sent = posted.value.request.post_data_json
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", sent["client_id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", sent["answered_at"])

    expect(outcome(page)).to_have_text("Contact your clinic today")
    expect(result(page)).to_contain_text("Please contact your clinic today and tell them what you noticed.")
    call = result(page).get_by_role("link", name=f"Call {CLINIC} {PHONE}")
    expect(call).to_be_visible()
    expect(call).to_have_attribute("href", TEL)
    expect(result(page)).to_be_focused()
    expect(card(page).locator("#checkin-form")).to_be_hidden()
    assert queued(page) == []
    save_card_screenshot(page, output_path, "checkin-contact-clinic-390x844.png")

    [row] = check_ins(live_server, session)
    assert (row.day, row.outcome, row.redness, row.signs) == (5, "contact_clinic", "strong", ["warmth"])
    assert row.client_id == sent["client_id"] and row.note == "Hot since this morning"

    # Opened again today: the outcome, not a new form.
    page.reload(wait_until="load")
    expect(outcome(page)).to_have_text("Contact your clinic today")
    expect(result(page).get_by_role("link", name=f"Call {CLINIC} {PHONE}")).to_be_visible()
    expect(card(page).locator("#checkin-form")).to_be_hidden()
    assert page_errors == [], "\n".join(page_errors)

    # The clinic's nurse signs in: the check-in waits on the dashboard, once.
    with live_server.app.app_context():
        clinic_id = treatments.by_token(session.token).clinic_id
        staff.create(clinic_id, EMAIL, PASSWORD)
        _, api_token = apitokens.issue(clinic_id, "test")
    nurse = new_context().new_page()  # a nurse on her phone: another browser than the client's
    nurse.goto(live_server.url + "/clinic/", wait_until="load")
    nurse.get_by_label("E-mail").fill(EMAIL)
    nurse.get_by_label("Password").fill(PASSWORD)
    nurse.get_by_role("button", name="Sign in").click()
    expect(nurse.get_by_role("heading", level=1, name="Dashboard")).to_be_visible()
    flagged = nurse.locator(".checkins-flagged .checkin")
    expect(flagged).to_have_count(1)
    expect(flagged).to_contain_text("Contact the clinic")
    expect(flagged).to_contain_text("Ana")
    expect(flagged).to_contain_text("day 5")
    expect(flagged).to_contain_text("Treated skin feels hot, or warmer than the day before.")
    expect(flagged).to_contain_text("Hot since this morning")

    response = nurse.request.get(live_server.url + "/api/v1/check-ins?flagged=true",
                                 headers={"Authorization": f"Bearer {api_token}"})
    assert response.status == 200
    items = response.json()["items"]
    assert [(i["session_id"], i["day"], i["outcome"]) for i in items] == [(row.treatment_id, 5, "contact_clinic")]


# -- Other outcomes ---------------------------------------------------------------------------


def test_mild_redness_on_day_1_is_expected(live_server, page, page_errors):
    open_day(live_server, page, 1)
    answer(page, redness="mild")
    expect(outcome(page)).to_have_text("This is expected")
    expect(result(page)).to_contain_text("What you describe is expected on day 1 after microneedling.")
    expect(result(page).get_by_role("link", name=re.compile("^Call"))).to_have_count(0)
    expect(result(page).locator("#checkin-emergency")).to_be_hidden()
    assert page_errors == [], "\n".join(page_errors)


def test_trouble_breathing_says_call_emergency_services_now(live_server, page, page_errors):
    session = open_day(live_server, page, 2)
    answer(page, signs=["breathing"])
    expect(outcome(page)).to_have_text("Call emergency services now")
    expect(result(page)).to_contain_text(LOCAL_EMERGENCY)
    # Nothing distracts from it: no clinic button, no second message.
    expect(result(page).get_by_role("link")).to_have_count(0)
    expect(result(page).locator("#checkin-message")).to_be_hidden()
    assert [c.outcome for c in check_ins(live_server, session)] == ["emergency"]
    assert page_errors == [], "\n".join(page_errors)


def test_emergency_shows_the_clinics_own_emergency_words(live_server, page):
    session = live_server.create_session(hours_ago=3 * 24)
    with live_server.app.app_context():
        treatments.by_token(session.token).clinic.emergency_text = "In Ireland call 112 or 999."
        db.session.commit()
    open_plan(page, session.url)
    answer(page, signs=["facial_swelling"])
    expect(outcome(page)).to_have_text("Call emergency services now")
    expect(result(page)).to_contain_text("In Ireland call 112 or 999.")
    expect(result(page)).not_to_contain_text("112 or 999).")


def test_every_symptom_needs_an_answer(live_server, page, page_errors):
    session = open_day(live_server, page, 4)
    card(page).get_by_role("group", name="Redness", exact=True).locator("label", has_text="Mild").click()
    card(page).get_by_role("button", name="Send", exact=True).click()
    expect(card(page).get_by_role("alert")).to_have_text(
        "Please choose an answer for redness, swelling, pain and itching (None if you have none).")
    # The rows still to answer are marked; the answered one is not.
    expect(card(page).locator(".checkin-scale.is-missing legend")).to_have_text(["Swelling", "Pain", "Itching"])
    expect(card(page).get_by_role("group", name="Swelling", exact=True).get_by_label("None")).to_be_focused()
    assert check_ins(live_server, session) == [] and queued(page) == []
    assert page_errors == [], "\n".join(page_errors)


@pytest.mark.parametrize("day", [0, 8, 12])
def test_no_check_in_outside_the_recovery_days(live_server, page, day):
    open_day(live_server, page, day)
    expect(page.get_by_role("heading", name="How is your skin today?")).to_have_count(0)
    expect(page.locator("#today")).to_be_visible()


def test_a_check_in_from_another_phone_today_shows_its_outcome(live_server, page):
    session = live_server.create_session(hours_ago=3 * 24)
    response = page.request.post(
        live_server.url + "/api/v1/me/check-ins", headers={"Authorization": f"Bearer {session.token}"},
        data={"redness": "moderate", "swelling": "none", "pain": "none", "itch": "none"})
    assert response.status == 201 and response.json()["outcome"] == "watch"
    open_plan(page, session.url)
    expect(outcome(page)).to_have_text("Keep an eye on it")
    expect(result(page)).to_contain_text("check in again tomorrow")

    # The client may answer again: a second check-in of the same day.
    result(page).get_by_role("button", name="Answer again").click()
    expect(card(page).get_by_role("group", name="Redness", exact=True).get_by_label("None")).to_be_focused()
    answer(page)
    expect(outcome(page)).to_have_text("This is expected")
    assert len(check_ins(live_server, session)) == 2


# -- Offline: kept on the phone, sent when back online, stored once --------------------------


def test_offline_check_in_is_kept_and_sent_once_when_back_online(
        live_server, page, context, page_errors, output_path):
    session = open_day(live_server, page, 3)  # the worker is in control
    page.reload(wait_until="load")  # through the worker: now the plan is saved
    go_offline(page, context)

    answer(page, redness="moderate", note="A bit red")
    expect(result(page).get_by_text(SAVED)).to_be_visible()
    expect(outcome(page)).to_have_text(CHECK_LATER)
    expect(result(page)).to_be_focused()
    [entry] = queued(page)
    assert entry["body"]["note"] == "A bit red"
    assert check_ins(live_server, session) == []
    save_card_screenshot(page, output_path, "checkin-queued-390x844.png")

    # Reopened while still offline: the saved plan still knows it is waiting.
    response = page.reload(wait_until="load")
    assert response.from_service_worker
    expect(result(page).get_by_text(SAVED)).to_be_visible()
    assert [e["client_id"] for e in queued(page)] == [entry["client_id"]]
    assert check_ins(live_server, session) == []

    with page.expect_response(lambda r: r.url.endswith("/api/v1/me/check-ins")
                              and r.request.method == "POST") as posted:
        context.set_offline(False)
    assert posted.value.status == 201
    assert posted.value.request.post_data_json["client_id"] == entry["client_id"]
    expect(outcome(page)).to_have_text("Keep an eye on it")  # moderate redness on day 3
    expect(result(page).get_by_text(SAVED)).to_be_hidden()
    expect(result(page).get_by_role("status")).to_have_text(f"Sent to {CLINIC}.")
    assert queued(page) == []
    [row] = check_ins(live_server, session)
    assert (row.client_id, row.day, row.outcome, row.note) == (entry["client_id"], 3, "watch", "A bit red")

    page.reload(wait_until="load")
    expect(outcome(page)).to_have_text("Keep an eye on it")
    page.wait_for_load_state("networkidle")
    assert len(check_ins(live_server, session)) == 1
    assert page_errors == [] or all("ERR_INTERNET_DISCONNECTED" in e for e in page_errors), page_errors


def test_a_lost_answer_is_sent_again_under_the_same_id_and_kept_once(live_server, new_context):
    """The server stored it but the phone never heard back: the resend is the same check-in."""
    # Routing sees every request only without a service worker in between.
    page = new_context(service_workers="block").new_page()
    session = live_server.create_session(hours_ago=4 * 24)
    page.goto(session.url, wait_until="load")
    posts = []

    def lose_the_answer(route):
        posts.append(route.request.post_data_json)
        route.fetch()  # reaches the server...
        route.abort("connectionreset")  # ...and the answer is lost on the way back
    page.route("**/api/v1/me/check-ins", lose_the_answer)

    answer(page, swelling="mild", signs=["fever"])
    expect(result(page).get_by_text(SAVED)).to_be_visible()
    # Offline guidance comes from the signs alone: a fever means the clinic, today.
    expect(outcome(page)).to_have_text("Contact your clinic today")
    expect(result(page).get_by_role("link", name=f"Call {CLINIC} {PHONE}")).to_have_attribute("href", TEL)
    assert len(check_ins(live_server, session)) == 1

    page.unroute("**/api/v1/me/check-ins")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/me/check-ins")
                              and r.request.method == "POST") as resent:
        page.evaluate("window.dispatchEvent(new Event('online'))")
    assert resent.value.status == 200  # the server already had it
    assert resent.value.request.post_data_json == posts[0]
    expect(outcome(page)).to_have_text("Contact your clinic today")
    expect(result(page).get_by_role("status")).to_have_text(f"Sent to {CLINIC}.")
    assert queued(page) == []
    assert len(check_ins(live_server, session)) == 1


def test_a_phone_clock_running_fast_is_dated_by_the_server_under_the_same_id(live_server, new_context):
    page = new_context(service_workers="block").new_page()  # every request seen, none via a worker
    session = live_server.create_session(hours_ago=4 * 24)
    page.clock.install(time=datetime.now(UTC) + timedelta(hours=2))
    page.clock.resume()  # timers run as usual, two hours ahead
    page.goto(session.url, wait_until="load")
    posts = []
    page.on("request", lambda r: posts.append(r.post_data_json) if r.method == "POST" else None)
    with page.expect_response(lambda r: r.request.method == "POST" and r.status == 201):
        answer(page, redness="mild")
    expect(outcome(page)).to_have_text("This is expected")
    assert [("answered_at" in p, p["client_id"]) for p in posts] == [
        (True, posts[0]["client_id"]), (False, posts[0]["client_id"])]
    [row] = check_ins(live_server, session)
    assert abs(row.answered_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert queued(page) == []


def test_offline_emergency_sign_says_call_emergency_services_without_the_server(live_server, page, context):
    session = open_day(live_server, page, 2)
    go_offline(page, context)
    answer(page, signs=["facial_swelling"])
    expect(outcome(page)).to_have_text("Call emergency services now")
    expect(result(page)).to_contain_text(LOCAL_EMERGENCY)
    expect(result(page).get_by_text(SAVED)).to_be_visible()
    assert check_ins(live_server, session) == []
    context.set_offline(False)
    expect(result(page).get_by_role("status")).to_have_text(f"Sent to {CLINIC}.")
    assert [c.outcome for c in check_ins(live_server, session)] == ["emergency"]


# -- The check-in reminder opens the card ------------------------------------------------------


def checkin_reminder_payload(live_server, session):
    """The push the server sends for today's check-in reminder."""
    now = datetime.now(UTC)
    with live_server.app.app_context():
        treatment = treatments.by_token(session.token)
        protocol = treatments.protocol_for(treatment)
        [item] = [r for r in reminderplan.plan_reminders(
            treatments.plan_for(treatment, now), reminders.preferences(treatment),
            protocol.expected_recovery_days) if r.kind == "checkin" and r.day == session.day]
        reminder = Reminder(treatment_id=treatment.id, key=item.key, kind=item.kind, day=item.day,
                            due_at=item.due_at, stale_at=item.stale_at, title=item.title, body=item.body)
        return reminders.payload(reminder, treatment)


def assert_checkin_in_view(page):
    expect(page.locator("#today")).to_be_visible()
    expect(page.locator("#timeline")).to_be_hidden()
    expect(page.get_by_role("link", name="Today")).to_have_attribute("aria-current", "page")
    heading = card(page).get_by_role("heading", name="How is your skin today?")
    expect(heading).to_be_in_viewport()
    page.wait_for_function("() => scrollY > 0")  # it had to scroll: the card is below the first screen
    # Not under the sticky header.
    assert card(page).bounding_box()["y"] >= header_bottom(page) - 1


def test_the_check_in_reminder_opens_the_check_in_card(live_server, page, new_context, output_path):
    session = live_server.create_session(hours_ago=4 * 24)
    payload = checkin_reminder_payload(live_server, session)
    assert payload["url"] == f"{session.path}#checkin"
    assert payload["title"] == "How is your skin today?"

    # Tapped while the plan is open on another tab (the worker navigates the open page).
    open_plan(page, session.url + "#timeline")
    expect(page.locator("#timeline")).to_be_visible()
    page.goto(live_server.url + payload["url"])
    assert_checkin_in_view(page)

    # Tapped with no plan open: a new window at that address.
    fresh = new_context().new_page()
    open_plan(fresh, live_server.url + payload["url"])
    assert_checkin_in_view(fresh)
    fresh.screenshot(path=Path(output_path) / "checkin-opened-by-reminder-390x844.png")


# -- Accessibility, dark mode, strict CSP ------------------------------------------------------


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_check_in_card_and_every_outcome_are_accessible(
        live_server, new_context, assert_accessible, output_path, scheme):
    context = new_context(color_scheme=scheme)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    open_day(live_server, page, 5)
    assert_accessible(page, f"the check-in form ({scheme})")
    save_card_screenshot(page, output_path, f"checkin-form-390x844-{scheme}.png")

    card(page).get_by_role("button", name="Send", exact=True).click()  # nothing chosen yet
    expect(card(page).get_by_role("alert")).to_be_visible()
    assert_accessible(page, f"the check-in form with a missing answer ({scheme})")
    save_card_screenshot(page, output_path, f"checkin-missing-390x844-{scheme}.png")
    answer(page, redness="moderate", pain="mild", signs=["warmth"], note="Warm on the cheeks", send=False)
    assert_accessible(page, f"the check-in form filled in ({scheme})")
    save_card_screenshot(page, output_path, f"checkin-filled-390x844-{scheme}.png")
    card(page).get_by_label(SIGNS["warmth"], exact=True).uncheck()

    states = [
        ("expected", {"redness": "mild"}, "This is expected"),
        ("watch", {"redness": "moderate", "itch": "mild"}, "Keep an eye on it"),
        ("contact-clinic", {"redness": "strong", "signs": ["warmth"]}, "Contact your clinic today"),
        ("emergency", {"signs": ["breathing"]}, "Call emergency services now"),
    ]
    for i, (name, answers, heading) in enumerate(states):
        if i:
            result(page).get_by_role("button", name="Answer again").click()
        answer(page, **answers)
        expect(outcome(page)).to_have_text(heading)
        assert_accessible(page, f"the check-in outcome {name} ({scheme})")
        save_card_screenshot(page, output_path, f"checkin-{name}-390x844-{scheme}.png")

    go_offline(page, context)
    result(page).get_by_role("button", name="Answer again").click()
    answer(page, signs=["pus"])
    expect(result(page).get_by_text(SAVED)).to_be_visible()
    assert_accessible(page, f"a check-in saved on the phone ({scheme})")
    save_card_screenshot(page, output_path, f"checkin-queued-sign-390x844-{scheme}.png")
    context.set_offline(False)
    expect(result(page).get_by_role("status")).to_have_text(f"Sent to {CLINIC}.")
    assert errors == []


def test_check_in_works_under_a_strict_content_security_policy(live_server, page):
    """No inline script, handler or style: the card works with the policy the plan will get."""
    policy = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
              "connect-src 'self'; object-src 'none'; base-uri 'none'")
    session = live_server.create_session(hours_ago=5 * 24)
    violations = serve_with_policy(page, session.url, policy)
    response = open_plan(page, session.url)
    assert response.headers["content-security-policy"] == policy

    answer(page, redness="strong", signs=["warmth"])
    expect(outcome(page)).to_have_text("Contact your clinic today")
    result(page).get_by_role("button", name="Answer again").click()
    answer(page, signs=["breathing"])
    expect(outcome(page)).to_have_text("Call emergency services now")
    assert len(check_ins(live_server, session)) == 2
    assert violations == []
    assert json.loads(page.locator("#plan-data").text_content())["clinic"]["phone"] == PHONE
