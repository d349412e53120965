"""The clinic staff portal through the Flask test client, with CSRF on as in production."""
import re
from datetime import datetime, timedelta, timezone
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from companion import create_app, staff, treatments
from companion.extensions import db
from companion.models import Clinic, Treatment

PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
LONDON = ZoneInfo("Europe/London")


# -- Helpers and fixtures ------------------------------------------------------------------


def csrf_token(client, path="/clinic/login"):
    page = client.get(path)
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match, f"no csrf_token in the form at {path} ({page.status_code})"
    return match[1]


def post_form(client, path, data, form_path=None):
    """Fetch the form (for its CSRF token) and post it back, as a browser does."""
    token = csrf_token(client, form_path or path)
    return client.post(path, data={"csrf_token": token, **data})


def local_input(moment, zone=LONDON):
    """What a datetime-local input sends for `moment` on a device set to `zone`."""
    return f"{moment.astimezone(zone):%Y-%m-%dT%H:%M}"


def count_sessions(app):
    with app.app_context():
        return db.session.scalar(select(func.count(Treatment.id)))


def row(app, treatment_id):
    with app.app_context():
        t = db.session.get(Treatment, treatment_id)
        db.session.expunge(t)
        return t


def text_of(response):
    return response.get_data(as_text=True)


@pytest.fixture
def make_staff(app):
    def make(clinic_id, email="nurse@calm.example", password=PASSWORD):
        with app.app_context():
            return staff.create(clinic_id, email, password).id
    return make


@pytest.fixture
def sign_in():
    def sign_in(client, email="nurse@calm.example", password=PASSWORD, **extra):
        return post_form(client, "/clinic/login", {"email": email, "password": password, **extra})
    return sign_in


@pytest.fixture
def staff_client(app, client, make_clinic, make_staff, sign_in):
    """A signed-in staff member's browser; the clinic id is on `.clinic_id`."""
    client.clinic_id = make_clinic()
    make_staff(client.clinic_id)
    assert sign_in(client).status_code == 303
    return client


@pytest.fixture
def register(app, staff_client):
    """Posts the registration form; `fields` replace the defaults a nurse would leave."""
    def register(**fields):
        data = {
            "client_name": "Ana",
            "treated_at": local_input(datetime.now(timezone.utc) - timedelta(hours=1)),
            "timezone": "Europe/London",
            "protocol": "microneedling",
            **fields,
        }
        return post_form(staff_client, "/clinic/sessions/new", data)
    return register


def registered_id(response):
    assert response.status_code == 303, text_of(response)[:2000]
    match = re.fullmatch(r"/clinic/sessions/(\d+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match[1])


# -- Signing in and out ------------------------------------------------------------------------------


PAGES = ["/clinic/", "/clinic/sessions/new", "/clinic/settings", "/clinic/sessions/1",
         "/clinic/sessions/1/qr.png", "/clinic/sessions/1/qr.svg", "/clinic/sessions/1/card",
         "/clinic/sessions/1/revoke"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_but_login_sends_strangers_to_the_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/clinic/login?next={path}"


def test_clinic_without_slash_is_the_dashboard(staff_client):
    response = staff_client.get("/clinic", follow_redirects=True)
    assert response.status_code == 200
    assert "<h1>Dashboard</h1>" in text_of(response)


def test_login_signs_in_for_a_working_day(app, client, make_clinic, make_staff, sign_in):
    make_staff(make_clinic("Calm Skin Clinic"))
    page = client.get("/clinic/login")
    assert page.status_code == 200
    assert '<label for="email">' in text_of(page) and '<label for="password">' in text_of(page)

    with client.session_transaction() as before:
        before["planted"] = "by someone else"
    response = sign_in(client, email="  Nurse@Calm.Example ")
    assert response.status_code == 303
    with client.session_transaction() as after:
        assert "planted" not in after, "signing in starts a fresh session"
        assert after.permanent and isinstance(after["staff_id"], int)
    assert response.headers["Location"] == "/clinic/"
    cookie = response.headers["Set-Cookie"]
    assert "companion_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # PUBLIC_URL is http in this app
    expires = re.search(r"Expires=([^;]+)", cookie)
    assert expires, "the sign-in must outlive the browser session: a permanent cookie"
    lifetime = datetime.strptime(expires[1], "%a, %d %b %Y %H:%M:%S GMT").replace(
        tzinfo=timezone.utc) - datetime.now(timezone.utc)
    assert timedelta(hours=11) < lifetime <= timedelta(hours=12)

    dashboard = client.get("/clinic/")
    assert dashboard.status_code == 200
    assert "Calm Skin Clinic" in text_of(dashboard)
    for item in ("Dashboard", "Register", "Settings", "Sign out"):
        assert f">{item}<" in text_of(dashboard)


def test_cookie_is_secure_when_the_public_url_is_https(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path / "tls"), "TESTING": True,
                      "PUBLIC_URL": "https://aftercare.example"})
    with app.app_context():
        from companion import clinics
        staff.create(clinics.create("Calm Skin Clinic").id, "nurse@calm.example", PASSWORD)
    client = app.test_client()
    https = {"base_url": "https://aftercare.example", "headers": {"Referer": "https://aftercare.example/clinic/login"}}
    token = CSRF_RE.search(client.get("/clinic/login", **https).get_data(as_text=True))[1]
    response = client.post("/clinic/login", data={
        "csrf_token": token, "email": "nurse@calm.example", "password": PASSWORD}, **https)
    assert response.status_code == 303
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("next_url, lands_on", [
    ("/clinic/settings", "/clinic/settings"),
    ("/clinic/sessions/new?from=dashboard", "/clinic/sessions/new?from=dashboard"),
    ("//evil.example/clinic/", "/clinic/"),
    ("https://evil.example/clinic/", "/clinic/"),
    ("/\\evil.example/clinic", "/clinic/"),
    ("/s/some-client-token", "/clinic/"),
    ("/clinicfake", "/clinic/"),
])
def test_login_only_returns_to_portal_pages(client, make_clinic, make_staff, sign_in,
                                            next_url, lands_on):
    make_staff(make_clinic())
    response = sign_in(client, next=next_url)
    assert response.status_code == 303
    assert response.headers["Location"] == lands_on


