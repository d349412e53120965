"""Care reminders in a real phone-sized Chromium: turning them on and off, preferences, and a
reminder made by the server, shown by the service worker and opening its day of the plan.

Chromium here cannot subscribe to a push service (TESTING.md): tests that need a subscription
give the page a fake PushManager whose subscription has real keys on an allowed endpoint, and
pushes go into the worker over CDP.
"""
import base64
import json
import os
import re
import secrets
from datetime import datetime, timezone
from pathlib import Path

import pytest
from pagecheck import clip_screenshot, serve_with_policy
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import expect
from sqlalchemy import select

from companion import reminders, subscriptions, treatments
from companion.extensions import db
from companion.models import PushSubscription, Reminder

pytestmark = pytest.mark.browser

#: a push service the server accepts in these tests; nothing is ever sent to it (no scheduler)
PUSH_SERVICE = "http://127.0.0.1:9"
FAILED = "Could not turn on reminders on this phone. Check your connection and try again."
IPHONE_SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")

#: PushManager as if a push service answered; the subscription survives reloads like a real one
FAKE_PUSH_MANAGER = """
(subscription) => {
  if (!window.PushManager) return;
  const KEY = "test:subscribed";
  const fake = () => ({
    endpoint: subscription.endpoint,
    expirationTime: null,
    options: { userVisibleOnly: true, applicationServerKey: null },
    toJSON: () => subscription,
    unsubscribe() {
      localStorage.removeItem(KEY);
      localStorage.setItem("test:unsubscribed", "yes");
      return Promise.resolve(true);
    },
  });
  PushManager.prototype.subscribe = function (options) {
    const key = new Uint8Array(options.applicationServerKey);
    localStorage.setItem("test:subscribed-with", JSON.stringify({
      userVisibleOnly: options.userVisibleOnly, key: btoa(String.fromCharCode(...key)) }));
    localStorage.setItem(KEY, "yes");
    return Promise.resolve(fake());
  };
  PushManager.prototype.getSubscription = function () {
    return Promise.resolve(localStorage.getItem(KEY) ? fake() : null);
  };
}
"""


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def browser_subscription():
    """What PushSubscription.toJSON() gives: an allowed endpoint, a real P-256 key, 16 auth bytes."""
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {"endpoint": f"{PUSH_SERVICE}/push/{secrets.token_urlsafe(16)}", "expirationTime": None,
            "keys": {"p256dh": b64url(point), "auth": b64url(os.urandom(16))}}


@pytest.fixture
def server(live_server):
    """The live server, accepting subscriptions on the test push service (config is read per request)."""
    config = live_server.app.config
    config["PUSH_ENDPOINT_ALLOWLIST"] = [*config["PUSH_ENDPOINT_ALLOWLIST"], PUSH_SERVICE]
    return live_server


def preferences(page, server, session):
    """What GET /api/v1/me/preferences says for this session, over real HTTP."""
    response = page.request.get(f"{server.url}/api/v1/me/preferences",
                                headers={"Authorization": f"Bearer {session.token}"})
    assert response.status == 200
    return response.json()


def stored_endpoints(server, session):
    with server.app.app_context():
        treatment = treatments.by_token(session.token)
        return list(db.session.scalars(select(PushSubscription.endpoint)
                                       .where(PushSubscription.treatment_id == treatment.id)))


def card(page):
    return page.locator("#reminders")


def turn_on_button(page):
    return card(page).get_by_role("button", name="Turn on care reminders")


def open_with_fake_push(server, page, context, subscription=None):
    """A session opened on a phone that allows notifications and can subscribe."""
    subscription = subscription or browser_subscription()
    session = server.create_session()
    context.grant_permissions(["notifications"], origin=server.url)
    page.add_init_script(f"({FAKE_PUSH_MANAGER})({json.dumps(subscription)})")
    page.goto(session.url, wait_until="load")
    return session, subscription


def turn_on(page):
    turn_on_button(page).click()
    expect(card(page).get_by_text("Reminders are on", exact=True)).to_be_visible()


