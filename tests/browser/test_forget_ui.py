""""Delete everything about me" in a real phone-sized Chromium: after a confirming step the
server forgets the client, and this phone forgets the plan: its saved copy (an offline reload
no longer shows it), the check-offs, the check-in outcome and the photo diary."""
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pagecheck import clip_screenshot
from playwright.sync_api import expect
from sqlalchemy import func, select
from test_checkin_ui import answer, open_plan, outcome
from test_diary import fake_camera_file, photo_name, stored_photos, strip, take_photo
from test_staff_flow import EMAIL, PASSWORD, sign_in, tablet_context  # noqa: F401 (a fixture)

from companion import staff, treatments
from companion.extensions import db
from companion.models import CheckIn, DeletedSession, PushSubscription, Reminder, Treatment

pytestmark = pytest.mark.browser

NAME = "Zoraida"
DONE = "Everything about you is deleted"

#: what this phone keeps of the plan with short code `key`: saved pages, storage keys, diary
KEPT_HERE = """async ([token, key]) => {
  const plans = await caches.open("plans");
  const saved = (await plans.keys()).map((r) => new URL(r.url).pathname)
    .filter((p) => p === "/s/" + token || p.startsWith("/s/" + token + "/"));
  const stored = Object.keys(localStorage).filter((k) => k.endsWith(":" + key));
  const diary = (await indexedDB.databases()).some((db) => db.name === "companion-diary-" + key);
  return { saved, stored, diary };
}"""


def kept_here(page, session):
    return page.evaluate(KEPT_HERE, [session.token, session.short_code])


def server_rows(live_server, session):
    """Rows about this client on the server, per table, and its tombstones."""
    with live_server.app.app_context():
        ids = list(db.session.scalars(select(Treatment.id).where(Treatment.token == session.token)))
        counts = {model.__tablename__: db.session.scalar(
            select(func.count()).select_from(model).where(model.treatment_id.in_(ids)))
            for model in (CheckIn, Reminder, PushSubscription)}
        stones = [(d.deleted_by,) for d in db.session.scalars(select(DeletedSession))]
        return {"sessions": len(ids), **counts}, stones


def forget_card(page):
    return page.locator("#forget")


def screenshot(page, output_path, name):
    path = Path(output_path) / name
    page.screenshot(path=path, full_page=True)
    assert path.is_file() and path.stat().st_size > 0


def use_the_plan(live_server, page, tmp_path):
    """What a client leaves on a phone and the server in two days: a saved plan, a ticked step,
    a check-in, a photo."""
    session = live_server.create_session(client_name=NAME, hours_ago=48)
    open_plan(page, session.url)
    page.reload(wait_until="load")  # through the worker: now the plan is saved
    page.locator("#checklist").get_by_role("checkbox").first.check()
    answer(page, redness="mild")
    expect(outcome(page)).to_have_text("This is expected")
    take_photo(page, fake_camera_file(tmp_path / "IMG_0001.jpg", redness=.5))
    expect(strip(page).get_by_role("img", name=photo_name(session.day))).to_be_visible()
    here = kept_here(page, session)
    assert here["saved"] == [session.path] and here["diary"]
    assert {k.rsplit(":", 1)[0] for k in here["stored"]} == {"companion:checks",
                                                             "companion:checkin-last"}
    rows, _ = server_rows(live_server, session)
    assert rows["sessions"] == 1 and rows["check_ins"] == 1
    return session


def test_delete_everything_forgets_the_client_on_the_server_and_on_this_phone(
        live_server, page, context, page_errors, assert_accessible, output_path, tmp_path):
    session = use_the_plan(live_server, page, tmp_path)
    card = forget_card(page)
    start = card.get_by_role("button", name="Delete everything about me")
    expect(card.get_by_role("heading", name="Your data")).to_be_visible()

    # Offline it cannot even start: nothing would be deleted anywhere.
    context.set_offline(True)
    page.wait_for_function("() => !navigator.onLine")
    expect(start).to_be_disabled()
    expect(card.get_by_text("You are offline. Deleting needs a connection")).to_be_visible()
    context.set_offline(False)
    page.wait_for_function("() => navigator.onLine")
    expect(start).to_be_enabled()

    # A confirming step; cancelling it changes nothing.
    start.click()
    expect(page.locator("#forget-confirm-text")).to_be_focused()
    expect(card.get_by_text("Delete everything about you?")).to_be_visible()
    assert_accessible(page, "the plan asking to confirm deleting everything")
    card.get_by_role("button", name="Cancel").click()
    expect(start).to_be_focused()
    assert server_rows(live_server, session)[0]["sessions"] == 1

    start.click()
    clip_screenshot(page, card, Path(output_path) / "forget-confirm-390x844.png")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/me")) as deleted:
        card.get_by_role("button", name="Yes, delete everything").click()
    assert deleted.value.status == 204 and deleted.value.request.method == "DELETE"

    heading = page.get_by_role("heading", name=DONE, level=1)
    expect(heading).to_be_visible()
    expect(heading).to_be_focused()
    expect(page.get_by_text(f"Hi {NAME}")).to_be_hidden()
    expect(page.get_by_role("navigation", name="Plan sections")).to_be_hidden()
    assert page.title() == DONE
    assert page.locator("#plan-data").count() == 0, "the plan's data left the page too"
    assert_accessible(page, "the page after deleting everything")
    screenshot(page, output_path, "forget-done-390x844.png")

    # The server keeps nothing about the client: one tombstone per session, by the client.
    rows, stones = server_rows(live_server, session)
    assert rows == {"sessions": 0, "check_ins": 0, "reminders": 0, "push_subscriptions": 0}
    assert stones == [("client",)]
    # This phone keeps nothing of the plan.
    assert kept_here(page, session) == {"saved": [], "stored": [], "diary": False}
    assert stored_photos(page, session) is None

    # Offline, the link no longer opens the plan: the start page comes from the shell.
    context.set_offline(True)
    response = page.goto(session.url)
    assert response is not None and response.from_service_worker
    expect(page.get_by_role("heading", level=1)).to_have_text("Your aftercare plan")
    expect(page.get_by_text(NAME)).to_have_count(0)
    context.set_offline(False)
    response = page.goto(session.url)
    assert response.status == 404
    expect(page.get_by_text(NAME)).to_have_count(0)
    assert [e for e in page_errors if "404" not in e and "DISCONNECTED" not in e] == []