def test_login_form_keeps_next_from_the_redirect(client, make_clinic, make_staff):
    make_staff(make_clinic())
    page = client.get("/clinic/settings", follow_redirects=True)
    assert 'name="next" value="/clinic/settings"' in text_of(page)


@pytest.mark.parametrize("email, password", [
    ("nurse@calm.example", "wrong password!"),
    ("nobody@calm.example", PASSWORD),
    ("", ""),
])
def test_wrong_credentials_never_say_which(client, make_clinic, make_staff, sign_in, email, password):
    make_staff(make_clinic())
    response = sign_in(client, email=email, password=password)
    assert response.status_code == 401
    body = text_of(response)
    assert "E-mail or password is wrong" in body
    assert "unknown" not in body.lower() and "no account" not in body.lower()
    assert 'role="alert"' in body
    assert client.get("/clinic/").status_code == 302, "a failed sign-in must not sign in"


def test_sixth_wrong_attempt_for_an_account_is_throttled(client, make_clinic, make_staff, sign_in):
    make_staff(make_clinic())
    for attempt in range(5):
        assert sign_in(client, password=f"wrong {attempt} password").status_code == 401
    response = sign_in(client, password="wrong again password")
    assert response.status_code == 429
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 31
    assert "Too many attempts. Try again in 1 minute" in text_of(response)
    # Even the right password waits: the lock is checked before the password.
    assert sign_in(client).status_code == 429
    # Another browser (another address) is locked out of this account too.
    other = client.application.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    assert sign_in(other).status_code == 429


def test_many_wrong_attempts_from_one_address_are_throttled(app, make_clinic, make_staff, sign_in):
    make_staff(make_clinic())
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    for n in range(20):
        assert sign_in(attacker, email=f"guess{n}@calm.example").status_code == 401
    response = sign_in(attacker, email="guess-more@calm.example")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many attempts" in text_of(response)
    # The real nurse elsewhere is not locked out by someone else's guessing.
    nurse = app.test_client()
    nurse.environ_base["REMOTE_ADDR"] = "198.51.100.2"
    assert sign_in(nurse).status_code == 303


def test_logout_signs_out_with_a_post(staff_client):
    assert staff_client.get("/clinic/logout").status_code == 405
    response = post_form(staff_client, "/clinic/logout", {}, form_path="/clinic/")
    assert response.status_code == 303
    assert response.headers["Location"] == "/clinic/login"
    assert "You are signed out." in text_of(staff_client.get("/clinic/login"))
    assert staff_client.get("/clinic/").status_code == 302


def test_a_new_password_signs_out_every_browser(app, staff_client):
    with app.app_context():
        staff.set_password(staff.by_email("nurse@calm.example"), "a brand new password")
    response = staff_client.get("/clinic/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/clinic/login")


def test_portal_pages_are_never_cached(staff_client):
    response = staff_client.get("/clinic/")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "same-origin"


# -- CSRF --------------------------------------------------------------------------------------------


def test_forms_without_csrf_token_are_refused(app, staff_client, make_treatment):
    treatment_id, token, _ = make_treatment(staff_client.clinic_id)
    before = count_sessions(app)
    response = staff_client.post("/clinic/sessions/new", data={
        "client_name": "Ana", "treated_at": local_input(datetime.now(timezone.utc))})
    assert response.status_code == 400
    assert "This form has expired or was sent from elsewhere" in text_of(response)
    assert count_sessions(app) == before

    assert staff_client.post(f"/clinic/sessions/{treatment_id}/revoke").status_code == 400
    assert row(app, treatment_id).revoked_at is None
    assert staff_client.post("/clinic/settings", data={"name": "Hijacked"}).status_code == 400
    with app.app_context():
        assert db.session.get(Clinic, staff_client.clinic_id).name == "Calm Skin Clinic"
    assert staff_client.post("/clinic/logout").status_code == 400
    assert staff_client.get("/clinic/").status_code == 200


def test_login_without_csrf_token_is_refused(client, make_clinic, make_staff):
    make_staff(make_clinic())
    response = client.post("/clinic/login", data={"email": "nurse@calm.example", "password": PASSWORD})
    assert response.status_code == 400
    assert "Please reload the page and try again" in text_of(response)


# -- Registering a session -----------------------------------------------------------------------------


