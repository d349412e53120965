"""The staff portal in a real Chromium: a nurse on a clinic tablet hands a client their plan."""
import re
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from companion import clinics, staff

pytestmark = pytest.mark.browser

EMAIL, PASSWORD = "nurse@calm.example", "correct horse battery"
#: a clinic's tablet in landscape; the conftest's own contexts are phones
TABLET = {"viewport": {"width": 1024, "height": 768}, "device_scale_factor": 1}


@pytest.fixture
def clinic_account(live_server):
    """A clinic with one staff account on the live server."""
    with live_server.app.app_context():
        clinic = clinics.create("Calm Skin Clinic", phone="+44 20 7946 0123", timezone="Europe/London")
        staff.create(clinic.id, EMAIL, PASSWORD)


@pytest.fixture
def tablet_context(browser):
    """new_context(**kwargs): contexts of the tablet's size (the phone defaults do not apply)."""
    contexts = []

    def make(**kwargs):
        context = browser.new_context(**{**TABLET, **kwargs})
        contexts.append(context)
        return context
    yield make
    for context in contexts:
        context.close()


def collect_errors(page):
    errors = []
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    return errors


def sign_in(page, base_url):
    page.goto(base_url + "/clinic/", wait_until="load")
    expect(page).to_have_url(re.compile(r"/clinic/login\?next=/clinic/$"))
    page.get_by_label("E-mail").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1, name="Dashboard")).to_be_visible()


def shot(page, output_path, name):
    path = Path(output_path) / name
    page.screenshot(path=path, full_page=True)
    assert path.is_file() and path.stat().st_size > 0
    return path


def test_nurse_registers_a_session_and_the_client_opens_it_from_the_qr_code(
        live_server, clinic_account, tablet_context, new_context, output_path):
    tablet = tablet_context().new_page()
    errors = collect_errors(tablet)
    sign_in(tablet, live_server.url)
    expect(tablet.locator(".portal-bar .brand")).to_have_text("Calm Skin Clinic")

    tablet.get_by_role("link", name="Register a session").click()
    expect(tablet.get_by_role("heading", level=1, name="Register a session")).to_be_visible()
    tablet.get_by_label("Client's first name or nickname").fill("Ana")
    tablet.get_by_label("Face").check()
    tablet.get_by_label("Neck").check()
    tablet.get_by_role("button", name="Register and show the QR code").click()

    expect(tablet.get_by_role("heading", level=1, name="Ana's aftercare link")).to_be_visible()
    qr = tablet.locator(".qr-box svg.qr")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box["width"] >= 300, f"the QR code should be large on a tablet, is {box['width']} px"
    link = tablet.locator("#client-link").inner_text()
    assert re.fullmatch(re.escape(live_server.url) + r"/s/[A-Za-z0-9_-]{32}", link)
    expect(tablet.locator("#short-code")).to_have_text(re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}$"))

    screenshot = shot(tablet, output_path, "staff-result-1024x768.png")
    with Image.open(screenshot) as image:
        assert image.size[0] == 1024
        decoded = [r.text for r in zxingcpp.read_barcodes(image)]
    assert decoded == [link], "the QR code on screen must carry exactly the client's link"

    phone = new_context().new_page()  # the conftest's phone: 390x844 at 3x
    phone_errors = collect_errors(phone)
    response = phone.goto(decoded[0], wait_until="load")
    assert response.status == 200
    expect(phone.get_by_role("heading", level=1)).to_contain_text("Hi Ana")
    plan = shot(phone, output_path, "client-plan-390x844.png")
    with Image.open(plan) as image:
        assert image.size[0] == 390 * 3

    # The nurse sees that the link was opened.
    tablet.reload()
    expect(tablet.locator("#state-opened")).to_have_text(re.compile(r"^Yes, "))
    assert errors == [] and phone_errors == [], "\n".join(errors + phone_errors)


