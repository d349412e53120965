"""The photo diary in a real phone-sized Chromium: a photo from a fake camera file is kept in this
phone's IndexedDB, shown offline and side by side, never sent anywhere, and deleted on request."""
import base64
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pagecheck import clip_screenshot, serve_with_policy
from PIL import Image, ImageDraw
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PRIVATE = "Photos stay on this phone. Nothing is uploaded."

#: every photo of one plan's diary, as the page keeps them (bytes as base64 for Pillow)
STORED_PHOTOS = """async (name) => {
  if (!(await indexedDB.databases()).some((db) => db.name === name)) return null;
  const db = await new Promise((resolve, reject) => {
    const req = indexedDB.open(name);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  try {
    if (!db.objectStoreNames.contains("photos")) return [];
    const all = await new Promise((resolve, reject) => {
      const req = db.transaction("photos").objectStore("photos").getAll();
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    const b64 = (buffer) => {
      const bytes = new Uint8Array(buffer);
      let text = "";
      for (let i = 0; i < bytes.length; i += 0x8000) {
        text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
      }
      return btoa(text);
    };
    return all.map((p) => ({ day: p.day, date: p.date, type: p.type, width: p.width,
                             height: p.height, size: p.bytes.byteLength, bytes: b64(p.bytes) }));
  } finally {
    db.close();
  }
}"""


def fake_camera_file(path, redness=0.0, size=(1512, 2016)):
    """A front-camera-sized portrait JPEG: a face-like oval against a wall, redder on early days."""
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(0, height, 16):
        shade = 170 + int(50 * y / height)
        draw.rectangle([0, y, width, y + 16], fill=(shade - 12, shade - 4, shade))
    draw.ellipse([width * .08, height * .78, width * .92, height * 1.3], fill=(58, 86, 104))
    calm, red = (226, 186, 160), (232, 138, 128)
    skin = tuple(round(c + (r - c) * redness) for c, r in zip(calm, red))
    draw.ellipse([width * .22, height * .16, width * .78, height * .72], fill=skin)
    for x in (.38, .62):
        draw.ellipse([width * (x - .04), height * .38, width * (x + .04), height * .42], fill=(60, 45, 40))
    draw.arc([width * .4, height * .5, width * .6, height * .6], 20, 160, fill=(150, 80, 80), width=12)
    image.save(path, "JPEG", quality=92)
    return Path(path)


def card(page):
    return page.locator("#diary")


def strip(page):
    return page.locator("#diary-strip")


def compare(page):
    return page.locator("#diary-compare")


def photo_name(day):
    return f"Your photo, day {day}"


def take_photo(page, path):
    """What the camera hands back after "Take today's photo"."""
    page.get_by_label("Take today's photo").or_(page.get_by_label("Retake today's photo")).set_input_files(path)


def stored_photos(page, session):
    """The diary's records in IndexedDB, or None when its database does not exist."""
    return page.evaluate(STORED_PHOTOS, f"companion-diary-{session.short_code}")


def is_drawn(image):
    return image.evaluate("img => img.complete && img.naturalWidth > 0")


def record_requests(context):
    """Every request the page or its worker makes, with method and body."""
    seen = []
    context.on("request", lambda r: seen.append((r.method, r.url, r.post_data_buffer)))
    return seen


def assert_nothing_uploaded(requests):
    sending = [(method, url, len(body or b"")) for method, url, body in requests
               if method not in ("GET", "HEAD") or body]
    assert sending == [], f"requests that send something: {sending}"


def save_card_screenshot(page, output_path, name):
    """The card as laid out on the page (an element screenshot would scroll it under the header)."""
    path = Path(output_path) / name
    box = clip_screenshot(page, card(page), path)
    with Image.open(path) as image:
        assert image.width == round(box["width"] * 3), "not a 390x844 @3x screenshot"


def open_diary(page, session):
    page.goto(session.url, wait_until="load")
    expect(card(page).get_by_role("heading", name="Photo diary", level=2)).to_be_visible()
    expect(card(page)).to_contain_text(PRIVATE)


# -- Taking, keeping, showing ------------------------------------------------------------------