def test_register_form_defaults_to_now_in_the_clinic_zone(staff_client):
    body = text_of(staff_client.get("/clinic/sessions/new"))
    now = datetime.now(LONDON)
    value = re.search(r'id="treated_at" name="treated_at" type="datetime-local" value="([^"]+)"', body)[1]
    typed = datetime.fromisoformat(value).replace(tzinfo=LONDON)
    assert abs(typed - now) < timedelta(minutes=2)
    assert 'id="timezone" name="timezone" list="time-zones" value="Europe/London"' in body
    assert '<option value="microneedling" selected>' in body
    for area in ("Face", "Neck", "Décolletage", "Scalp", "Hands", "Body"):
        assert f"> {area}</label>" in body
    assert "<summary>Adjust this session's protocol</summary>" in body
    # The heat restriction starts at the protocol's 72 hours.
    assert re.search(r'name="r-heat-amount"[^>]*value="72"', body)
    assert re.search(r'<select id="r-heat-unit" name="r-heat-unit">\s*<option value="hours" selected>', body)
    # Every input has a label.
    ids = set(re.findall(r'<(?:input|select|textarea)[^>]* id="([^"]+)"', body))
    labelled = set(re.findall(r'<label[^>]* for="([^"]+)"', body))
    assert ids - labelled == set()


def test_register_stores_the_session_and_shows_its_result(app, staff_client, register):
    treated_local = datetime.now(LONDON).replace(second=0, microsecond=0) - timedelta(hours=2)
    before = count_sessions(app)
    response = register(
        client_name="  Ana  ", treated_at=f"{treated_local:%Y-%m-%dT%H:%M}", timezone="Europe/London",
        areas=["face", "neck"], areas_other="jawline, ears", needle_depth_mm="1,5",
        series_index="2", series_total="3", next_session_weeks="5", note="Drink plenty of water.",
        **{"r-heat-amount": "5", "r-heat-unit": "days", "r-makeup-amount": "24", "r-makeup-unit": "hours"})
    treatment_id = registered_id(response)
    assert count_sessions(app) == before + 1

    t = row(app, treatment_id)
    assert t.clinic_id == staff_client.clinic_id
    assert t.client_name == "Ana"
    assert t.treated_at == treated_local.astimezone(timezone.utc)
    assert t.timezone == "Europe/London"
    assert t.protocol_id == "microneedling"
    assert t.areas == ["face", "neck", "jawline", "ears"]
    assert t.needle_depth_mm == 1.5
    assert (t.series_index, t.series_total, t.next_session_weeks) == (2, 3, 5)
    assert t.note == "Drink plenty of water."
    # Only what differs from the defaults is kept as this session's own.
    assert t.overrides == {"restrictions": {"heat": {"days": 5}}}

    page = text_of(staff_client.get(f"/clinic/sessions/{treatment_id}"))
    assert "<h1>Ana's aftercare link</h1>" in page


def test_register_reads_the_time_in_the_clients_zone(app, register):
    new_york = ZoneInfo("America/New_York")
    treated_local = datetime.now(new_york).replace(second=0, microsecond=0) - timedelta(hours=3)
    treatment_id = registered_id(register(
        treated_at=f"{treated_local:%Y-%m-%dT%H:%M}", timezone="America/New_York"))
    t = row(app, treatment_id)
    assert t.timezone == "America/New_York"
    assert t.treated_at == treated_local.astimezone(timezone.utc)
    assert t.overrides is None and t.areas is None and t.needle_depth_mm is None
    assert (t.series_index, t.series_total, t.next_session_weeks) == (1, None, None)


def in_days(days):
    return local_input(datetime.now(timezone.utc) + timedelta(days=days))


