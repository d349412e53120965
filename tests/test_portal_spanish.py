"""The staff portal and the error pages in Spanish: from the clinic's default language or the
browser, switchable back with ?lang=en, with nothing left in English but names and data."""
import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask_babel import gettext
from werkzeug.exceptions import Forbidden, InternalServerError, MethodNotAllowed

from companion import checkins, clinics, staff, treatments
from companion.errors import handle_http
from companion.extensions import db
from companion.models import Clinic, PushSubscription, Reminder, Treatment

PASSWORD = "correct horse battery"
EMAIL = "enfermera@calma.example"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
SPANISH = {"Accept-Language": "es-ES,es;q=0.9"}
ENGLISH = {"Accept-Language": "en-GB,en;q=0.9"}
NOTE = "Me pica un poco"  #: a client's own words
#: what reads the same in both languages on purpose: names, data, cognates
SAME = {NOTE, "Calm Skin Clinic", "Ana", "Bea", "+44 20 7946 0123", "Europe/London", "English",
        "Español", "Microneedling", "Portal", "No", "enfermera@calma.example",
        "(PNG)", "(SVG)", "https://", "HTTP 503"}


# -- Reading a page -----------------------------------------------------------------------------


class _Shown(HTMLParser):
    """The texts a person reads or hears: text, and the attributes read aloud or shown.

    An element with its own lang= says it is in another language on purpose (the language
    switcher, what a client was told in theirs): it is left out.
    """
    SHOWN = {"alt", "aria-label", "title", "placeholder"}

    def __init__(self):
        super().__init__()
        self.texts, self._skip, self._foreign = set(), 0, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._skip += tag in ("script", "style", "datalist")
        if self._foreign and tag == self._foreign[0]:
            self._foreign[1] += 1
        elif self._foreign is None and tag != "html" and "lang" in attrs:
            self._foreign = [tag, 1]
        if self._foreign:
            return
        for name, value in attrs.items():
            if name in self.SHOWN and value and value.strip():
                self.texts.add(" ".join(value.split()))
        if tag == "meta" and attrs.get("name") == "description":
            self.texts.add(" ".join(attrs["content"].split()))

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style", "datalist")
        if self._foreign and tag == self._foreign[0]:
            self._foreign[1] -= 1
            if not self._foreign[1]:
                self._foreign = None

    def handle_data(self, data):
        if not self._skip and not self._foreign and data.strip():
            self.texts.add(" ".join(data.split()))


def shown(page):
    parser = _Shown()
    parser.feed(page)
    return parser.texts


@lru_cache(maxsize=1)
def english_pieces():
    """The English around the placeholders of every translated message ("%(what)s: how
    long" -> "how long"), of two words or more, that its Spanish does not keep."""
    po = Path(__file__).parent.parent / "companion/translations/es/LC_MESSAGES/messages.po"
    with po.open("rb") as f:
        catalog = read_po(f, locale="es")
    pieces = set()
    for message in catalog:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for msgid in filter(None, ids):
            for piece in re.split(r"%\(\w+\)[sd]|<[^>]+>", msgid):
                piece = piece.strip(" .,:;·()")
                if len(re.findall(r"[A-Za-z]+", piece)) >= 2 and not any(piece in s for s in strings):
                    pieces.add(piece)
    return pieces


def left_in_english(english_page, spanish_page):
    """What the English page shows that the Spanish page shows unchanged (names and data
    aside): whole texts, which catches a string nobody marked, and the English words around
    a translated name or number, which catches a message half put together in English."""
    def wordy(text):
        text = re.sub(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}\b|https?://\S+", " ", text)  # codes, links
        for same in SAME:
            text = re.sub(rf"(?<!\w){re.escape(same)}(?!\w)", " ", text)
        return re.search(r"[A-Za-z]{2}", text)
    english, spanish = shown(english_page), shown(spanish_page)
    whole = [text for text in english & spanish if wordy(text)]
    english_text, spanish_text = "\n".join(english), "\n".join(spanish)
    pieces = [piece for piece in english_pieces()
              if piece in english_text and piece in spanish_text]
    return sorted(whole + pieces)


def in_spanish(app, message):
    """The catalogue's Spanish for `message` (words the client's side translates)."""
    with app.test_request_context("/?lang=es"):
        spanish = gettext(message)
    assert spanish != message
    return spanish