def open_settings(page):
    settings = card(page).locator("#reminders-settings")
    if settings.get_attribute("open") is None:
        settings.locator("summary").click()
    expect(card(page).get_by_label("Morning", exact=True)).to_be_visible()


def save_card_screenshot(page, output_path, name):
    """The card as laid out on the page (an element screenshot would scroll it under the header)."""
    path = Path(output_path) / name
    clip_screenshot(page, card(page), path)
    assert path.is_file() and path.stat().st_size > 0


# -- Turning reminders on -------------------------------------------------------------------


def test_a_refused_permission_says_how_to_allow_it(
        server, page, page_errors, assert_accessible, output_path):
    session = server.create_session()
    page.goto(session.url, wait_until="load")
    expect(card(page).get_by_role("heading", name="Reminders")).to_be_visible()

    turn_on_button(page).click()  # nobody answers the prompt here: Chromium denies
    expect(card(page).get_by_text("Notifications are blocked for this plan.")).to_be_visible()
    expect(card(page)).to_contain_text("allow notifications for this site in your phone's settings")
    expect(turn_on_button(page)).to_be_hidden()
    assert preferences(page, server, session)["subscribed"] is False
    assert page_errors == [], "\n".join(page_errors)
    assert_accessible(page, "the today tab with notifications blocked")
    save_card_screenshot(page, output_path, "reminders-blocked-390x844.png")

    # Reopened later: still explains, and never asks again on its own.
    page.reload(wait_until="load")
    expect(card(page).get_by_text("Notifications are blocked for this plan.")).to_be_visible()
    assert page_errors == [], "\n".join(page_errors)


def test_a_browser_that_cannot_subscribe_says_so_and_can_try_again(server, page, context, page_errors):
    session = server.create_session()
    context.grant_permissions(["notifications"], origin=server.url)
    page.goto(session.url, wait_until="load")

    turn_on_button(page).click()  # a default context rejects subscribe() at once
    alert = card(page).get_by_role("alert")
    expect(alert).to_have_text(FAILED)
    expect(turn_on_button(page)).to_be_enabled()
    assert preferences(page, server, session)["subscribed"] is False
    # Chromium logs why it refused; anything else would be ours.
    ours = [e for e in page_errors if "does not support the Push API in incognito" not in e]
    assert ours == [], "\n".join(ours)


def test_a_subscribe_that_never_settles_times_out_with_a_clear_sentence(
        server, persistent_context, wait_for_service_worker):
    session = server.create_session()
    page = persistent_context.pages[0] if persistent_context.pages else persistent_context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    persistent_context.grant_permissions(["notifications"], origin=server.url)
    # The real subscribe(), noting when it was called.
    page.add_init_script("""{
      const subscribe = PushManager.prototype.subscribe;
      PushManager.prototype.subscribe = function (options) {
        window.__subscribing = true;
        return subscribe.call(this, options);
      };
    }""")
    page.goto(session.url, wait_until="load")
    wait_for_service_worker(page)
    page.clock.install()

    turn_on_button(page).click()
    page.wait_for_function("() => window.__subscribing === true", polling=100)
    page.wait_for_timeout(1000)
    assert not card(page).get_by_role("alert").is_visible(), "subscribe() settled after all"
    page.clock.run_for(16_000)  # the app gives subscribe() 15 s
    expect(card(page).get_by_role("alert")).to_have_text(FAILED)
    expect(turn_on_button(page)).to_be_enabled()
    assert errors == []