@pytest.mark.parametrize("fields, field, message", [
    ({"client_name": ""}, "client_name", "Client&#39;s first name or nickname is required."),
    ({"client_name": "   "}, "client_name", "is required."),
    ({"client_name": "A" * 41}, "client_name", "must be at most 40 characters."),
    ({"client_name": "ana@example.com"}, "client_name", "A first name or nickname is enough (no e-mail addresses)."),
    ({"treated_at": in_days(3)}, "treated_at", "Treatment date and time is more than a day in the future."),
    ({"treated_at": in_days(-400)}, "treated_at", "is more than a year ago."),
    ({"treated_at": ""}, "treated_at", "Treatment date and time is required."),
    ({"treated_at": "yesterday"}, "treated_at", "Treatment date and time must be a date and a time."),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone", "Time zone must be an IANA time zone such as Europe/London."),
    ({"protocol": "tattoo"}, "protocol", "Protocol must be one of: microneedling."),
    ({"r-heat-amount": "0", "r-heat-unit": "days"}, "r-heat", "Sauna, steam, swimming and hot showers must be between 1 and 90 days."),
    ({"r-heat-amount": "lots"}, "r-heat", "must be a whole number."),
    ({"r-sun-amount": "3", "r-sun-unit": "weeks"}, "r-sun", "must be a whole number of hours or days."),
    ({"needle_depth_mm": "5"}, "needle_depth_mm", "Needle depth must be more than 0 and at most 3.0 mm."),
    ({"needle_depth_mm": "deep"}, "needle_depth_mm", "must be a number of millimetres"),
    ({"series_index": "4", "series_total": "3"}, "series_index", "Session number cannot be greater than the number of sessions."),
    ({"series_total": "40"}, "series_total", "must be between 1 and 12."),
    ({"next_session_weeks": "two"}, "next_session_weeks", "must be a whole number."),
    ({"note": "x" * 501}, "note", "Note must be at most 500 characters."),
    ({"areas_other": ", ".join(f"area {n}" for n in range(9))}, "areas", "must be a list of up to 8 names"),
])
def test_register_refuses_bad_input_and_keeps_what_was_typed(app, register, fields, field, message):
    before = count_sessions(app)
    typed = {"client_name": "Bea", "note": "Keep cool", "areas": ["scalp"], **fields}
    response = register(**typed)
    assert response.status_code == 422
    assert count_sessions(app) == before, "nothing may be stored from a refused form"
    body = text_of(response)
    error = re.search(rf'<p class="field-error" id="{re.escape(field)}-error">([^<]*)</p>', body)
    assert error, f"no message next to {field}"
    assert message in error[1]
    field_tag = re.search(rf'<(?:input|select|textarea) id="{re.escape(field)}"[^>]*>', body)[0]
    assert 'aria-invalid="true"' in field_tag
    assert f"{field}-error" in re.search(r'aria-describedby="([^"]+)"', field_tag)[1]
    assert 'role="alert"' in body  # the summary of problems at the top
    # What the nurse typed is still there.
    if field != "client_name":
        assert 'name="client_name" value="Bea"' in body
    if field != "note":
        assert ">Keep cool</textarea>" in body
    assert 'value="scalp" id="area-scalp" checked' in body
    if field.startswith("r-"):
        assert '<details class="card adjust" id="overrides" open>' in body


# -- The result page, QR codes, the card --------------------------------------------------------------


def test_result_page_shows_qr_code_short_code_link_and_state(app, staff_client, make_treatment):
    treatment_id, token, code = make_treatment(staff_client.clinic_id, client_name="Ana")
    body = text_of(staff_client.get(f"/clinic/sessions/{treatment_id}"))
    link = f"http://companion.test/s/{token}"
    assert re.search(r"<svg[^>]*class=\"qr\"", body), "the QR code is inline SVG, not escaped"
    assert "&lt;svg" not in body
    assert f'<p class="short-code" id="short-code">{code[:4]}-{code[4:]}</p>' in body
    assert f'href="{link}"' in body and f">{link}</a>" in body
    assert 'data-copy="client-link"' in body
    assert f'href="/clinic/sessions/{treatment_id}/card">Print aftercare card</a>' in body
    assert f'href="/clinic/sessions/{treatment_id}/qr.png"' in body
    assert f'href="/clinic/sessions/{treatment_id}/qr.svg"' in body
    assert f'href="/clinic/sessions/{treatment_id}/revoke"' in body
    assert '<dd id="state-opened">Not yet</dd>' in body
    assert "<script>" not in body and " onclick=" not in body

    staff_client.application.test_client().get(f"/s/{token}")  # the client opens the link
    staff_client.application.test_client().get(f"/s/{token}?app=1")  # ... and installs the app
    body = text_of(staff_client.get(f"/clinic/sessions/{treatment_id}"))
    assert re.search(r'<dd id="state-opened">Yes, \w{3} \d+ \w{3} at \d\d:\d\d</dd>', body)
    assert re.search(r'<dd id="state-installed">Yes, ', body)
    assert not re.search(r'<dd id="state-seen">Never', body)


def test_png_download_decodes_to_the_client_link_that_opens_the_plan(client, staff_client, make_treatment):
    treatment_id, token, _ = make_treatment(staff_client.clinic_id, client_name="Ana")
    response = staff_client.get(f"/clinic/sessions/{treatment_id}/qr.png")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="aftercare-')
    results = zxingcpp.read_barcodes(Image.open(BytesIO(response.data)))
    assert [r.text for r in results] == [f"http://companion.test/s/{token}"]

    path = results[0].text.removeprefix("http://companion.test")
    plan = client.application.test_client().get(path)
    assert plan.status_code == 200
    assert "Hi Ana" in text_of(plan)


