"""Languages: complete catalogues, the language a page is in, and Spanish where clients read it."""
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from companion import i18n

ROOT = Path(__file__).resolve().parent.parent


def po_path(language):
    return ROOT / "companion" / "translations" / language / "LC_MESSAGES" / "messages.po"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The messages the code, templates and protocols use now (babel.cfg's extraction)."""
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "-q", "extract",
                    "-F", "babel.cfg", "--no-location", "-o", str(pot), "."],
                   cwd=ROOT, check=True)
    with pot.open("rb") as f:
        return read_po(f)


def _catalog(language):
    with po_path(language).open("rb") as f:
        return read_po(f, locale=language)


def _key(message):
    return message.id[0] if isinstance(message.id, tuple) else message.id


@pytest.mark.parametrize("language", [lang for lang in i18n.LANGUAGES if lang != i18n.DEFAULT])
def test_every_message_is_translated(template, language):
    catalog = _catalog(language)
    wanted = {_key(m) for m in template if m.id}
    have = {_key(m): m for m in catalog if m.id}
    missing = sorted(wanted - set(have))
    untranslated = sorted(k for k in wanted & set(have)
                          if "fuzzy" in have[k].flags
                          or not all(have[k].string if isinstance(have[k].string, tuple)
                                     else [have[k].string]))
    assert not missing, f"not in {language}'s catalogue (run bin/translations): {missing}"
    assert not untranslated, f"untranslated or fuzzy in {language}: {untranslated}"


@pytest.mark.parametrize("language", [lang for lang in i18n.LANGUAGES if lang != i18n.DEFAULT])
def test_catalogue_has_no_obsolete_or_broken_entries(template, language):
    catalog = _catalog(language)
    wanted = {_key(m) for m in template if m.id}
    obsolete = sorted(set(_key(m) for m in catalog if m.id) - wanted) + list(catalog.obsolete)
    assert not obsolete, f"no longer used, remove them (bin/translations): {obsolete}"
    problems = [(_key(m), [str(e) for e in errors]) for m, errors in catalog.check()]
    assert not problems  # e.g. a %(placeholder)s lost or renamed in translation


def test_stale_catalogues_are_compiled_on_start(tmp_path):
    po = tmp_path / "es" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_bytes(po_path("es").read_bytes())
    i18n.compile_catalogues(tmp_path)
    assert po.with_suffix(".mo").stat().st_size > 1000


# -- Pages in Spanish -----------------------------------------------------------------------------

SPANISH = {"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"}
#: English of the client's plan that must not survive in Spanish
ENGLISH_LEFT = ["No make-up for the first 24 hours.", "Gentle cleanse", "Difficulty breathing.",
                "today at", "tomorrow at", "Saturday", "Sunday", "November"]


class _Words(HTMLParser):
    """The words a person reads on a page: text, and the attributes read aloud or shown."""
    SHOWN = {"alt", "aria-label", "title", "placeholder", "content"}

    def __init__(self):
        super().__init__()
        self.words, self._skip = set(), 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("script", "style", "template")
        attrs = dict(attrs)
        if tag == "meta" and attrs.get("name") not in ("description", "apple-mobile-web-app-title"):
            return
        for name, value in attrs.items():
            if value and (name in self.SHOWN or name.startswith("data-") and " " in value):
                self.words.add(value.strip())

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style", "template")

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.words.add(" ".join(data.split()))


def shown_words(page):
    parser = _Words()
    parser.feed(page)
    return parser.words


def same_in_both(english_page, spanish_page, allowed):
    """What reads the same in English and Spanish, less names, numbers and codes."""
    def wordy(text):
        return (re.search(r"[A-Za-z]{3}", text) and not re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}", text)
                and not any(a in text for a in allowed))
    return sorted(w for w in shown_words(english_page) & shown_words(spanish_page) if wordy(w))


def stored_language(app, treatment_id):
    from companion.extensions import db
    from companion.models import Treatment
    with app.app_context():
        return db.session.get(Treatment, treatment_id).language


def test_start_page_follows_the_browser(client):
    page = client.get("/", headers=SPANISH).get_data(as_text=True)
    assert '<html lang="es"' in page
    assert "Tu plan de cuidados" in page and "Abrir mi plan" in page
    assert "Open my plan" not in page
    assert '<html lang="en"' in client.get("/", headers={"Accept-Language": "de"}).get_data(as_text=True)


