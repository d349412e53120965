"""The Today page in Spanish on a phone: chosen by the browser, readable, accessible, no errors."""
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_today_in_spanish_from_the_phone_language(live_server, new_context, output_path,
                                                  assert_accessible):
    session = live_server.create_session(hours_ago=20)
    context = new_context(locale="es-ES")
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    assert page.goto(session.url, wait_until="load").status == 200

    expect(page.locator("html")).to_have_attribute("lang", "es")
    off_limits = page.locator("#off-limits .restriction")
    expect(off_limits.filter(has_text="Sudar y hacer ejercicio intenso")).to_be_visible()
    expect(page.locator("#checklist .step").first).to_be_visible()
    expect(off_limits.filter(has_text="Nada de maquillaje durante las primeras 24 horas.")).to_be_visible()
    expect(page.get_by_text("Dificultad para respirar. Llama a emergencias.")).to_be_visible()

    path = Path(output_path) / "today-es-390x844.png"
    page.screenshot(path=path, full_page=True)
    with Image.open(path) as image:
        assert image.size[0] == 390 * 3
    assert_accessible(page, "Today in Spanish")
    assert errors == [], "\n".join(errors)


def test_switching_to_spanish_and_back(live_server, page):
    session = live_server.create_session()
    page.goto(session.url + "?lang=es", wait_until="load")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    page.goto(session.url, wait_until="load")  # the cookie keeps the choice
    expect(page.locator("html")).to_have_attribute("lang", "es")
    page.goto(session.url + "?lang=en", wait_until="load")
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_the_scripts_speak_spanish_too(live_server, new_context, output_path, assert_accessible):
    """What the scripts write (countdowns, the reminders card, the check-in outcome, the photo
    diary, a saved page opened the next day) is Spanish on a Spanish phone."""
    session = live_server.create_session(hours_ago=5 * 24)
    context = new_context(locale="es-ES")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(session.url, wait_until="load")

    countdown = page.locator("#off-limits .countdown").first
    expect(countdown).to_have_text(re.compile(r"^en \d"))
    expect(page.locator("#reminders-heading")).to_have_text("Recordatorios")
    expect(page.locator("#diary-heading")).to_contain_text("Diario de fotos")
    expect(page.locator("#diary-today")).to_have_text("Hoy es el día 5 después de tu tratamiento.")

    checkin = page.locator("#checkin")
    for legend in ("Enrojecimiento", "Hinchazón", "Dolor", "Picor"):
        group = checkin.get_by_role("group", name=legend, exact=True)
        group.get_by_text("Fuerte" if legend == "Enrojecimiento" else "Nada", exact=True).click()
    checkin.get_by_label("La piel tratada está caliente, o más caliente que ayer", exact=True).check()
    checkin.get_by_role("button", name="Enviar", exact=True).click()
    result = page.locator("#checkin-result")
    expect(result.get_by_role("heading", level=3)).to_have_text("Contacta hoy con tu clínica")
    expect(result.get_by_role("link", name=re.compile("^Llamar a Calm Skin Clinic"))).to_be_visible()
    assert_accessible(page, "Today in Spanish after a check-in")
    page.screenshot(path=Path(output_path) / "today-es-checkin-390x844.png", full_page=True)

    # The phone's clock a day on: the page moves itself to that day, in Spanish.
    later = new_context(locale="es-ES").new_page()
    later.clock.install(time=datetime.now(UTC) + timedelta(days=1))
    later.goto(session.url, wait_until="load")
    expect(later.locator("#today-day")).to_have_text("Día 6 después de tu tratamiento")
    assert errors == [], "\n".join(errors)