def test_svg_download(staff_client, make_treatment):
    treatment_id, token, _ = make_treatment(staff_client.clinic_id)
    response = staff_client.get(f"/clinic/sessions/{treatment_id}/qr.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.data.startswith(b"<svg") and b"</svg>" in response.data


def test_card_has_clinic_qr_code_and_the_first_three_rules(app, staff_client, make_treatment):
    treated_at = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(hours=2)
    treatment_id, token, code = make_treatment(staff_client.clinic_id, treated_at=treated_at)
    response = staff_client.get(f"/clinic/sessions/{treatment_id}/card")
    assert response.status_code == 200
    body = text_of(response)
    assert "Calm Skin Clinic" in body and "+44 20 7946 0123" in body
    assert re.search(r"<svg[^>]*class=\"qr\"", body)
    assert f'<p class="ac-code">{code[:4]}-{code[4:]}</p>' in body
    assert "Scan or go to <strong>http://companion.test</strong> and type the code" in body

    local = treated_at.astimezone(LONDON)
    def when(hours):
        end = local + timedelta(hours=hours)
        return f"{end:%a} {end.day} {end:%b}, {end:%H:%M}"
    rules = re.findall(r"<li><strong>([^<]+)</strong>", body)
    assert rules == [
        f"Make-up: not until {when(24)}",
        f"Sweating and strenuous exercise: not until {when(72)}",
        f"Sauna, steam, swimming and hot showers: not until {when(72)}",
    ]
    assert 'data-print' in body and "<script>" not in body and "onclick" not in body
    css = staff_client.get(re.search(r'href="(/static/css/clinic\.css[^"]*)"', body)[1])
    assert re.search(rb"@page card \{ size: 105mm 148mm", css.data)
    css.close()
    js = staff_client.get(re.search(r'src="(/static/js/clinic\.js[^"]*)"', body)[1])
    assert b"window.print()" in js.data
    js.close()


# -- Settings ----------------------------------------------------------------------------------------------


def settings_form(client, **changes):
    """The settings form as it stands, with `changes`, as a browser would post it."""
    body = text_of(client.get("/clinic/settings"))
    data = dict(re.findall(r'<input id="[^"]+" name="([^"]+)"[^>]* value="([^"]*)"', body))
    data["csrf_token"] = CSRF_RE.search(body)[1]
    data.update(re.findall(r'<textarea id="[^"]+" name="([^"]+)"[^>]*>([^<]*)</textarea>', body))
    for menu in re.finditer(r'<select id="[^"]+" name="([^"]+)"[^>]*>(.*?)</select>', body, re.S):
        chosen = re.search(r'<option value="([^"]+)" selected', menu[2]) or re.search(r'value="([^"]+)"', menu[2])
        data[menu[1]] = chosen[1]
    data.update(changes)
    return data


def test_settings_show_the_clinic_and_the_protocol_defaults(staff_client):
    body = text_of(staff_client.get("/clinic/settings"))
    assert 'name="name" value="Calm Skin Clinic"' in body
    assert 'name="phone" type="tel" value="+44 20 7946 0123"' in body
    assert re.search(r'name="r-heat-amount"[^>]*value="72"', body)
    assert re.search(r'name="interval_weeks"[^>]*value="4"', body)
    assert body.count('<fieldset class="step-row">') == 5
    ids = set(re.findall(r'<(?:input|select|textarea)[^>]* id="([^"]+)"', body))
    assert ids - set(re.findall(r'<label[^>]* for="([^"]+)"', body)) == set()


def test_settings_change_what_clients_see(app, client, staff_client, make_treatment):
    # Treated 4 days ago: sauna and heat (72 h by default) are allowed again already.
    treated_at = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=4)
    _, token, _ = make_treatment(staff_client.clinic_id, treated_at=treated_at)
    plan = text_of(client.get(f"/s/{token}"))
    off_limits = plan.split('id="off-limits"')[1].split("</ul>")[0]
    assert "Sauna" not in off_limits

    data = settings_form(staff_client, **{
        "phone": "+44 20 7000 1111", "r-heat-amount": "5", "r-heat-unit": "days",
        "interval_weeks": "6", "emergency_text": "Call 999 now.\r\nThen call us.",
        "step-1-title": "Cold compress", "step-1-text": "Hold a cool, clean compress for 5 minutes.",
        "step-1-from_day": "0", "step-1-to_day": "7", "step-1-time": "evening"})
    response = staff_client.post("/clinic/settings", data=data)
    assert response.status_code == 303, text_of(response)[:3000]
    assert "Settings saved." in text_of(staff_client.get("/clinic/settings"))

    plan = text_of(client.get(f"/s/{token}"))
    assert "Call Calm Skin Clinic: +44 20 7000 1111" in plan
    assert "Call 999 now. Then call us." in plan
    off_limits = plan.split('id="off-limits"')[1].split("</ul>")[0]
    assert "Sauna, steam, swimming and hot showers" in off_limits
    ends = re.search(r'data-ends-at="([^"]+)">\s*<strong>Sauna', off_limits)[1]
    assert datetime.fromisoformat(ends) == treated_at + timedelta(days=5)
    checklist = plan.split('id="checklist"')[1].split("</ul>")[0]
    assert "Cold compress" in checklist
    assert "Sessions are usually 6–6 weeks apart" in plan

    # The form shows the saved values, and saving again changes nothing.
    body = text_of(staff_client.get("/clinic/settings"))
    assert re.search(r'name="r-heat-amount"[^>]*value="5"', body)
    assert re.search(r'<select id="r-heat-unit" name="r-heat-unit">\s*<option value="hours">hours</option>\s*<option value="days" selected>', body)
    with app.app_context():
        saved = db.session.get(Clinic, staff_client.clinic_id).protocol_overrides
    assert staff_client.post("/clinic/settings", data=settings_form(staff_client)).status_code == 303
    with app.app_context():
        assert db.session.get(Clinic, staff_client.clinic_id).protocol_overrides == saved

    # Back to the protocol's values: nothing of the clinic's own is left.
    data = settings_form(staff_client, **{"r-heat-amount": "72", "r-heat-unit": "hours",
                                          "interval_weeks": "4", "step-1-title": "", "step-1-text": ""})
    assert staff_client.post("/clinic/settings", data=data).status_code == 303
    with app.app_context():
        assert db.session.get(Clinic, staff_client.clinic_id).protocol_overrides is None