def test_plan_in_spanish_from_the_browser_is_kept_for_the_session(app, client, make_treatment):
    treatment_id, token, _ = make_treatment(hours_ago=20)
    page = client.get(f"/s/{token}", headers=SPANISH).get_data(as_text=True)
    assert '<html lang="es"' in page
    assert "Nada de maquillaje durante las primeras 24 horas." in page
    assert "Limpieza suave" in page
    shown = " ".join(shown_words(page))
    assert not [text for text in ENGLISH_LEFT if text in shown]
    assert stored_language(app, treatment_id) == "es"  # pushes need it without a request


def test_lang_switch_persists_in_a_cookie_and_in_the_session(app, client, make_treatment):
    treatment_id, token, _ = make_treatment()
    response = client.get(f"/s/{token}?lang=es", headers={"Accept-Language": "en"})
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("lang=es;") and "SameSite=Lax" in cookie and "Max-Age=31536000" in cookie
    assert stored_language(app, treatment_id) == "es"
    again = client.get(f"/s/{token}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="es"' in again and "Nada de maquillaje" in again
    client.get(f"/s/{token}?lang=en")
    assert stored_language(app, treatment_id) == "en"
    assert "No make-up for the first 24 hours." in client.get(f"/s/{token}").get_data(as_text=True)


def test_unknown_lang_is_ignored(client, make_treatment):
    _, token, _ = make_treatment()
    response = client.get(f"/s/{token}?lang=xx", headers={"Accept-Language": "en"})
    assert "Set-Cookie" not in response.headers
    assert '<html lang="en"' in response.get_data(as_text=True)


def test_clinic_default_applies_when_the_browser_asks_for_none(app, client, make_clinic, make_treatment):
    clinic_id = make_clinic()
    with app.app_context():
        from companion import clinics
        from companion.extensions import db
        from companion.models import Clinic
        clinics.update(db.session.get(Clinic, clinic_id), {"language": "es"})
    treatment_id, token, _ = make_treatment(clinic_id)
    page = client.get(f"/s/{token}").get_data(as_text=True)
    assert '<html lang="es"' in page and "Nada de maquillaje" in page
    assert stored_language(app, treatment_id) is None  # still the clinic's: it may change it
    with app.app_context():
        with pytest.raises(Exception, match="must be one of en, es"):
            clinics.update(db.session.get(Clinic, clinic_id), {"language": "fr"})


def test_dates_read_in_spanish(app):
    from datetime import date

    from companion.client import longdate, relday, shortdate
    with app.test_request_context("/?lang=es"):
        assert longdate(date(2026, 11, 21)) == "sábado 21 de noviembre"
        assert shortdate(date(2026, 11, 21)) == "sáb 21 nov"
        from datetime import datetime
        now = datetime(2026, 11, 21, 9, 0)
        assert relday(datetime(2026, 11, 22, 18, 30), now) == "mañana a las 18:30"


def test_a_spanish_client_gets_its_check_in_reply_in_spanish(client, make_treatment):
    _, token, _ = make_treatment(hours_ago=30)
    client.get(f"/s/{token}?lang=es")
    response = client.post("/api/v1/me/check-ins", headers={"Authorization": f"Bearer {token}"},
                           json={"redness": "strong", "swelling": "none", "pain": "none",
                                 "itch": "none"})
    body = response.get_json()
    assert response.status_code == 201, body
    assert body["message"].startswith("Lo que describes") or "clínica" in body["message"]
    assert "your clinic" not in body["message"]


def test_reminders_are_planned_in_the_clients_language(app, make_treatment):
    from datetime import UTC, datetime, timedelta

    from flask_babel import force_locale, get_translations

    from companion import reminderplan, treatments
    from companion.extensions import db
    from companion.models import Treatment
    treatment_id, _, _ = make_treatment(hours_ago=1)
    with app.app_context(), force_locale("es"):
        t = db.session.get(Treatment, treatment_id)
        now = datetime.now(UTC) - timedelta(hours=1)
        planned = reminderplan.plan_reminders(treatments.plan_for(t, now), reminderplan.Preferences(),
                                              7, get_translations())
    titles = {r.kind: r.title for r in planned}
    assert titles["checkin"] == "¿Cómo está tu piel hoy?"
    assert any(r.title.startswith("Día 1:") for r in planned)
    assert any(r.title == "Maquillaje: permitido de nuevo" for r in planned)


def test_printable_card_in_the_clients_language(app, client, make_treatment):
    from test_portal import PASSWORD
    from companion import staff
    treatment_id, token, _ = make_treatment()
    client.get(f"/s/{token}?lang=es")
    with app.app_context():
        from companion.models import Treatment
        from companion.extensions import db
        staff.create(db.session.get(Treatment, treatment_id).clinic_id, "nurse@calm.example", PASSWORD)
    fresh = app.test_client()
    login = fresh.get("/clinic/login").get_data(as_text=True)
    import re
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login)[1]
    fresh.post("/clinic/login", data={"csrf_token": csrf, "email": "nurse@calm.example",
                                      "password": PASSWORD})
    card = fresh.get(f"/clinic/sessions/{treatment_id}/card").get_data(as_text=True)
    assert "Tu plan de cuidados, Ana" in card and "Los primeros días" in card
    assert "Maquillaje: no hasta el" in card and "Nada de maquillaje" in card
    assert "The first days" not in card and "not until" not in card
    english = fresh.get(f"/clinic/sessions/{treatment_id}/card?lang=en").get_data(as_text=True)
    assert "The first days" in english