def test_nothing_is_deleted_when_the_server_cannot_be_reached(live_server, page, tmp_path):
    session = use_the_plan(live_server, page, tmp_path)
    page.route("**/api/v1/me", lambda route: route.abort("internetdisconnected"))
    card = forget_card(page)
    card.get_by_role("button", name="Delete everything about me").click()
    card.get_by_role("button", name="Yes, delete everything").click()
    expect(card.get_by_role("alert")).to_have_text(
        "Nothing was deleted: this phone could not reach the server. "
        "Please try again when you are online.")
    expect(page.get_by_text(f"Hi {NAME}")).to_be_visible()
    expect(card.get_by_role("button", name="Yes, delete everything")).to_be_enabled()
    here = kept_here(page, session)
    assert here["saved"] == [session.path] and here["diary"] and len(here["stored"]) == 2
    assert server_rows(live_server, session)[0]["sessions"] == 1


def test_a_refusal_by_the_server_deletes_nothing_here_either(live_server, page, tmp_path):
    session = use_the_plan(live_server, page, tmp_path)
    page.route("**/api/v1/me", lambda route: route.fulfill(
        status=503, content_type="application/json",
        body='{"error": "busy", "message": "busy"}'))
    card = forget_card(page)
    card.get_by_role("button", name="Delete everything about me").click()
    card.get_by_role("button", name="Yes, delete everything").click()
    expect(card.get_by_role("alert")).to_contain_text("Nothing was deleted: the server could not")
    here = kept_here(page, session)
    assert here["saved"] == [session.path] and here["diary"] and len(here["stored"]) == 2


def test_deleting_everything_reads_in_spanish(live_server, page):
    session = live_server.create_session(client_name=NAME)
    open_plan(page, session.url + "?lang=es")
    card = forget_card(page)
    card.get_by_role("button", name="Borrar todos mis datos").click()
    card.get_by_role("button", name="Sí, borrar todo").click()
    expect(page.get_by_role("heading", name="Todos tus datos están borrados")).to_be_focused()


# -- The clinic's side -------------------------------------------------------------------------


def test_staff_see_a_forgotten_session_and_delete_another_on_accessible_pages(
        live_server, page, tablet_context, assert_accessible, output_path):
    forgotten = live_server.create_session(client_name=NAME)
    with live_server.app.app_context():
        clinic = db.session.scalar(select(Treatment).where(Treatment.token == forgotten.token)).clinic
        forgotten_id = db.session.scalar(select(Treatment.id).where(Treatment.token == forgotten.token))
        kept_id = treatments.create(clinic, client_name="Bea",
                                    treated_at=datetime.now(timezone.utc) - timedelta(hours=5)).id
        staff.create(clinic.id, EMAIL, PASSWORD)
    open_plan(page, forgotten.url)
    forget_card(page).get_by_role("button", name="Delete everything about me").click()
    forget_card(page).get_by_role("button", name="Yes, delete everything").click()
    expect(page.get_by_role("heading", name=DONE)).to_be_visible()

    tablet = tablet_context().new_page()
    sign_in(tablet, live_server.url)
    expect(tablet.locator(f'[data-deleted="{forgotten_id}"]')).to_contain_text(
        "Deleted by the client on")
    tablet.goto(f"{live_server.url}/clinic/sessions/{kept_id}")
    tablet.get_by_role("link", name="Delete this session's data…").click()
    expect(tablet.get_by_role("heading", level=1, name="Delete Bea's data?")).to_be_visible()
    assert_accessible(tablet, "the confirming page of deleting a session")
    tablet.screenshot(path=Path(output_path) / "erase-confirm-1024.png", full_page=True)
    tablet.get_by_role("button", name="Yes, delete everything").click()
    expect(tablet.get_by_role("heading", level=1, name="Dashboard")).to_be_visible()
    expect(tablet.get_by_text(f"Session {kept_id} and everything about it are deleted.")).to_be_visible()
    deleted = tablet.locator(f'[data-deleted="{kept_id}"]')
    expect(deleted).to_contain_text("Deleted by the clinic on")
    assert_accessible(tablet, "the dashboard listing deleted sessions")
    tablet.screenshot(path=Path(output_path) / "dashboard-deleted-1024.png", full_page=True)
    for name in (NAME, "Bea"):
        expect(tablet.get_by_text(name)).to_have_count(0)
    deleted.get_by_role("link").click()
    expect(tablet.get_by_role("heading", level=2)).to_contain_text("Deleted by the clinic on")
    assert_accessible(tablet, "a deleted session's page")