@pytest.mark.parametrize("changes, field, message", [
    ({"name": ""}, "name", "Clinic name is required."),
    ({"phone": "call us"}, "phone", "Phone must be a phone number"),
    ({"booking_url": "javascript:alert(1)"}, "booking_url", "must be a web address starting with https://."),
    ({"timezone": "Europe/Atlantis"}, "timezone", "must be an IANA time zone"),
    ({"r-heat-amount": "0"}, "r-heat", "Sauna, steam, swimming and hot showers must be between 1 and 2160 hours."),
    ({"interval_weeks": "30"}, "interval_weeks", "must be a whole number from 1 to 26."),
    ({"step-2-title": "Ice", "step-2-text": "", "step-2-from_day": "0", "step-2-to_day": "1"},
     "step-2-text", "is required (at most 300 characters)."),
    ({"step-3-title": "Ice", "step-3-text": "Cool it.", "step-3-from_day": "", "step-3-to_day": "1"},
     "step-3-from_day", "must be a day number from 0 to 60."),
    ({"step-1-title": "Ice", "step-1-text": "Cool it.", "step-1-from_day": "5", "step-1-to_day": "2"},
     "step-1-to_day", "The last day cannot be before the first day."),
])
def test_settings_refuse_bad_input_and_change_nothing(app, staff_client, changes, field, message):
    response = staff_client.post("/clinic/settings", data=settings_form(staff_client, **changes))
    assert response.status_code == 422
    body = text_of(response)
    error = re.search(rf'<p class="field-error" id="{re.escape(field)}-error">([^<]*)</p>', body)
    assert error, f"no message next to {field}: {re.findall(r'field-error[^<]*<', body)}"
    assert message in error[1]
    assert 'aria-invalid="true"' in re.search(rf'<(?:input|select|textarea) id="{re.escape(field)}"[^>]*>', body)[0]
    for name, value in changes.items():
        if value and not name.endswith("-time"):
            assert f'value="{value}"' in body or f">{value}</textarea>" in body
    with app.app_context():
        clinic = db.session.get(Clinic, staff_client.clinic_id)
        assert (clinic.name, clinic.phone, clinic.timezone, clinic.protocol_overrides) == (
            "Calm Skin Clinic", "+44 20 7946 0123", "Europe/London", None)


# -- Revoking -----------------------------------------------------------------------------------------------


def test_revoke_asks_first_then_withdraws_the_link(app, client, staff_client, make_treatment):
    treatment_id, token, code = make_treatment(staff_client.clinic_id, client_name="Ana")
    confirm = staff_client.get(f"/clinic/sessions/{treatment_id}/revoke")
    assert confirm.status_code == 200
    assert "Withdraw Ana's link?" in text_of(confirm)
    assert row(app, treatment_id).revoked_at is None, "asking must not withdraw"

    response = post_form(staff_client, f"/clinic/sessions/{treatment_id}/revoke", {})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/clinic/sessions/{treatment_id}"
    assert row(app, treatment_id).revoked_at is not None

    page = text_of(staff_client.get(f"/clinic/sessions/{treatment_id}"))
    assert "This link is withdrawn" in page
    assert "class=\"qr\"" not in page
    assert client.get(f"/s/{token}").status_code == 410
    assert client.post("/", data={"code": code}).status_code == 410
    assert staff_client.get(f"/clinic/sessions/{treatment_id}/qr.png").status_code == 410
    card = text_of(staff_client.get(f"/clinic/sessions/{treatment_id}/card"))
    assert "This link is withdrawn" in card and "not until" not in card
    dashboard = text_of(staff_client.get("/clinic/"))
    assert re.search(r'<tr class="is-revoked" data-session="%d">' % treatment_id, dashboard)
    assert "Withdrawn" in dashboard


# -- Dashboard ---------------------------------------------------------------------------------------------


def dashboard_row(body, treatment_id):
    match = re.search(rf'<tr[^>]*data-session="{treatment_id}">(.*?)</tr>', body, re.S)
    return match and match[1]


def test_dashboard_lists_recent_sessions_with_their_state(app, client, staff_client, make_treatment):
    fresh_id, fresh_token, _ = make_treatment(staff_client.clinic_id, client_name="Ana", hours_ago=30)
    quiet_id, _, _ = make_treatment(staff_client.clinic_id, client_name="Cleo", hours_ago=24 * 10)
    old_id, _, _ = make_treatment(staff_client.clinic_id, client_name="Dora", hours_ago=24 * 7 * 7)
    client.get(f"/s/{fresh_token}?app=1")  # opened from the home screen

    body = text_of(staff_client.get("/clinic/"))
    assert 'href="/clinic/sessions/new">Register a session</a>' in body
    fresh = dashboard_row(body, fresh_id)
    assert f'href="/clinic/sessions/{fresh_id}">Ana</a>' in fresh
    assert re.search(r"<td>Day [12]</td>", fresh)
    assert re.search(r'class="state-opened"><span class="yes">Yes</span>', fresh)
    assert re.search(r'class="state-installed"><span class="yes">Yes</span>', fresh)
    assert re.search(r'class="state-reminders"><span class="no">Off</span>', fresh)
    quiet = dashboard_row(body, quiet_id)
    assert "<td>Day 10</td>" in quiet
    assert re.search(r'class="state-opened"><span class="no">Not yet</span>', quiet)
    assert re.search(r'class="state-seen"><span class="no">Never</span>', quiet)
    assert dashboard_row(body, old_id) is None, "older than 6 weeks: not listed"
    assert body.index(">Ana</a>") < body.index(">Cleo</a>"), "newest first"