def test_a_photo_is_kept_on_this_phone_and_shown_offline_without_any_upload(
        live_server, page, context, page_errors, wait_for_service_worker, assert_accessible,
        output_path, tmp_path):
    session = live_server.create_session()
    requests = record_requests(context)
    open_diary(page, session)
    wait_for_service_worker(page)
    expect(card(page).get_by_text("Same place, same light")).to_be_visible()
    expect(card(page).get_by_role("img")).to_have_count(0)
    assert_accessible(page, "the today tab with an empty photo diary")
    save_card_screenshot(page, output_path, "diary-empty-390x844.png")

    context.set_offline(True)
    camera_file = fake_camera_file(tmp_path / "IMG_0001.jpg", redness=.8)
    take_photo(page, camera_file)
    thumbnail = strip(page).get_by_role("img", name=photo_name(session.day), exact=True)
    expect(thumbnail).to_be_visible()
    assert is_drawn(thumbnail)
    expect(page.locator("#diary-today")).to_have_text(
        f"Today's photo (day {session.day}) is kept on this phone. A new one replaces it.")
    expect(card(page).get_by_text("Retake today's photo")).to_be_visible()

    # In IndexedDB: today's day and date, downscaled to at most 1080 px and re-encoded as JPEG.
    today = page.locator("#today").get_attribute("data-date")
    stored = stored_photos(page, session)
    assert [(p["day"], p["date"], p["type"]) for p in stored] == [(session.day, today, "image/jpeg")]
    kept = base64.b64decode(stored[0]["bytes"])
    assert stored[0]["size"] == len(kept) > 0
    with Image.open(io.BytesIO(kept)) as image:
        assert image.format == "JPEG"
        assert image.size == (stored[0]["width"], stored[0]["height"]) == (810, 1080)
    assert len(kept) < camera_file.stat().st_size

    # Reopened with the network still off: the worker serves the plan, the phone the photo.
    response = page.reload(wait_until="load")
    assert response is not None and response.from_service_worker
    expect(thumbnail).to_be_visible()
    assert is_drawn(thumbnail)
    side_by_side = compare(page).get_by_role("img", name=photo_name(session.day), exact=True)
    expect(side_by_side).to_be_visible()
    assert is_drawn(side_by_side)
    assert side_by_side.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [810, 1080]
    expect(compare(page)).to_contain_text(f"Day {session.day}")
    expect(card(page).get_by_text("Take photos on the next days to see them side by side.")).to_be_visible()
    assert_accessible(page, "the today tab with one diary photo, offline")
    save_card_screenshot(page, output_path, "diary-one-photo-390x844.png")

    assert_nothing_uploaded(requests)

    # Deleting asks first, then leaves nothing behind, also after reopening.
    card(page).get_by_role("button", name="Delete all photos on this phone").click()
    expect(card(page).get_by_text("Delete all photos on this phone?")).to_be_visible()
    save_card_screenshot(page, output_path, "diary-delete-confirm-390x844.png")
    card(page).get_by_role("button", name="Delete all photos", exact=True).click()
    expect(card(page).get_by_role("img")).to_have_count(0)
    expect(page.locator("#diary-status")).to_have_text("All photos of the diary are deleted from this phone.")
    assert stored_photos(page, session) is None
    page.reload(wait_until="load")
    expect(card(page).get_by_text("Take today's photo")).to_be_visible()
    expect(card(page).get_by_role("img")).to_have_count(0)
    assert stored_photos(page, session) is None
    assert_nothing_uploaded(requests)
    assert page_errors == [], "\n".join(page_errors)


def test_another_photo_the_same_day_replaces_it_only_when_asked(live_server, page, output_path, tmp_path):
    session = live_server.create_session()
    open_diary(page, session)
    take_photo(page, fake_camera_file(tmp_path / "first.jpg", redness=.9))
    expect(strip(page).get_by_role("img", name=photo_name(session.day))).to_be_visible()
    first = stored_photos(page, session)[0]["bytes"]

    take_photo(page, fake_camera_file(tmp_path / "second.jpg", redness=0))
    expect(card(page).get_by_text("Replace today's photo?")).to_be_visible()
    expect(card(page).get_by_role("img", name=f"Your new photo, day {session.day}")).to_be_visible()
    expect(page.locator("#diary-replace-text")).to_be_focused()
    save_card_screenshot(page, output_path, "diary-replace-390x844.png")
    card(page).get_by_role("button", name="Keep the old one").click()
    expect(card(page).get_by_text("Replace today's photo?")).to_be_hidden()
    assert [p["bytes"] for p in stored_photos(page, session)] == [first]

    take_photo(page, fake_camera_file(tmp_path / "third.jpg", redness=0))
    card(page).get_by_role("button", name="Replace it").click()
    expect(page.locator("#diary-today")).to_have_text(
        f"Today's photo (day {session.day}) is kept on this phone. A new one replaces it.")
    stored = stored_photos(page, session)
    assert len(stored) == 1 and stored[0]["day"] == session.day and stored[0]["bytes"] != first
    expect(strip(page).get_by_role("img")).to_have_count(1)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_days_are_compared_side_by_side_day_0_3_7_or_as_chosen(
        live_server, new_context, assert_accessible, output_path, tmp_path, scheme):
    # Treated minutes ago: the phone's clock then walks through the first week.
    session = live_server.create_session(hours_ago=0.05)
    start = datetime.now(timezone.utc)
    context = new_context(color_scheme=scheme)
    page = context.new_page()
    requests = record_requests(context)
    page.clock.install(time=start)
    open_diary(page, session)
    for day in (0, 1, 3, 5, 7):
        moment = start + timedelta(days=day - session.day)
        assert live_server.plan_at(session, moment).day == day
        page.clock.set_system_time(moment)
        take_photo(page, fake_camera_file(tmp_path / f"day-{day}.jpg", redness=max(0, 1 - day / 6)))
        expect(strip(page).get_by_role("img", name=photo_name(day), exact=True)).to_be_visible()

    expect(strip(page).get_by_role("img")).to_have_count(5)
    assert [p["day"] for p in stored_photos(page, session)] == [0, 1, 3, 5, 7]
    shots = compare(page).get_by_role("img")
    expect(shots).to_have_count(3)
    for i, day in enumerate((0, 3, 7)):
        expect(shots.nth(i)).to_have_accessible_name(photo_name(day))
        assert is_drawn(shots.nth(i))
    chips = page.locator("#diary-chips")
    for day, checked in ((0, True), (1, False), (3, True), (5, False), (7, True)):
        box = chips.get_by_label(f"Day {day}", exact=True)
        (expect(box).to_be_checked if checked else expect(box).not_to_be_checked)()
    expect(chips.get_by_label("Day 1", exact=True)).to_be_disabled()  # three at most
    assert_accessible(page, f"the photo diary with five photos ({scheme})")
    save_card_screenshot(page, output_path, f"diary-compare-390x844-{scheme}.png")

    chips.get_by_text("Day 7", exact=True).click()
    expect(shots).to_have_count(2)
    expect(chips.get_by_label("Day 1", exact=True)).to_be_enabled()
    chips.get_by_text("Day 5", exact=True).click()
    expect(shots).to_have_count(3)
    for i, day in enumerate((0, 3, 5)):
        expect(shots.nth(i)).to_have_accessible_name(photo_name(day))
    assert_nothing_uploaded(requests)


