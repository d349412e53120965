"""The Today page in Spanish on a phone: chosen by the browser, readable, accessible, no errors."""
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