def test_dashboard_lists_next_sessions_due_this_week(app, staff_client, make_treatment):
    # Four weeks ago: the next session (4 to 6 weeks later) is due from today.
    due_id, _, _ = make_treatment(staff_client.clinic_id, client_name="Ana", hours_ago=24 * 28)
    revoked_id, _, _ = make_treatment(staff_client.clinic_id, client_name="Bea", hours_ago=24 * 28)
    last_id, _, _ = make_treatment(staff_client.clinic_id, client_name="Cleo", hours_ago=24 * 28,
                                   series_index=3, series_total=3)
    make_treatment(staff_client.clinic_id, client_name="Dora", hours_ago=24 * 3)
    with app.app_context():
        treatments.revoke(staff_client.clinic_id, revoked_id)

    body = text_of(staff_client.get("/clinic/"))
    due = body.split('id="due-heading"')[1].split("</section>")[0]
    assert f'href="/clinic/sessions/{due_id}">Ana</a>' in due
    assert "session 2," in due
    assert "Bea" not in due, "a withdrawn link has no next session to book"
    assert "Cleo" not in due, "the last session of a series has no next one"
    assert "Dora" not in due, "treated 3 days ago: not due for weeks"


# -- Isolation between clinics ----------------------------------------------------------------------------------


def test_staff_never_see_or_touch_another_clinics_sessions(app, client, make_clinic, make_staff,
                                                           make_treatment, sign_in):
    clinic_a, clinic_b = make_clinic("Clinic A"), make_clinic("Clinic B")
    make_staff(clinic_a, "a@clinic-a.example")
    make_staff(clinic_b, "b@clinic-b.example")
    a_id, _, _ = make_treatment(clinic_a, client_name="Alma")
    b_id, b_token, b_code = make_treatment(clinic_b, client_name="Bruna")

    staff_a = app.test_client()
    assert sign_in(staff_a, email="a@clinic-a.example").status_code == 303
    token = csrf_token(staff_a, "/clinic/")
    for path in (f"/clinic/sessions/{b_id}", f"/clinic/sessions/{b_id}/qr.png",
                 f"/clinic/sessions/{b_id}/qr.svg", f"/clinic/sessions/{b_id}/card",
                 f"/clinic/sessions/{b_id}/revoke"):
        response = staff_a.get(path)
        assert response.status_code == 404, path
        assert b_token not in text_of(response) and "Bruna" not in text_of(response)
    assert staff_a.post(f"/clinic/sessions/{b_id}/revoke", data={"csrf_token": token}).status_code == 404
    assert staff_a.get("/clinic/sessions/999999").status_code == 404

    dashboard = text_of(staff_a.get("/clinic/"))
    assert "Alma" in dashboard and "Bruna" not in dashboard and f"/clinic/sessions/{b_id}\"" not in dashboard
    assert "Clinic A" in dashboard and "Clinic B" not in dashboard

    # A's registrations and settings stay A's.
    new_id = registered_id(post_form(staff_a, "/clinic/sessions/new", {
        "client_name": "Ana", "treated_at": local_input(datetime.now(timezone.utc)),
        "timezone": "Europe/London", "protocol": "microneedling"}))
    assert row(app, new_id).clinic_id == clinic_a
    assert staff_a.post("/clinic/settings", data=settings_form(staff_a, phone="+1 555 0100 222")).status_code == 303

    b = row(app, b_id)
    assert b.revoked_at is None and b.clinic_id == clinic_b
    with app.app_context():
        assert db.session.get(Clinic, clinic_b).phone == "+44 20 7946 0123"
    assert client.get(f"/s/{b_token}").status_code == 200

    staff_b = app.test_client()
    assert sign_in(staff_b, email="b@clinic-b.example").status_code == 303
    assert staff_b.get(f"/clinic/sessions/{a_id}").status_code == 404
    assert "Bruna" in text_of(staff_b.get("/clinic/"))
    assert staff_b.get(f"/clinic/sessions/{b_id}").status_code == 200


def test_due_list_follows_the_clinics_own_interval(app, staff_client, make_treatment):
    data = settings_form(staff_client, interval_weeks="8")
    assert staff_client.post("/clinic/settings", data=data).status_code == 303
    # Eight weeks ago: too old for the list of recent sessions, due again this week.
    due_id, _, _ = make_treatment(staff_client.clinic_id, client_name="Ana", hours_ago=24 * 7 * 8)
    four_id, _, _ = make_treatment(staff_client.clinic_id, client_name="Bea", hours_ago=24 * 28)
    body = text_of(staff_client.get("/clinic/"))
    due = body.split('id="due-heading"')[1].split("</section>")[0]
    assert f'href="/clinic/sessions/{due_id}">Ana</a>' in due
    assert "Bea" not in due, "with an 8-week interval a session 4 weeks ago is not due yet"
    assert dashboard_row(body, due_id) is None and dashboard_row(body, four_id)