def test_each_plan_has_its_own_diary_and_other_code_can_delete_it(live_server, page, tmp_path):
    mine = live_server.create_session(client_name="Ana")
    other = live_server.create_session(client_name="Bea", clinic_name="Other Clinic")
    open_diary(page, mine)
    take_photo(page, fake_camera_file(tmp_path / "mine.jpg"))
    expect(strip(page).get_by_role("img")).to_have_count(1)

    open_diary(page, other)
    expect(card(page).get_by_text("Take today's photo")).to_be_visible()
    expect(card(page).get_by_role("img")).to_have_count(0)

    # What a later "forget me on this phone" calls.
    open_diary(page, mine)
    expect(strip(page).get_by_role("img")).to_have_count(1)
    page.evaluate("window.companionDiary.deleteAll()")
    expect(card(page).get_by_role("img")).to_have_count(0)
    assert stored_photos(page, mine) is None
    page.reload(wait_until="load")
    expect(card(page).get_by_text("Take today's photo")).to_be_visible()
    expect(card(page).get_by_role("img")).to_have_count(0)


def test_a_file_that_is_not_a_photo_is_refused_and_nothing_is_kept(live_server, page, tmp_path):
    session = live_server.create_session()
    open_diary(page, session)
    broken = tmp_path / "IMG_0003.jpg"
    broken.write_bytes(b"not a picture")
    take_photo(page, broken)
    expect(card(page).get_by_role("alert")).to_have_text(
        "This file is not a photo this browser can open. Please take the photo again.")
    expect(card(page).get_by_role("img")).to_have_count(0)
    assert stored_photos(page, session) is None
    # The camera works the next time.
    take_photo(page, fake_camera_file(tmp_path / "IMG_0004.jpg"))
    expect(strip(page).get_by_role("img", name=photo_name(session.day))).to_be_visible()
    expect(card(page).get_by_role("alert")).to_be_hidden()


def test_the_diary_works_under_a_strict_content_security_policy(live_server, page, context, tmp_path):
    """No inline script, handler or style; photos are shown from blob: URLs, which img-src allows."""
    policy = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
              "connect-src 'self'; object-src 'none'; base-uri 'none'")
    session = live_server.create_session()
    requests = record_requests(context)
    violations = serve_with_policy(page, session.url, policy)
    response = page.goto(session.url, wait_until="load")
    assert response.headers["content-security-policy"] == policy
    expect(card(page)).to_contain_text(PRIVATE)

    camera_file = fake_camera_file(tmp_path / "IMG_0002.jpg")
    take_photo(page, camera_file)
    shot = compare(page).get_by_role("img", name=photo_name(session.day))
    expect(shot).to_be_visible()
    assert is_drawn(shot)
    card(page).get_by_role("button", name="Delete all photos on this phone").click()
    card(page).get_by_role("button", name="Delete all photos", exact=True).click()
    expect(card(page).get_by_role("img")).to_have_count(0)
    assert violations == []
    # Online this time: still nothing sent.
    assert_nothing_uploaded(requests)
    assert not any(camera_file.read_bytes()[:4096] in (body or b"") for _, _, body in requests)


def test_the_diary_card_is_accessible_in_dark_mode(live_server, new_context, assert_accessible, output_path):
    session = live_server.create_session()
    page = new_context(color_scheme="dark").new_page()
    open_diary(page, session)
    assert_accessible(page, "the today tab with an empty photo diary (dark)")
    save_card_screenshot(page, output_path, "diary-empty-390x844-dark.png")