def text_of(response):
    return response.get_data(as_text=True)


def assert_spanish(english, spanish, *expected):
    assert '<html lang="es"' in spanish and '<html lang="en"' in english
    missing = [text for text in expected if text not in spanish]
    assert not missing, f"not on the Spanish page: {missing}"
    assert not left_in_english(english, spanish)


# -- A Spanish-speaking clinic ------------------------------------------------------------------------


@pytest.fixture
def spanish_clinic(app, make_clinic):
    """A clinic whose default language is Spanish, with one staff account: its id."""
    clinic_id = make_clinic()
    with app.app_context():
        clinics.update(db.session.get(Clinic, clinic_id), {"language": "es"})
        staff.create(clinic_id, EMAIL, PASSWORD)
    return clinic_id


def csrf(browser, path):
    match = CSRF_RE.search(text_of(browser.get(path)))
    assert match, f"no form at {path}"
    return match[1]


def post_form(browser, path, data, form_path=None):
    return browser.post(path, data={"csrf_token": csrf(browser, form_path or path), **data})


@pytest.fixture
def nurse(app, spanish_clinic):
    """Signed in at the Spanish clinic from a browser that asks for no language."""
    browser = app.test_client()
    response = post_form(browser, "/clinic/login", {"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 303
    return browser


def both(browser, path):
    """(English, Spanish) of a page: Spanish from the clinic's default, English chosen with
    ?lang=en (whose cookie is then dropped, so the clinic's default applies again)."""
    spanish = text_of(browser.get(path))
    english = text_of(browser.get(path, query_string={"lang": "en"}))
    browser.delete_cookie("lang")
    return english, spanish


def treated(app, clinic_id, hours_ago=30, language=None, **fields):
    """A session; `language`: the one the client's phone chose (else the clinic's applies)."""
    fields.setdefault("client_name", "Ana")
    with app.app_context():
        t = treatments.create(db.session.get(Clinic, clinic_id),
                              treated_at=datetime.now(timezone.utc) - timedelta(hours=hours_ago),
                              **fields)
        t.language = language
        db.session.commit()
        return t.id


def with_reminders(app, treatment_id):
    """Two phones with reminders on: one reminder delivered, and one failure since."""
    now = datetime.now(timezone.utc)
    with app.app_context():
        for n in (1, 2):
            db.session.add(PushSubscription(
                treatment_id=treatment_id, endpoint=f"https://push.example/{treatment_id}/{n}",
                p256dh="k", auth="a", last_failure_at=now if n == 2 else None,
                last_failure="HTTP 503" if n == 2 else None))
        db.session.add(Reminder(treatment_id=treatment_id, key="day-1-morning", kind="steps",
                                day=1, due_at=now - timedelta(hours=2), stale_at=now,
                                title="t", body="b", state="sent",
                                sent_at=now - timedelta(hours=2)))
        db.session.commit()


def checked_in(app, treatment_id, **answers):
    with app.app_context():
        data = {"redness": "none", "swelling": "none", "pain": "none", "itch": "none", **answers}
        return checkins.record(db.session.get(Treatment, treatment_id), data)[0].id


# -- Signing in ---------------------------------------------------------------------------------------


def test_login_page_follows_the_browser(client, spanish_clinic):
    spanish = text_of(client.get("/clinic/login", headers=SPANISH))
    english = text_of(client.get("/clinic/login", headers=ENGLISH))
    assert_spanish(english, spanish, "Inicia sesión en el portal de la clínica",
                   '<label for="email">Correo electrónico</label>',
                   '<label for="password">Contraseña</label>', ">Iniciar sesión</button>")


def test_wrong_password_and_throttle_in_spanish(client, spanish_clinic):
    def attempt():
        token = CSRF_RE.search(text_of(client.get("/clinic/login", headers=SPANISH)))[1]
        return client.post("/clinic/login", headers=SPANISH, data={
            "csrf_token": token, "email": EMAIL, "password": "wrong password here"})

    wrong = attempt()
    assert wrong.status_code == 401
    assert "El correo electrónico o la contraseña no son correctos." in text_of(wrong)
    for _ in range(4):  # the fifth failure locks the account for 30 s
        attempt()
    locked = attempt()
    assert locked.status_code == 429
    assert "Demasiados intentos. Vuelve a intentarlo dentro de 1 minuto." in text_of(locked)
    assert "Too many attempts" not in text_of(locked)


# -- The clinic's pages ---------------------------------------------------------------------------------


def test_dashboard_with_check_ins_in_spanish(app, nurse, spanish_clinic):
    ana = treated(app, spanish_clinic, hours_ago=24 * 4, client_name="Ana")
    bea = treated(app, spanish_clinic, hours_ago=24 * 2, client_name="Bea", language="en",
                  series_total=3)
    flagged = checked_in(app, ana, redness="strong", signs=["facial_swelling"], note=NOTE)
    checked_in(app, bea, redness="strong")  # Bea's phone is in English: her reasons are too
    watched = checked_in(app, bea, itch="moderate")
    with_reminders(app, ana)
    english, spanish = both(nurse, "/clinic/")
    assert_spanish(english, spanish, "<h1>Panel</h1>", ">Registrar una sesión</a>",
                   "Revisiones por atender", "Sesiones de las últimas 6 semanas",
                   "<th scope=\"col\">Día de recuperación</th>", "<td>Día 4</td>",
                   '<span class="no">Todavía no</span>', ">Marcar como atendida</button>",
                   in_spanish(app, "Swelling of the face or throat."))
    card = spanish.split(f'data-checkin="{flagged}"')[1].split("</li>\n")[0]
    assert re.search(r">Ana</a>, día 4, \w{3} \d+ \w{3} a las \d\d:\d\d</p>", card)
    assert '<span class="pill pill-emergency">Emergencia</span>' in card
    assert re.search(r'<dt>Enrojecimiento</dt><dd class="level-strong">intenso</dd>', card)
    # Bea's reasons were written in English when she checked in: they say so.
    assert re.search(r'<li lang="en">Strong redness', spanish)
    assert f'data-checkin="{watched}"' in spanish.split('id="watch-heading"')[1]
    assert "A vigilar" in spanish
    reminders = spanish.split(f'data-session="{ana}"')[1].split('class="state-reminders">')[1]
    assert reminders.startswith('<span class="yes">Activados</span> (2 teléfonos)')
    assert re.search(r"Último envío: \w{3} \d+ \w{3}, \d\d:\d\d", reminders)
    assert re.search(r"Último fallo: \w{3} \d+ \w{3}, \d\d:\d\d \(HTTP 503\)", reminders)


def test_dashboard_when_empty_in_spanish(nurse):
    english, spanish = both(nurse, "/clinic/")
    assert_spanish(english, spanish, "Ahora mismo ninguna revisión necesita a la clínica.",
                   "Esta semana no hay próximas sesiones previstas.",
                   "Todavía no hay sesiones en las últimas 6 semanas.")


def test_check_ins_page_and_marking_handled_in_spanish(app, nurse, spanish_clinic):
    ana = treated(app, spanish_clinic, hours_ago=24 * 3)
    flagged = checked_in(app, ana, pain="strong")
    checked_in(app, ana)
    english, spanish = both(nurse, "/clinic/check-ins")
    assert_spanish(english, spanish, "<h1>Revisiones</h1>", "2 revisiones, las más recientes primero.",
                   '>Todas</a>', ">Por atender</a>", "Lo habitual para el día",
                   "<td>Día 3<br>", "Contactar con la clínica")
    response = post_form(nurse, f"/clinic/check-ins/{flagged}/handled",
                         {"next": "/clinic/check-ins"}, form_path="/clinic/check-ins")
    page = text_of(nurse.get(response.headers["Location"]))
    assert "La revisión del día 3 de Ana está marcada como atendida." in page
    assert '<span class="yes">Atendida</span>' in page


def test_new_session_form_and_its_errors_in_spanish(nurse):
    english, spanish = both(nurse, "/clinic/sessions/new")
    assert_spanish(english, spanish, "<h1>Registrar una sesión</h1>",
                   '<label for="client_name">Nombre o apodo del cliente</label>',
                   "> Cuero cabelludo</label>", "<summary>Ajustar el protocolo de esta sesión</summary>",
                   ">Registrar y mostrar el código QR</button>", '<option value="days" selected>días</option>')
    bad = {"client_name": "", "treated_at": "2026-11-20T10:00", "timezone": "Europe/London",
           "needle_depth_mm": "5", "series_index": "4", "series_total": "3",
           "r-heat-amount": "0", "r-heat-unit": "days", "note": "7" * 501}
    refused = post_form(nurse, "/clinic/sessions/new", bad)
    assert refused.status_code == 422
    page = text_of(refused)
    errors = dict(re.findall(r'<p class="field-error" id="([^"]+)-error">([^<]*)</p>', page))
    assert errors["client_name"] == "Nombre o apodo del cliente: es obligatorio."
    assert errors["needle_depth_mm"] == "Profundidad de la aguja: debe ser mayor que 0 y como máximo 3,0 mm."
    assert errors["series_index"] == "Número de sesión: no puede ser mayor que el número de sesiones."
    heat = re.search(r'<span class="duration-title" id="r-heat-label">([^<]+)</span>', page)[1]
    assert heat != "Sauna, steam, swimming and hot showers", "the restriction reads in Spanish too"
    assert errors["r-heat"] == f"{heat}: debe estar entre 1 y 90 días."
    assert errors["note"] == "Nota: debe tener como máximo 500 caracteres."
    assert f"Revisa {len(errors)} campos" in page
    english_refusal = text_of(post_form(nurse, "/clinic/sessions/new?lang=en", bad))
    assert "Client&#39;s first name or nickname is required." in english_refusal
    assert not left_in_english(english_refusal, page)


def test_an_e_mail_for_a_name_is_refused_in_spanish(nurse):
    page = text_of(post_form(nurse, "/clinic/sessions/new", {"client_name": "ana@example.com"}))
    assert "Basta con un nombre o un apodo (sin direcciones de correo electrónico)." in page


def test_session_page_and_revoking_in_spanish(app, nurse, spanish_clinic):
    ana = treated(app, spanish_clinic, series_total=3)
    english, spanish = both(nurse, f"/clinic/sessions/{ana}")
    assert_spanish(english, spanish, "<h1>Enlace de cuidados de Ana</h1>", ">Copiar enlace</button>",
                   "Pide a Ana que lo escanee con la cámara del teléfono.",
                   "· sesión 1 de 3", ">Imprimir tarjeta de cuidados</a>",
                   '<dd id="state-opened">Todavía no</dd>', ">Retirar enlace…</a>")

    english, spanish = both(nurse, f"/clinic/sessions/{ana}/revoke")
    assert_spanish(english, spanish, "<h1>¿Retirar el enlace de Ana?</h1>",
                   ">Sí, retirar el enlace</button>", ">Cancelar</a>")
    done = post_form(nurse, f"/clinic/sessions/{ana}/revoke", {})
    page = text_of(nurse.get(done.headers["Location"]))
    assert "Se ha retirado el enlace de Ana." in page and "<h2>Este enlace está retirado</h2>" in page
    english, spanish = both(nurse, f"/clinic/sessions/{ana}")
    assert_spanish(english, spanish, "ya no lo abren.")
    english, spanish = both(nurse, f"/clinic/sessions/{ana}/revoke")
    assert_spanish(english, spanish, "Este enlace ya está retirado.")


def test_settings_and_their_errors_in_spanish(nurse):
    english, spanish = both(nurse, "/clinic/settings")
    assert_spanish(english, spanish, "<h1>Ajustes</h1>", "Valores predeterminados de tu protocolo",
                   '<label for="booking_url">Enlace de reservas (opcional)</label>',
                   "<legend>Paso 1</legend>", ">Cualquier momento</option>", ">Guardar ajustes</button>")
    refused = post_form(nurse, "/clinic/settings", {
        "name": "Calm Skin Clinic", "phone": "call us", "timezone": "Europe/London",
        "language": "es", "step-1-title": "Sérum", "step-1-text": "",
        "step-1-from_day": "3", "step-1-to_day": "1", "step-1-time": "evening"})
    assert refused.status_code == 422
    errors = dict(re.findall(r'<p class="field-error" id="([^"]+)-error">([^<]*)</p>', text_of(refused)))
    assert errors["phone"].startswith("Teléfono: debe ser un número de teléfono")
    assert errors["step-1-to_day"] == "El último día no puede ser anterior al primero."
    saved = post_form(nurse, "/clinic/settings", {
        "name": "Calm Skin Clinic", "phone": "+44 20 7946 0123", "timezone": "Europe/London",
        "language": "es"})
    assert "Ajustes guardados." in text_of(nurse.get(saved.headers["Location"]))


def test_lang_en_switches_the_portal_back_to_english(nurse):
    english = text_of(nurse.get("/clinic/?lang=en"))
    assert '<html lang="en"' in english and "<h1>Dashboard</h1>" in english
    again = text_of(nurse.get("/clinic/settings"))  # the choice is kept
    assert '<html lang="en"' in again and "<h1>Settings</h1>" in again
    assert "<h1>Panel</h1>" in text_of(nurse.get("/clinic/?lang=es"))


def test_signing_out_says_so_in_spanish(nurse):
    response = post_form(nurse, "/clinic/logout", {}, form_path="/clinic/")
    assert "Has cerrado la sesión." in text_of(nurse.get(response.headers["Location"]))


# -- Error pages ---------------------------------------------------------------------------------


def test_not_found_pages_in_spanish(app, client, nurse, spanish_clinic):
    english = text_of(client.get("/nowhere", headers=ENGLISH))
    spanish = text_of(client.get("/nowhere", headers=SPANISH))
    assert_spanish(english, spanish, "No encontramos este plan")
    missing = nurse.get("/clinic/sessions/1000")  # no such session: the clinic's language
    assert missing.status_code == 404
    assert_spanish(text_of(nurse.get("/clinic/sessions/1000?lang=en")), text_of(missing),
                   "No encontramos este plan")


def test_withdrawn_link_page_in_spanish(app, client, nurse, spanish_clinic):
    ana = treated(app, spanish_clinic)
    post_form(nurse, f"/clinic/sessions/{ana}/revoke", {})
    gone = nurse.get(f"/clinic/sessions/{ana}/qr.png")
    assert gone.status_code == 410
    english = text_of(nurse.get(f"/clinic/sessions/{ana}/qr.png?lang=en"))
    assert_spanish(english, text_of(gone), "Este enlace se ha retirado")


@pytest.mark.parametrize("status, spanish_message, english_message", [
    (403, "No tienes permiso para abrir esto.", "This is not yours to open."),
    (405, "Esta dirección no acepta ese tipo de solicitud.",
     "This address does not accept that kind of request."),
    (500, "Algo ha fallado por nuestra parte. Inténtalo de nuevo dentro de un momento.",
     "Something went wrong on our side. Please try again in a moment."),
])
def test_error_pages_in_spanish(app, status, spanish_message, english_message):
    error = {403: Forbidden, 405: MethodNotAllowed, 500: InternalServerError}[status]()
    pages = {}
    for language, headers in (("es", SPANISH), ("en", ENGLISH)):
        with app.test_request_context("/clinic/", headers=headers):
            body, code = handle_http(error)
            assert code == status
            pages[language] = body
    assert f"<h1>{spanish_message}</h1>" in pages["es"]
    assert f"<h1>{english_message}</h1>" in pages["en"]
    assert_spanish(pages["en"], pages["es"], "Volver al inicio")


def test_a_real_405_and_an_expired_form_in_spanish(client, spanish_clinic):
    wrong_method = client.put("/clinic/login", headers=SPANISH)
    assert wrong_method.status_code == 405
    assert "Esta dirección no acepta ese tipo de solicitud." in text_of(wrong_method)
    expired = client.post("/clinic/login", headers=SPANISH, data={"email": EMAIL})
    assert expired.status_code == 400
    assert "Este formulario ha caducado o se ha enviado desde otro sitio." in text_of(expired)


def test_json_errors_follow_the_browser_and_stay_english_by_default(client, make_token):
    _, headers = make_token()
    bad = {"client_name": "", "treated_at": "yesterday", "needle_depth_mm": 9}
    spanish = client.post("/api/v1/sessions", json=bad, headers={**headers, **SPANISH}).get_json()
    assert spanish["fields"]["client_name"] == "es obligatorio."
    assert spanish["fields"]["needle_depth_mm"] == "debe ser mayor que 0 y como máximo 3,0 mm."
    english = client.post("/api/v1/sessions", json=bad, headers=headers).get_json()
    assert english["fields"]["client_name"] == "is required."
    assert english["fields"]["needle_depth_mm"] == "must be more than 0 and at most 3.0 mm."
    assert client.get("/api/v1/nothing", headers=SPANISH).get_json()["message"] == \
        "No hay nada en esta dirección."