def test_turning_on_stores_this_phones_subscription(server, page, context, page_errors, output_path):
    session, subscription = open_with_fake_push(server, page, context)
    expect(turn_on_button(page)).to_be_visible()
    save_card_screenshot(page, output_path, "reminders-off-390x844.png")

    turn_on(page)
    expect(card(page).locator("#reminders-summary")).to_have_text(
        "Mornings at 08:00, evenings at 20:00, none between 21:30 and 07:30 (Europe/London).")
    expect(card(page).get_by_role("button", name="Turn off reminders on this phone")).to_be_visible()
    assert preferences(page, server, session)["subscribed"] is True
    assert stored_endpoints(server, session) == [subscription["endpoint"]]

    # It subscribed with the server's key, for notifications the person sees.
    used = json.loads(page.evaluate("localStorage.getItem('test:subscribed-with')"))
    key = page.request.get(f"{server.url}/api/v1/vapid-public-key").json()["publicKey"]
    assert used["userVisibleOnly"] is True
    assert base64.b64decode(used["key"]) == base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))

    # Reminders are planned now that the server can reach this phone.
    with server.app.app_context():
        treatment = treatments.by_token(session.token)
        assert db.session.scalars(select(Reminder).where(Reminder.treatment_id == treatment.id)).first()

    open_settings(page)
    save_card_screenshot(page, output_path, "reminders-on-390x844.png")
    assert page_errors == [], "\n".join(page_errors)


def test_preferences_are_saved_and_shown_after_a_reload(server, page, context, page_errors, output_path):
    session, _ = open_with_fake_push(server, page, context)
    turn_on(page)
    open_settings(page)
    expect(card(page).get_by_label("Time zone")).to_have_value("Europe/London")
    expect(card(page).get_by_label("Morning", exact=True)).to_have_value("08:00")

    card(page).get_by_label("Morning", exact=True).fill("07:15")
    card(page).get_by_label("Evening", exact=True).fill("21:00")
    card(page).get_by_label("From", exact=True).fill("22:30")
    card(page).get_by_label("To", exact=True).fill("06:45")
    card(page).get_by_role("button", name="Save").click()
    expect(card(page).get_by_role("status").filter(has_text="Saved")).to_be_visible()
    save_card_screenshot(page, output_path, "reminders-saved-390x844.png")
    saved = preferences(page, server, session)
    assert (saved["morning"], saved["evening"], saved["quiet_start"], saved["quiet_end"]) == (
        "07:15", "21:00", "22:30", "06:45")

    page.reload(wait_until="load")
    expect(card(page).get_by_text("Reminders are on", exact=True)).to_be_visible()
    open_settings(page)
    expect(card(page).get_by_label("Morning", exact=True)).to_have_value("07:15")
    expect(card(page).get_by_label("Evening", exact=True)).to_have_value("21:00")
    expect(card(page).get_by_label("From", exact=True)).to_have_value("22:30")
    expect(card(page).get_by_label("To", exact=True)).to_have_value("06:45")
    expect(card(page).locator("#reminders-summary")).to_contain_text("Mornings at 07:15")
    assert page_errors == [], "\n".join(page_errors)


def test_refused_preferences_are_explained_at_their_fields(server, page, context, output_path):
    session, _ = open_with_fake_push(server, page, context)
    turn_on(page)
    open_settings(page)
    zone = card(page).get_by_label("Time zone")
    zone.fill("Mars/Olympus_Mons")
    card(page).get_by_label("To", exact=True).fill("")
    card(page).get_by_role("button", name="Save").click()

    expect(card(page).locator("#reminders-form-error")).to_have_text("Please correct the fields marked above.")
    expect(card(page).locator("#reminders-timezone-error")).to_have_text(
        "Must be an IANA time zone such as Europe/London.")
    expect(zone).to_have_attribute("aria-invalid", "true")
    expect(zone).to_be_focused()
    expect(card(page).locator("#reminders-quiet_start-error")).to_contain_text("both a start and an end")
    assert preferences(page, server, session)["timezone"] == "Europe/London"
    save_card_screenshot(page, output_path, "reminders-errors-390x844.png")

    zone.fill("Europe/Paris")
    card(page).get_by_label("From", exact=True).fill("")
    card(page).get_by_role("button", name="Save").click()
    expect(card(page).get_by_role("status").filter(has_text="Saved")).to_be_visible()
    expect(zone).not_to_have_attribute("aria-invalid", "true")
    saved = preferences(page, server, session)
    assert (saved["timezone"], saved["quiet_start"], saved["quiet_end"]) == ("Europe/Paris", None, None)