#: the same in both languages: names, numbers, codes, the language names, the zone
SAME_EVERYWHERE = ["Calm Skin Clinic", "Ana", "English", "Español", "Europe/", "America/", "Asia/",
                   "Australia/", "Pacific/", "Normal", "+44", "iPhone:", "Android (Chrome)"]


@pytest.mark.parametrize("state", ["first day", "last session", "before treatment"])
def test_nothing_on_the_client_pages_is_left_in_english(app, client, make_clinic, make_treatment,
                                                        state):
    """Every word the client reads changes with the language (a string not marked for
    translation would read the same in both)."""
    clinic_id = make_clinic(booking_url="https://calm.example/book")
    fields = {"first day": dict(hours_ago=20, series_total=3, note="Drink water"),
              "last session": dict(hours_ago=24 * 9, series_index=3, series_total=3),
              "before treatment": dict(hours_ago=-30, series_total=4)}[state]
    _, token, _ = make_treatment(clinic_id, **fields)
    pages = {lang: client.get(f"/s/{token}?lang={lang}").get_data(as_text=True)
             for lang in ("en", "es")}
    assert "Drink water" not in SAME_EVERYWHERE  # the clinic's own note is shown as written
    same = same_in_both(pages["en"], pages["es"], SAME_EVERYWHERE + ["Drink water"])
    assert same == [], "\n".join(same)
    assert "Allowed again" in pages["en"]  # the comparison sees the page's words at all


def test_the_scripts_words_come_in_the_pages_language(client, make_treatment):
    _, token, _ = make_treatment()
    page = client.get(f"/s/{token}?lang=es").get_data(as_text=True)
    block = re.search(r'<script type="application/json" id="i18n">(.*?)</script>', page, re.S)
    words = json.loads(block[1])
    assert words["Reminders are on"] == "Recordatorios activados"
    assert words["%(num)d day"] == ["%(num)d día", "%(num)d días"]
    assert set(words) == {m[0] if isinstance(m, tuple) else m for m in i18n.script_messages()}
    english = client.get(f"/s/{token}?lang=en").get_data(as_text=True)
    assert 'id="i18n"' not in english  # English is the key: nothing to send
    # one message of each script that shows words: all are found by the extraction
    assert {"today at %(time)s", "Reminders are on", "Kept now"} <= set(words)


def test_client_api_answers_in_the_sessions_language(app, client, make_treatment):
    _, token, _ = make_treatment()
    client.get(f"/s/{token}?lang=es")
    response = client.put("/api/v1/me/preferences", json={"timezone": "Mars/Olympus"},
                          headers={"Authorization": f"Bearer {token}",
                                   "Accept-Language": "en"})
    assert response.status_code == 422
    assert response.get_json()["fields"]["timezone"].startswith("debe ser una zona horaria")
    plan = client.get("/api/v1/me/plan", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert "Nada de maquillaje" in json.dumps(plan, ensure_ascii=False)