def test_copy_print_and_revoke(live_server, clinic_account, tablet_context, output_path):
    context = tablet_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    errors = collect_errors(page)
    sign_in(page, live_server.url)
    page.get_by_role("link", name="Register", exact=True).click()
    page.get_by_label("Client's first name or nickname").fill("Bea")
    page.get_by_role("button", name="Register and show the QR code").click()
    link = page.locator("#client-link").inner_text()

    page.get_by_role("button", name="Copy link").click()
    expect(page.locator('[data-copied-for="client-link"]')).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == link

    page.get_by_role("link", name="Print aftercare card").click()
    expect(page.locator(".ac-code")).to_have_text(re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}$"))
    expect(page.locator(".ac-rules li")).to_have_count(3)
    page.evaluate("window.print = () => { window.__printed = true; }")
    page.get_by_role("button", name="Print").click()
    assert page.evaluate("window.__printed") is True
    # On paper only the card is left, on an A6 page.
    page.emulate_media(media="print")
    expect(page.locator(".portal-top")).to_be_hidden()
    expect(page.locator(".no-print")).to_be_hidden()
    width = page.locator(".aftercare-card").bounding_box()["width"]
    assert abs(width - 105 / 25.4 * 96) < 2, f"the card is {width} CSS px wide, not 105 mm"
    clipped = page.evaluate("(c => c.scrollHeight - c.clientHeight)(document.querySelector('.aftercare-card'))")
    assert clipped <= 0, f"{clipped} px of the card do not fit on the A6 page"
    with Image.open(shot(page, output_path, "aftercare-card-print.png")) as image:
        assert [r.text for r in zxingcpp.read_barcodes(image)] == [link]
    page.emulate_media(media=None)
    # Printed to PDF as the browser's print dialog would: one A6 page (105 x 148 mm).
    pdf = page.pdf(path=Path(output_path) / "aftercare-card.pdf", prefer_css_page_size=True,
                   print_background=True)
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) == 1, "the card must fit on one page"
    width, height = (float(n) for n in re.search(
        rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf).groups())
    assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == (105, 148)

    page.go_back()
    page.get_by_role("link", name="Revoke link…").click()
    page.get_by_role("button", name="Yes, withdraw the link").click()
    expect(page.get_by_role("heading", name="This link is withdrawn")).to_be_visible()
    expect(page.locator("svg.qr")).to_have_count(0)
    assert page.request.get(link).status == 410
    assert errors == [], "\n".join(errors)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_staff_page_is_accessible(live_server, clinic_account, tablet_context,
                                        assert_accessible, output_path, scheme):
    page = tablet_context(color_scheme=scheme).new_page()

    def assert_accessible_and_keep(page, where):
        assert_accessible(page, where)
        shot(page, output_path, re.sub(r"\W+", "-", where).strip("-") + ".png")

    page.goto(live_server.url + "/clinic/login", wait_until="load")
    assert_accessible_and_keep(page, f"login ({scheme})")
    page.get_by_label("E-mail").fill(EMAIL)
    page.get_by_label("Password").fill("wrong password here")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("E-mail or password is wrong")
    assert_accessible_and_keep(page, f"login, wrong password ({scheme})")

    sign_in(page, live_server.url)
    assert_accessible_and_keep(page, f"empty dashboard ({scheme})")

    page.get_by_role("link", name="Register a session").click()
    assert_accessible_and_keep(page, f"register form ({scheme})")
    page.get_by_role("button", name="Register and show the QR code").click()
    expect(page.locator("#client_name-error")).to_contain_text("is required")
    expect(page.get_by_label("Client's first name or nickname")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#error-summary")).to_be_focused()
    assert_accessible_and_keep(page, f"register form with errors ({scheme})")

    page.get_by_label("Client's first name or nickname").fill("Ana")
    page.get_by_text("Adjust this session's protocol").click()
    page.get_by_label("Sauna, steam, swimming and hot showers: how long").fill("0")
    page.get_by_role("button", name="Register and show the QR code").click()
    expect(page.locator("#r-heat-error")).to_contain_text("must be between 1 and")
    assert_accessible_and_keep(page, f"register form, protocol error ({scheme})")
    page.get_by_label("Sauna, steam, swimming and hot showers: how long").fill("5")
    page.get_by_label("Sauna, steam, swimming and hot showers: unit").select_option("days")
    page.get_by_role("button", name="Register and show the QR code").click()
    expect(page.locator("svg.qr")).to_be_visible()
    assert_accessible_and_keep(page, f"result page ({scheme})")

    page.get_by_role("link", name="Print aftercare card").click()
    assert_accessible_and_keep(page, f"aftercare card ({scheme})")
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    assert_accessible_and_keep(page, f"dashboard with a session ({scheme})")

    page.get_by_role("link", name="Settings").click()
    assert_accessible_and_keep(page, f"settings ({scheme})")
    page.get_by_label("Phone").fill("call us")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#phone-error")).to_be_visible()
    assert_accessible_and_keep(page, f"settings with errors ({scheme})")


def test_keyboard_focus_is_visible(live_server, clinic_account, tablet_context):
    page = tablet_context().new_page()
    sign_in(page, live_server.url)
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the first nav link
    focused = page.evaluate("""() => {
        const el = document.activeElement, style = getComputedStyle(el);
        return {text: el.textContent.trim(), outline: style.outlineStyle, width: style.outlineWidth};
    }""")
    assert focused["text"] == "Dashboard"
    assert focused["outline"] == "solid" and focused["width"] == "3px"


def test_portal_fits_a_phone(live_server, clinic_account, page, output_path):
    """The same pages on a phone (390x844): nothing wider than the screen, nav within reach."""
    sign_in(page, live_server.url)
    page.get_by_role("link", name="Register a session").click()
    page.get_by_label("Client's first name or nickname").fill("Ana")
    page.get_by_role("button", name="Register and show the QR code").click()
    expect(page.locator("svg.qr")).to_be_visible()
    session_path = page.url.removeprefix(live_server.url)
    for path in ("/clinic/", "/clinic/sessions/new", session_path, session_path + "/card",
                 session_path + "/revoke", "/clinic/settings"):
        page.goto(live_server.url + path, wait_until="load")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow} px wider than a phone"
        for name in ("Dashboard", "Register", "Settings"):
            expect(page.get_by_role("navigation").get_by_role("link", name=name, exact=True)).to_be_visible()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.goto(live_server.url + session_path, wait_until="load")
    qr = page.locator(".qr-box svg.qr").bounding_box()
    assert qr["width"] >= 280, "the QR code should fill a phone's width"
    shot(page, output_path, "staff-result-390x844.png")