def test_settings_fold_empty_extra_steps(staff_client):
    body = text_of(staff_client.get("/clinic/settings"))
    open_part, folded = body.split('<details class="more-steps">')
    assert "<legend>Step 1</legend>" in open_part and "<legend>Step 2</legend>" not in open_part
    assert all(f"<legend>Step {n}</legend>" in folded for n in (2, 3, 4, 5))


def test_register_form_starts_from_the_clinics_defaults(app, staff_client, register):
    data = settings_form(staff_client, **{"r-heat-amount": "5", "r-heat-unit": "days"})
    assert staff_client.post("/clinic/settings", data=data).status_code == 303
    body = text_of(staff_client.get("/clinic/sessions/new"))
    assert re.search(r'name="r-heat-amount"[^>]*value="5"', body)
    assert re.search(r'<select id="r-heat-unit" name="r-heat-unit">\s*<option value="hours">hours</option>\s*'
                     r'<option value="days" selected>', body)
    # Left as the clinic set it: nothing of the session's own; back to 72 h: the session's own.
    same = registered_id(register(**{"r-heat-amount": "5", "r-heat-unit": "days"}))
    shorter = registered_id(register(**{"r-heat-amount": "72", "r-heat-unit": "hours"}))
    assert row(app, same).overrides is None
    assert row(app, shorter).overrides == {"restrictions": {"heat": {"hours": 72}}}


def test_dashboard_shows_reminder_delivery(app, staff_client, make_treatment, push_service):
    from companion import push, reminders, subscriptions
    from companion.models import Reminder, Treatment

    app.config["PUSH_ENDPOINT_ALLOWLIST"] = [push_service.origin]
    treated = datetime.now(timezone.utc) - timedelta(hours=3)
    on_id, _, _ = make_treatment(staff_client.clinic_id, treated_at=treated, client_name="Pushy")
    failing_id, _, _ = make_treatment(staff_client.clinic_id, treated_at=treated, client_name="Faily")
    make_treatment(staff_client.clinic_id, treated_at=treated, client_name="Silent")
    phones = {tid: push_service.subscribe() for tid in (on_id, failing_id)}
    push_service.answer(phones[failing_id], 500)
    with app.app_context():
        for tid, phone in phones.items():
            subscriptions.save(db.session.get(Treatment, tid), phone.subscription(),
                               app.config["PUSH_ENDPOINT_ALLOWLIST"])
            reminders.queue_test(db.session.get(Treatment, tid), treated)
        sender = push.Sender(push.load_vapid(app.config["VAPID_PRIVATE_KEY_FILE"]),
                             "mailto:ops@clinic.example", [push_service.origin], timeout=2)
        reminders.dispatch(sender, now=treated + timedelta(seconds=1))
        assert db.session.scalar(select(Reminder).where(Reminder.treatment_id == on_id,
                                                        Reminder.state == "sent"))
    rows = {row.split("</th>")[0].rsplit(">", 2)[-2].split("<")[0]: row for row in
            text_of(staff_client.get("/clinic/")).split("<tr")[2:]}
    assert "On" in rows["Pushy"] and "Last delivered" in rows["Pushy"]
    assert "Last failure" in rows["Faily"] and "HTTP 500" in rows["Faily"]
    assert "Off" in rows["Silent"] and "Last" not in rows["Silent"]


def test_next_session_of_a_client_continues_on_the_same_link(app, client, staff_client, register):
    first_id = registered_id(register(client_name="Noa", series_index="1", series_total="3",
                                      timezone="Europe/Madrid"))
    token = row(app, first_id).token
    form = text_of(staff_client.get(f"/clinic/sessions/{first_id}"))
    assert f'href="/clinic/sessions/new?previous={first_id}"' in form
    prefilled = text_of(staff_client.get(f"/clinic/sessions/new?previous={first_id}"))
    assert 'name="previous_session_id" value="%d"' % first_id in prefilled
    assert 'value="Noa"' in prefilled and 'value="2"' in prefilled

    second_id = registered_id(post_form(
        staff_client, "/clinic/sessions/new",
        {"client_name": "Noa", "treated_at": local_input(datetime.now(timezone.utc), ZoneInfo("Europe/Madrid")),
         "timezone": "Europe/Madrid", "protocol": "microneedling", "series_index": "2",
         "series_total": "3", "previous_session_id": str(first_id)}))
    assert row(app, second_id).token == token and row(app, first_id).token != token
    plan = text_of(client.get(f"/s/{token}"))
    assert "Day 0 after your treatment" in plan and "Session 3 of 3" in plan


def test_next_session_of_another_clinics_client_is_not_there(app, staff_client, make_clinic, make_treatment):
    theirs, _, _ = make_treatment(make_clinic("Other"))
    assert staff_client.get(f"/clinic/sessions/new?previous={theirs}").status_code == 404
    before = count_sessions(app)
    response = post_form(staff_client, "/clinic/sessions/new", {
        "client_name": "X", "treated_at": local_input(datetime.now(timezone.utc)),
        "timezone": "Europe/London", "protocol": "microneedling", "previous_session_id": str(theirs)})
    assert response.status_code == 422 and count_sessions(app) == before