def test_pausing_reminders_keeps_this_phone_and_says_paused(server, page, context):
    session, _ = open_with_fake_push(server, page, context)
    turn_on(page)
    open_settings(page)
    card(page).get_by_label("Send me care reminders").uncheck()
    card(page).get_by_role("button", name="Save").click()
    expect(card(page).get_by_text("Reminders are paused", exact=True)).to_be_visible()
    saved = preferences(page, server, session)
    assert saved["reminders"] is False and saved["subscribed"] is True

    # "Turn on" again from a fresh start un-pauses them.
    page.evaluate("localStorage.removeItem('test:subscribed')")
    page.reload(wait_until="load")
    turn_on(page)
    assert preferences(page, server, session)["reminders"] is True


def test_test_reminder_is_queued_and_confirmed(server, page, context):
    session, _ = open_with_fake_push(server, page, context)
    turn_on(page)
    with page.expect_response(lambda r: r.url.endswith("/api/v1/me/test-notification")) as sent:
        card(page).get_by_role("button", name="Send me a test reminder").click()
    assert sent.value.status == 202
    expect(card(page).locator("#reminders-test-status")).to_have_text(
        "Sent — it should arrive in a few seconds.")
    with server.app.app_context():
        treatment = treatments.by_token(session.token)
        kinds = db.session.scalars(select(Reminder.kind).where(
            Reminder.treatment_id == treatment.id, Reminder.state == "pending"))
        assert "test" in list(kinds)


def test_every_open_sends_the_subscription_again(server, page, context, page_errors):
    session, subscription = open_with_fake_push(server, page, context)
    turn_on(page)
    # The server lost it (e.g. a push service said 410 once): the next open restores it.
    with server.app.app_context():
        subscriptions.remove(treatments.by_token(session.token), subscription["endpoint"])
    assert stored_endpoints(server, session) == []

    with page.expect_response(lambda r: r.url.endswith("/api/v1/me/push-subscription")
                              and r.request.method == "PUT") as synced:
        page.reload(wait_until="load")
    assert synced.value.status == 201
    expect(card(page).get_by_text("Reminders are on", exact=True)).to_be_visible()
    assert stored_endpoints(server, session) == [subscription["endpoint"]]

    # Permission granted but the browser dropped the subscription: offer the button again.
    page.evaluate("localStorage.removeItem('test:subscribed')")
    page.reload(wait_until="load")
    expect(turn_on_button(page)).to_be_visible()
    assert page_errors == [], "\n".join(page_errors)


def test_turning_off_forgets_this_phone(server, page, context, page_errors):
    session, _ = open_with_fake_push(server, page, context)
    turn_on(page)
    card(page).get_by_role("button", name="Turn off reminders on this phone").click()
    expect(turn_on_button(page)).to_be_visible()
    expect(turn_on_button(page)).to_be_focused()
    assert preferences(page, server, session)["subscribed"] is False
    assert stored_endpoints(server, session) == []
    assert page.evaluate("localStorage.getItem('test:unsubscribed')") == "yes"
    page.reload(wait_until="load")
    expect(turn_on_button(page)).to_be_visible()
    assert page_errors == [], "\n".join(page_errors)


def test_reminders_work_under_a_strict_content_security_policy(server, page, context):
    """No inline script, handler or style: the card works with the policy the plan will get."""
    policy = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
              "connect-src 'self'; object-src 'none'; base-uri 'none'")
    session = server.create_session()
    context.grant_permissions(["notifications"], origin=server.url)
    page.add_init_script(f"({FAKE_PUSH_MANAGER})({json.dumps(browser_subscription())})")
    # the first load, before the worker controls the page
    violations = serve_with_policy(page, session.url, policy)
    response = page.goto(session.url, wait_until="load")
    assert response.headers["content-security-policy"] == policy

    turn_on(page)
    open_settings(page)
    card(page).get_by_label("Morning", exact=True).fill("07:45")
    card(page).get_by_role("button", name="Save").click()
    expect(card(page).get_by_role("status").filter(has_text="Saved")).to_be_visible()
    assert preferences(page, server, session)["morning"] == "07:45"
    assert violations == []


# -- Phones and browsers that cannot ----------------------------------------------------------


