"""The staff portal in Spanish in a real Chromium: a nurse whose tablet is set to Spanish
registers a session and hands over the QR code; the longer words still fit."""
import re
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from companion import clinics, staff

pytestmark = pytest.mark.browser

EMAIL, PASSWORD = "enfermera@calma.example", "correct horse battery"
#: a clinic's tablet in landscape, set to Spanish
TABLET = {"viewport": {"width": 1024, "height": 768}, "device_scale_factor": 1, "locale": "es-ES"}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "locale": "es-ES"}


@pytest.fixture
def clinic_account(live_server):
    """A clinic (default language English: Spanish comes from the browser) and a nurse."""
    with live_server.app.app_context():
        clinic = clinics.create("Calm Skin Clinic", phone="+44 20 7946 0123",
                                timezone="Europe/London")
        staff.create(clinic.id, EMAIL, PASSWORD)


@pytest.fixture
def spanish_context(browser):
    """new(**settings): a Spanish-speaking context (the conftest's phone defaults do not apply)."""
    contexts = []

    def new(settings):
        context = browser.new_context(**settings)
        contexts.append(context)
        return context
    yield new
    for context in contexts:
        context.close()


def collect_errors(page):
    """Console errors and uncaught exceptions; a refused form's 422 is expected, not one."""
    errors = []
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}")
            if m.type == "error" and "status of 422" not in m.text else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    return errors


def sign_in(page, base_url):
    page.goto(base_url + "/clinic/", wait_until="load")
    expect(page.get_by_role("heading", level=1)).to_have_text("Inicia sesión en el portal de la clínica")
    page.get_by_label("Correo electrónico").fill(EMAIL)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.get_by_role("button", name="Iniciar sesión").click()
    expect(page.get_by_role("heading", level=1, name="Panel")).to_be_visible()


def overflow(page):
    """How many CSS pixels the page is wider than the screen (0: it fits)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_nurse_registers_a_session_in_spanish_on_a_tablet(
        live_server, clinic_account, spanish_context, assert_accessible, output_path):
    context = spanish_context(TABLET)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    errors = collect_errors(page)
    sign_in(page, live_server.url)
    expect(page.locator("html")).to_have_attribute("lang", "es")

    page.get_by_role("link", name="Registrar una sesión").click()
    expect(page.get_by_role("heading", level=1, name="Registrar una sesión")).to_be_visible()
    page.get_by_role("button", name="Registrar y mostrar el código QR").click()
    expect(page.locator("#error-summary")).to_be_focused()
    expect(page.locator("#error-summary h2")).to_have_text("Revisa 1 campo")
    expect(page.locator("#client_name-error")).to_have_text("Nombre o apodo del cliente: es obligatorio.")
    assert_accessible(page, "register form with errors, Spanish")
    assert overflow(page) <= 0
    page.get_by_text("Ajustar el protocolo de esta sesión").click()  # the long restriction names
    page.evaluate("window.scrollTo(0, 0)")  # else the sticky header lands mid-screenshot
    page.screenshot(path=Path(output_path) / "staff-register-errors-es-1024x768.png", full_page=True)

    page.get_by_label("Nombre o apodo del cliente").fill("Ana")
    page.get_by_label("Rostro").check()
    page.get_by_label("Cuero cabelludo").check()
    page.get_by_role("button", name="Registrar y mostrar el código QR").click()

    expect(page.get_by_role("heading", level=1, name="Enlace de cuidados de Ana")).to_be_visible()
    expect(page.get_by_text("Pide a Ana que lo escanee con la cámara del teléfono.")).to_be_visible()
    expect(page.get_by_role("img", name="Código QR del enlace de cuidados de Ana")).to_be_visible()
    qr = page.locator(".qr-box svg.qr")
    assert qr.bounding_box()["width"] >= 300, "the QR code should stay large in Spanish too"
    link = page.locator("#client-link").inner_text()
    page.get_by_role("button", name="Copiar enlace").click()
    expect(page.locator('[data-copied-for="client-link"]')).to_have_text("Copiado.")
    assert page.evaluate("navigator.clipboard.readText()") == link
    for name in ("Imprimir tarjeta de cuidados", "Descargar QR (PNG)", "Descargar QR (SVG)"):
        button = page.get_by_role("link", name=name)
        expect(button).to_be_visible()
        clipped = button.evaluate("b => b.scrollWidth - b.clientWidth")
        assert clipped <= 0, f"'{name}' does not fit its button ({clipped} px)"
    assert overflow(page) <= 0
    assert_accessible(page, "result page, Spanish")

    path = Path(output_path) / "staff-result-es-1024x768.png"
    page.screenshot(path=path, full_page=True)
    with Image.open(path) as image:
        assert image.size[0] == 1024
        assert [r.text for r in zxingcpp.read_barcodes(image)] == [link]

    page.get_by_role("link", name="Panel").click()
    row = page.locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator(".state-opened")).to_have_text("Todavía no")
    page.screenshot(path=Path(output_path) / "staff-dashboard-es-1024x768.png", full_page=True)
    assert errors == [], "\n".join(errors)


def test_the_spanish_portal_fits_a_phone(live_server, clinic_account, spanish_context,
                                         assert_accessible, output_path):
    """Spanish words are longer: on a phone nothing may get wider than the screen."""
    page = spanish_context(PHONE).new_page()
    sign_in(page, live_server.url)
    page.get_by_role("link", name="Registrar una sesión").click()
    page.get_by_label("Nombre o apodo del cliente").fill("Ana")
    page.get_by_role("button", name="Registrar y mostrar el código QR").click()
    expect(page.get_by_role("heading", level=1, name="Enlace de cuidados de Ana")).to_be_visible()
    session_path = page.url.removeprefix(live_server.url)
    for path in ("/clinic/", "/clinic/sessions/new", session_path, session_path + "/revoke",
                 "/clinic/settings", "/clinic/check-ins"):
        page.goto(live_server.url + path, wait_until="load")
        expect(page.locator("html")).to_have_attribute("lang", "es")
        assert overflow(page) <= 0, f"{path} is {overflow(page)} px wider than a phone"
        for name in ("Panel", "Registrar", "Ajustes"):
            expect(page.get_by_role("navigation", name="Portal")
                   .get_by_role("link", name=name, exact=True)).to_be_visible()
        expect(page.get_by_role("button", name="Cerrar sesión")).to_be_visible()
    page.goto(live_server.url + "/clinic/settings", wait_until="load")
    assert_accessible(page, "settings, Spanish, phone")
    sticking_out = page.evaluate("""() => [...document.querySelectorAll('.duration')]
        .filter(row => row.querySelector('.duration-inputs').getBoundingClientRect().right
                       > row.getBoundingClientRect().right + 0.5)
        .map(row => row.querySelector('.duration-title').textContent)""")
    assert sticking_out == [], f"inputs wider than their card: {sticking_out}"
    page.screenshot(path=Path(output_path) / "staff-settings-es-390x844.png", full_page=True)
    page.goto(live_server.url + session_path, wait_until="load")
    page.screenshot(path=Path(output_path) / "staff-result-es-390x844.png", full_page=True)
    assert re.search(r"/clinic/sessions/\d+$", session_path)