def test_iphone_in_safari_is_shown_how_to_add_the_plan_first(
        server, new_context, assert_accessible, output_path):
    session = server.create_session()
    page = new_context(user_agent=IPHONE_SAFARI).new_page()
    page.goto(session.url, wait_until="load")
    expect(card(page)).to_contain_text(
        "To get reminders on iPhone, first add this plan to your Home Screen")
    picture = card(page).get_by_role("img", name=re.compile(r"tap the Share button.*Add to Home Screen"))
    expect(picture).to_be_visible()
    assert page.evaluate("el => el.complete && el.naturalWidth > 0", picture.element_handle())
    expect(turn_on_button(page)).to_be_hidden()
    assert_accessible(page, "the today tab on an iPhone in Safari")
    save_card_screenshot(page, output_path, "reminders-iphone-390x844.png")


def test_iphone_home_screen_app_offers_reminders(server, new_context):
    session = server.create_session()
    page = new_context(user_agent=IPHONE_SAFARI).new_page()
    page.add_init_script("Object.defineProperty(Navigator.prototype, 'standalone', {get: () => true})")
    page.goto(session.url + "?app=1", wait_until="load")
    expect(turn_on_button(page)).to_be_visible()
    expect(card(page).get_by_text("first add this plan")).to_be_hidden()


def test_browser_without_push_says_reminders_are_not_available(server, page, page_errors):
    session = server.create_session()
    page.add_init_script("delete window.PushManager")
    page.goto(session.url, wait_until="load")
    expect(card(page).get_by_text("Reminders are not available in this browser.")).to_be_visible()
    expect(turn_on_button(page)).to_be_hidden()
    assert page_errors == [], "\n".join(page_errors)


def test_offline_the_card_says_reminders_change_when_online(
        server, page, context, wait_for_service_worker):
    session = server.create_session()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(session.url, wait_until="load")
    wait_for_service_worker(page)
    page.reload(wait_until="load")  # through the worker: now it is saved
    context.set_offline(True)
    page.reload(wait_until="load")
    expect(card(page).get_by_text("Reminders can be changed when you are online.")).to_be_visible()
    expect(turn_on_button(page)).to_be_hidden()

    context.set_offline(False)
    expect(turn_on_button(page)).to_be_visible()
    assert errors == []


# -- A reminder from the server, shown and tapped ---------------------------------------------


def deliver_push(context, page, origin, payload):
    """Push `payload` into the page's service worker, as a push service would."""
    cdp = context.new_cdp_session(page)
    registrations = []
    cdp.on("ServiceWorker.workerRegistrationUpdated",
           lambda event: registrations.extend(event["registrations"]))
    cdp.send("ServiceWorker.enable")
    for _ in range(50):
        ours = [r for r in registrations if r["scopeURL"] == origin + "/" and not r["isDeleted"]]
        if ours:
            break
        page.wait_for_timeout(100)
    assert ours, f"no service worker registration for {origin}: {registrations}"
    cdp.send("ServiceWorker.deliverPushMessage", {
        "origin": origin, "registrationId": ours[0]["registrationId"], "data": json.dumps(payload)})


def shown_notifications(page, tag):
    """The notifications the worker shows with this tag (the first read can be empty: poll)."""
    return page.evaluate("""async (tag) => {
      const registration = await navigator.serviceWorker.ready;
      for (let i = 0; i < 50; i++) {
        const shown = await registration.getNotifications({ tag });
        if (shown.length) return shown.map((n) => (
          { title: n.title, body: n.body, tag: n.tag, icon: n.icon, data: n.data }));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return [];
    }""", tag)


def server_reminder(server, session, today):
    """A reminder the server planned for this session, and the push payload it would send."""
    with server.app.app_context():
        treatment = treatments.by_token(session.token)
        subscriptions.save(treatment, browser_subscription(), server.app.config["PUSH_ENDPOINT_ALLOWLIST"])
        if today:
            reminders.queue_test(treatment, datetime.now(timezone.utc))
            query = select(Reminder).where(Reminder.kind == "test")
        else:
            # A day a few screens down the timeline, so that opening it has to scroll.
            query = (select(Reminder).where(Reminder.day >= session.day + 3, Reminder.day <= 10)
                     .order_by(Reminder.day.desc()))
        reminder = db.session.scalars(query.where(Reminder.treatment_id == treatment.id)).first()
        assert reminder is not None, "the server planned no reminder to test with"
        return reminder.day, reminders.payload(reminder, treatment)


@pytest.mark.parametrize("today", [False, True], ids=["a-later-day", "today"])
def test_a_reminder_from_the_server_is_shown_and_opens_its_day(
        server, page, context, wait_for_service_worker, today):
    session = server.create_session()
    day, payload = server_reminder(server, session, today)
    assert payload["url"] == f"{session.path}#day-{day}"
    assert (day == session.day) is today
    # Opened on another tab, so that the tap visibly changes it.
    page.goto(session.url + ("#timeline" if today else "#next"), wait_until="load")
    wait_for_service_worker(page)
    context.grant_permissions(["notifications"], origin=server.url)

    deliver_push(context, page, server.url, payload)
    shown = shown_notifications(page, payload["tag"])
    assert len(shown) == 1, shown
    notification = shown[0]
    assert (notification["title"], notification["body"], notification["tag"]) == (
        payload["title"], payload["body"], payload["tag"])
    assert notification["data"] == {"url": server.url + payload["url"]}
    assert re.fullmatch(re.escape(server.url) + r"/static/icons/icon-192\.png\?v=\w+", notification["icon"])

    # No CDP command taps a notification: run the worker's tap handler on it instead.
    worker = next(w for w in context.service_workers if w.url.startswith(server.url))
    worker.evaluate("""async (tag) => {
      const [notification] = await self.registration.getNotifications({ tag });
      await self.openNotification(notification);
    }""", payload["tag"])

    page.wait_for_url(f"{session.url}#day-{day}")
    assert shown_notifications_now(page, payload["tag"]) == 0, "the tapped notification stays"
    if today:
        expect(page.locator("#today")).to_be_visible()
        expect(page.locator("#timeline")).to_be_hidden()
        expect(page.get_by_role("link", name="Today")).to_have_attribute("aria-current", "page")
    else:
        item = page.locator(f"#day-{day}")
        expect(page.locator("#timeline")).to_be_visible()
        expect(page.get_by_role("link", name="Timeline")).to_have_attribute("aria-current", "page")
        expect(item.get_by_role("heading")).to_contain_text(f"Day {day}")
        expect(item).to_be_in_viewport()
        # Not hidden under the sticky header.
        header_bottom = page.evaluate("document.querySelector('.top').getBoundingClientRect().bottom")
        assert item.bounding_box()["y"] >= header_bottom - 1


def shown_notifications_now(page, tag):
    return page.evaluate("""async (tag) => {
      const registration = await navigator.serviceWorker.ready;
      return (await registration.getNotifications({ tag })).length;
    }""", tag)


def test_plan_opened_at_a_day_shows_that_day(server, page):
    session = server.create_session()
    later = session.day + 4
    page.goto(f"{session.url}#day-{later}", wait_until="load")
    expect(page.locator("#timeline")).to_be_visible()
    expect(page.locator(f"#day-{later}")).to_be_in_viewport()

    page.goto(f"{session.url}#day-{session.day}")
    expect(page.locator("#today")).to_be_visible()
    # Past the timeline: a reminder about the next session.
    page.goto(f"{session.url}#day-60")
    expect(page.locator("#next")).to_be_visible()
    page.goto(f"{session.url}#timeline")
    expect(page.locator("#timeline")).to_be_visible()


# -- Accessibility ------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_reminders_card_is_accessible_off_and_on(server, new_context, assert_accessible, output_path, scheme):
    context = new_context(color_scheme=scheme)
    page = context.new_page()
    open_with_fake_push(server, page, context)
    expect(turn_on_button(page)).to_be_visible()
    assert_accessible(page, f"the today tab with reminders off ({scheme})")

    turn_on(page)
    open_settings(page)
    assert_accessible(page, f"the today tab with reminders on and their settings open ({scheme})")
    save_card_screenshot(page, output_path, f"reminders-on-390x844-{scheme}.png")
