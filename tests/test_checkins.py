"""Daily check-ins: the client's API, offline repeats, the clinic's API and dashboard,
isolation between clinics, and the note that only the clinic ever sees."""
import logging
import re
import uuid
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from companion import checkins, staff, treatments
from companion.extensions import db
from companion.models import CheckIn

LONDON = ZoneInfo("Europe/London")
PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
NOTE = "Left cheek looks odd since the walk"
CALM = "Please contact your clinic today and tell them what you noticed."


# -- Helpers and fixtures --------------------------------------------------------------------


def treated_days_ago(days):
    """Local noon `days` days ago in London: day N is then simply treated + N days."""
    today = datetime.now(LONDON).date()
    return datetime.combine(today - timedelta(days=days), time(12), LONDON).astimezone(timezone.utc)


def body(**changes):
    data = {"redness": "none", "swelling": "none", "pain": "none", "itch": "none", **changes}
    return {k: v for k, v in data.items() if v is not None}


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def count_check_ins(app):
    with app.app_context():
        return db.session.scalar(select(func.count(CheckIn.id)))


def text_of(response):
    return response.get_data(as_text=True)


@pytest.fixture
def session_on_day(make_treatment):
    """A session treated `days` days ago at local noon: (id, auth headers, treated_at)."""
    def make(days, clinic_id=None, **fields):
        treated = treated_days_ago(days)
        treatment_id, token, _ = make_treatment(clinic_id, treated_at=treated,
                                                timezone_name="Europe/London", **fields)
        return treatment_id, bearer(token), treated
    return make


@pytest.fixture
def check_in(client):
    def post(auth, status=201, **answers):
        response = client.post("/api/v1/me/check-ins", json=body(**answers), headers=auth)
        assert response.status_code == status, response.get_json()
        return response.get_json()
    return post


def csrf_token(browser, path):
    match = CSRF_RE.search(text_of(browser.get(path)))
    assert match, f"no csrf_token at {path}"
    return match[1]


@pytest.fixture
def staff_browser(app, make_clinic):
    """A signed-in staff member of a clinic: staff_browser(clinic_id) -> test client."""
    def make(clinic_id, email="nurse@calm.example"):
        with app.app_context():
            staff.create(clinic_id, email, PASSWORD)
        browser = app.test_client()
        token = csrf_token(browser, "/clinic/login")
        response = browser.post("/clinic/login", data={
            "csrf_token": token, "email": email, "password": PASSWORD})
        assert response.status_code == 303
        return browser
    return make


def flagged_section(page):
    return page.split('id="flagged-heading"')[1].split("</section>")[0]


# -- The client's check-in ---------------------------------------------------------------------


def test_a_check_in_is_judged_for_its_day_and_kept(app, client, session_on_day, check_in, conforms):
    _, auth, _ = session_on_day(1)
    result = check_in(auth, redness="mild", swelling="mild", pain="mild")
    conforms("CheckInCreated", result)
    assert (result["outcome"], result["day"], result["in_recovery"]) == ("expected", 1, True)
    assert result["message"] == ("What you describe is expected on day 1 after microneedling."
                                 " Keep following today's care.")
    assert result["reasons"] == []
    assert result["clinic"] == {"name": "Calm Skin Clinic", "phone": "+44 20 7946 0123"}

    listing = client.get("/api/v1/me/check-ins", headers=auth)
    conforms("CheckInHistory", listing.get_json())
    assert listing.headers["Cache-Control"] == "private, no-cache"
    [item] = listing.get_json()["items"]
    assert item == {k: v for k, v in result.items() if k != "clinic"}


@pytest.mark.parametrize(("days", "answers", "outcome", "message"), [
    (5, {"redness": "strong"}, "contact_clinic",
     CALM + " Call Calm Skin Clinic on +44 20 7946 0123."),
    (4, {"redness": "moderate"}, "watch",
     "This is a little more than usual for day 4. Keep an eye on it and check in again"
     " tomorrow. If it gets worse, contact your clinic."),
    (1, {"signs": ["pus"]}, "contact_clinic", CALM + " Call Calm Skin Clinic on +44 20 7946 0123."),
    (2, {"signs": ["warmth", "breathing"]}, "emergency", "Call emergency services now."),
    (0, {"signs": ["facial_swelling"]}, "emergency", "Call emergency services now."),
])
def test_outcomes_and_what_the_client_reads(session_on_day, check_in, days, answers, outcome,
                                            message):
    _, auth, _ = session_on_day(days)
    result = check_in(auth, **answers)
    assert (result["outcome"], result["message"]) == (outcome, message)
    assert result["reasons"] and result["reasons"][0]["outcome"] == outcome


def test_redness_that_comes_back_after_improving_means_contact_the_clinic(session_on_day,
                                                                           check_in):
    _, auth, treated = session_on_day(5)
    day = lambda n: (treated + timedelta(days=n, hours=1)).isoformat()  # noqa: E731
    assert check_in(auth, redness="moderate", answered_at=day(1))["outcome"] == "expected"
    assert check_in(auth, redness="none", answered_at=day(3))["outcome"] == "expected"
    result = check_in(auth, redness="mild")  # day 5, now: mild alone is expected on day 5
    assert (result["day"], result["outcome"]) == (5, "contact_clinic")
    assert [r["text"] for r in result["reasons"]] == [
        "Redness came back (mild) after it had gone on day 3."]


def test_an_offline_check_in_is_judged_against_the_ones_before_it(session_on_day, check_in):
    _, auth, treated = session_on_day(5)
    check_in(auth, redness="mild", answered_at=(treated + timedelta(days=3)).isoformat())
    # Sent later, answered on day 2: the day-3 check-in is not "earlier" for it.
    late = check_in(auth, redness="moderate", answered_at=(treated + timedelta(days=2)).isoformat())
    assert (late["day"], late["outcome"]) == (2, "expected")


def test_answered_at_sets_the_recovery_day_in_the_clients_zone(app, session_on_day, check_in):
    treatment_id, auth, treated = session_on_day(6)
    answered = (treated + timedelta(days=2, hours=3)).astimezone(ZoneInfo("America/New_York"))
    result = check_in(auth, answered_at=answered.isoformat(), redness="mild")
    assert result["day"] == 2
    assert datetime.fromisoformat(result["answered_at"]) == answered
    with app.app_context():
        row = db.session.scalar(select(CheckIn).where(CheckIn.treatment_id == treatment_id))
        assert row.answered_at == answered and row.received_at > row.answered_at


def test_after_the_recovery_time_a_check_in_is_still_judged_and_says_so(session_on_day, check_in):
    _, auth, _ = session_on_day(10)
    result = check_in(auth, redness="mild")
    assert (result["day"], result["in_recovery"], result["outcome"]) == (10, False, "contact_clinic")
    assert "after the usual recovery time of 7 days" in result["message"]
    calm = check_in(auth)
    assert (calm["outcome"], calm["in_recovery"]) == ("expected", False)
    assert "after the usual recovery time" in calm["message"]


# -- Offline repeats -------------------------------------------------------------------------------


def test_the_same_client_id_twice_is_stored_once(app, client, session_on_day, check_in):
    _, auth, treated = session_on_day(3)
    key = str(uuid.uuid4())
    answered = (treated + timedelta(days=2)).isoformat()
    first = check_in(auth, 201, redness="strong", client_id=key, answered_at=answered)
    again = check_in(auth, 200, redness="strong", client_id=key, answered_at=answered)
    assert again == first
    assert count_check_ins(app) == 1
    # The key identifies the check-in: a repeat that differs still returns what was stored.
    assert check_in(auth, 200, client_id=key.upper())["id"] == first["id"]
    assert count_check_ins(app) == 1
    # Another session's phone may make the same key: its check-in is its own.
    _, other, _ = session_on_day(3)
    assert check_in(other, 201, client_id=key)["id"] != first["id"]
    assert count_check_ins(app) == 2


def test_two_copies_racing_are_stored_once(app, session_on_day, check_in, monkeypatch):
    _, auth, _ = session_on_day(2)
    key = str(uuid.uuid4())
    first = check_in(auth, 201, client_id=key)
    # The second copy looks before the first is committed and finds nothing.
    lookup, calls = checkins._by_client_id, []

    def racing(treatment_id, client_id):
        calls.append(client_id)
        return None if len(calls) == 1 else lookup(treatment_id, client_id)

    monkeypatch.setattr(checkins, "_by_client_id", racing)
    assert check_in(auth, 200, client_id=key)["id"] == first["id"]
    assert len(calls) == 2 and count_check_ins(app) == 1


# -- Bad input -----------------------------------------------------------------------------------


def future():
    return (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()


@pytest.mark.parametrize(("changes", "field"), [
    ({"redness": None}, "redness"),
    ({"redness": "severe"}, "redness"),
    ({"swelling": 3}, "swelling"),
    ({"pain": ["mild"]}, "pain"),
    ({"itch": ""}, "itch"),
    ({"signs": "pus"}, "signs"),
    ({"signs": ["pus", "itching"]}, "signs"),
    ({"signs": [1]}, "signs"),
    ({"note": "n" * 301}, "note"),
    ({"note": 5}, "note"),
    ({"note": "bell\x07"}, "note"),
    ({"client_id": "not-a-uuid"}, "client_id"),
    ({"client_id": 12345}, "client_id"),
    ({"answered_at": "yesterday"}, "answered_at"),
    ({"answered_at": "2026-11-20T10:00:00"}, "answered_at"),
    ({"answered_at": 1700000000}, "answered_at"),
    ({"answered_at": "future"}, "answered_at"),
    ({"answered_at": "before"}, "answered_at"),
    ({"mood": "fine"}, "body"),
])
def test_bad_input_names_the_field_and_stores_nothing(app, client, session_on_day, changes, field):
    _, auth, treated = session_on_day(3)
    if changes.get("answered_at") == "future":
        changes = {"answered_at": future()}
    elif changes.get("answered_at") == "before":
        changes = {"answered_at": (treated - timedelta(minutes=1)).isoformat()}
    response = client.post("/api/v1/me/check-ins", json=body(**changes), headers=auth)
    assert response.status_code == 422
    payload = response.get_json()
    assert payload["error"] == "invalid" and field in payload["fields"], payload
    assert count_check_ins(app) == 0


def test_every_bad_field_is_named_at_once(client, session_on_day):
    _, auth, _ = session_on_day(3)
    response = client.post("/api/v1/me/check-ins", headers=auth, json={
        "redness": "lots", "signs": ["?"], "client_id": "x", "answered_at": "soon"})
    assert set(response.get_json()["fields"]) == {
        "redness", "swelling", "pain", "itch", "signs", "client_id", "answered_at"}


@pytest.mark.parametrize(("kwargs", "status"), [
    ({"data": "{bad json", "content_type": "application/json"}, 400),
    ({"data": "redness=none", "content_type": "application/x-www-form-urlencoded"}, 415),
    ({"json": ["none"]}, 422),
])
def test_malformed_bodies(app, client, session_on_day, kwargs, status):
    _, auth, _ = session_on_day(3)
    response = client.post("/api/v1/me/check-ins", headers=auth, **kwargs)
    assert response.status_code == status and response.get_json()["message"]
    assert count_check_ins(app) == 0


def test_tokens(app, client, session_on_day, make_token):
    clinic_id, clinic_auth = make_token()
    treatment_id, auth, _ = session_on_day(2, clinic_id)
    for headers, status in [({}, 401), (bearer("x" * 32), 404), (clinic_auth, 404)]:
        assert client.post("/api/v1/me/check-ins", json=body(), headers=headers).status_code == status
        assert client.get("/api/v1/me/check-ins", headers=headers).status_code == status
    with app.app_context():
        treatments.revoke(clinic_id, treatment_id)
    assert client.post("/api/v1/me/check-ins", json=body(), headers=auth).status_code == 410
    assert client.get("/api/v1/me/check-ins", headers=auth).status_code == 410
    assert count_check_ins(app) == 0


# -- The note is for the clinic only ------------------------------------------------------------


def test_the_note_reaches_the_clinic_and_nothing_else(app, client, session_on_day, check_in,
                                                       make_token, staff_browser, caplog):
    caplog.set_level(logging.DEBUG)
    clinic_id, clinic_auth = make_token()
    _, auth, _ = session_on_day(4, clinic_id)
    result = check_in(auth, redness="strong", note=NOTE)
    too_long = client.post("/api/v1/me/check-ins", headers=auth,
                           json=body(note=NOTE + "!" * 300))
    assert too_long.status_code == 422 and NOTE not in text_of(too_long)

    assert NOTE not in str(result)
    assert NOTE not in text_of(client.get("/api/v1/me/check-ins", headers=auth))
    listing = client.get("/api/v1/check-ins?flagged=true", headers=clinic_auth).get_json()
    assert [item["note"] for item in listing["items"]] == [NOTE]
    assert NOTE in text_of(staff_browser(clinic_id).get("/clinic/"))

    assert f"check-in {result['id']} of session" in caplog.text, "flagged check-ins are logged"
    assert NOTE not in caplog.text
    assert all(NOTE not in str(record.args) for record in caplog.records)


# -- The clinic's API ------------------------------------------------------------------------------


def test_flagged_check_ins_newest_first_and_handled(app, client, session_on_day, check_in,
                                                   make_token, conforms):
    clinic_id, clinic_auth = make_token()
    sid, auth, treated = session_on_day(5, clinic_id, client_name="Ana")
    at = lambda n: (treated + timedelta(days=n)).isoformat()  # noqa: E731
    older = check_in(auth, signs=["fever"], answered_at=at(2))
    calm = check_in(auth, answered_at=at(3))
    watch = check_in(auth, itch="moderate", answered_at=at(4))
    newer = check_in(auth, signs=["breathing"])

    flagged = client.get("/api/v1/check-ins?flagged=true", headers=clinic_auth).get_json()
    conforms("CheckInPage", flagged)
    assert [c["id"] for c in flagged["items"]] == [newer["id"], older["id"]]
    first = flagged["items"][0]
    assert (first["session_id"], first["client_name"], first["outcome"], first["flagged"]) == (
        sid, "Ana", "emergency", True)
    assert first["signs"] == ["breathing"] and first["redness"] == "none"
    assert first["message"] == "Call emergency services now."
    everything = client.get("/api/v1/check-ins", headers=clinic_auth).get_json()
    assert [c["id"] for c in everything["items"]] == [newer["id"], watch["id"], calm["id"],
                                                      older["id"]]
    only_watch = client.get("/api/v1/check-ins?outcome=watch", headers=clinic_auth).get_json()
    assert [c["id"] for c in only_watch["items"]] == [watch["id"]]

    handled = client.post(f"/api/v1/check-ins/{newer['id']}/handled", headers=clinic_auth)
    assert handled.status_code == 200
    conforms("CheckIn", handled.get_json())
    assert handled.get_json()["flagged"] is False
    assert handled.get_json()["handled_by"] == "API" and handled.get_json()["handled_at"]
    again = client.post(f"/api/v1/check-ins/{newer['id']}/handled", headers=clinic_auth)
    assert again.get_json()["handled_at"] == handled.get_json()["handled_at"]

    flagged = client.get("/api/v1/check-ins?flagged=true", headers=clinic_auth).get_json()
    assert [c["id"] for c in flagged["items"]] == [older["id"]]
    rest = client.get("/api/v1/check-ins?flagged=false", headers=clinic_auth).get_json()
    assert [c["id"] for c in rest["items"]] == [newer["id"], watch["id"], calm["id"]]
    one = client.get(f"/api/v1/check-ins/{older['id']}", headers=clinic_auth)
    assert one.status_code == 200 and one.get_json()["signs"] == ["fever"]


def test_check_ins_are_paginated_like_sessions(client, session_on_day, check_in, make_token):
    clinic_id, clinic_auth = make_token()
    _, auth, treated = session_on_day(6, clinic_id)
    ids = [check_in(auth, signs=["pus"], answered_at=(treated + timedelta(days=n)).isoformat())["id"]
           for n in range(5)]
    first = client.get("/api/v1/check-ins?flagged=true&per_page=2", headers=clinic_auth).get_json()
    assert [c["id"] for c in first["items"]] == ids[::-1][:2]
    assert (first["total"], first["next_page"]) == (5, 2)
    last = client.get("/api/v1/check-ins?flagged=true&per_page=2&page=3",
                      headers=clinic_auth).get_json()
    assert [c["id"] for c in last["items"]] == [ids[0]] and last["next_page"] is None
    for bad in ("page=0", "per_page=1000", "flagged=yes", "outcome=bad"):
        response = client.get(f"/api/v1/check-ins?{bad}", headers=clinic_auth)
        assert response.status_code == 400 and response.get_json()["fields"], bad
    assert client.get("/api/v1/check-ins").status_code == 401


# -- Isolation between clinics ----------------------------------------------------------------


def test_another_clinics_check_ins_are_not_there(app, client, make_clinic, session_on_day,
                                                 check_in, make_token, staff_browser):
    clinic_a, clinic_b = make_clinic("Clinic A"), make_clinic("Clinic B")
    _, auth_a = make_token(clinic_a)
    _, auth_b = make_token(clinic_b)
    _, client_b, _ = session_on_day(4, clinic_b, client_name="Bruna")
    theirs = check_in(client_b, redness="strong", note=NOTE)["id"]

    for method, path in [("get", f"/api/v1/check-ins/{theirs}"),
                         ("post", f"/api/v1/check-ins/{theirs}/handled"),
                         ("get", f"/api/v1/check-ins/{theirs + 1000}")]:
        response = getattr(client, method)(path, headers=auth_a)
        assert response.status_code == 404, path
        assert response.get_json()["error"] == "not_found"
    assert client.get("/api/v1/check-ins", headers=auth_a).get_json()["total"] == 0

    staff_a = staff_browser(clinic_a, "a@clinic-a.example")
    for path in ("/clinic/", "/clinic/check-ins", "/clinic/check-ins?show=flagged"):
        page = text_of(staff_a.get(path))
        assert "Bruna" not in page and NOTE not in page
    token = csrf_token(staff_a, "/clinic/")
    refused = staff_a.post(f"/clinic/check-ins/{theirs}/handled", data={"csrf_token": token})
    assert refused.status_code == 404
    still = client.get(f"/api/v1/check-ins/{theirs}", headers=auth_b).get_json()
    assert still["flagged"] is True and still["handled_at"] is None


# -- The clinic's dashboard -------------------------------------------------------------------------


def test_staff_see_flagged_check_ins_and_mark_them_handled(app, client, make_clinic,
                                                           session_on_day, check_in,
                                                           staff_browser):
    clinic_id = make_clinic()
    _, ana, treated = session_on_day(5, clinic_id, client_name="Ana")
    _, bea, _ = session_on_day(3, clinic_id, client_name="Bea")
    older = check_in(ana, redness="strong", swelling="mild", note=NOTE,
                     answered_at=(treated + timedelta(days=4)).isoformat())["id"]
    newer = check_in(bea, signs=["facial_swelling"])["id"]
    watched = check_in(bea, itch="moderate")["id"]
    calm = check_in(ana)["id"]
    nurse = staff_browser(clinic_id)

    page = text_of(nurse.get("/clinic/"))
    flagged = flagged_section(page)
    assert flagged.index(f'data-checkin="{newer}"') < flagged.index(f'data-checkin="{older}"'), \
        "newest first"
    assert f'data-checkin="{watched}"' not in flagged and f'data-checkin="{calm}"' not in flagged
    card = flagged.split(f'data-checkin="{older}"')[1].split("</form>")[0]
    assert ">Ana</a>" in card and "day 4" in card and "Contact the clinic" in card
    assert re.search(r"<dt>Redness</dt><dd[^>]*>strong</dd>", card)
    assert re.search(r"<dt>Swelling</dt><dd[^>]*>mild</dd>", card)
    assert "Strong redness; up to mild redness is usual on day 4." in card
    assert NOTE in card
    assert "Swelling of the face or throat." in flagged and "Emergency" in flagged
    watch = page.split('id="watch-heading"')[1].split("</section>")[0]
    assert f'data-checkin="{watched}"' in watch

    token = csrf_token(nurse, "/clinic/")
    assert nurse.post(f"/clinic/check-ins/{older}/handled").status_code == 400, "CSRF"
    done = nurse.post(f"/clinic/check-ins/{older}/handled",
                      data={"csrf_token": token, "next": "/clinic/"})
    assert done.status_code == 303 and done.headers["Location"] == "/clinic/"
    page = text_of(nurse.get("/clinic/"))
    assert "Ana&#39;s check-in of day 4 is marked as handled." in page
    assert f'data-checkin="{older}"' not in flagged_section(page)
    assert f'data-checkin="{newer}"' in flagged_section(page)

    history = text_of(nurse.get("/clinic/check-ins"))
    row = history.split(f'data-checkin="{older}"')[1].split("</tr>")[0]
    assert "Handled" in row and "nurse@calm.example" in row and NOTE in row
    assert history.index(f'data-checkin="{calm}"') < history.index(f'data-checkin="{older}"')
    only_flagged = text_of(nurse.get("/clinic/check-ins?show=flagged"))
    assert f'data-checkin="{newer}"' in only_flagged and f'data-checkin="{older}"' not in only_flagged
    with app.app_context():
        assert db.session.get(CheckIn, older).handled_by == "nurse@calm.example"


def test_the_handled_form_only_returns_into_the_portal(make_clinic, session_on_day, check_in,
                                                       staff_browser):
    clinic_id = make_clinic()
    _, auth, _ = session_on_day(2, clinic_id)
    flagged = check_in(auth, signs=["rash"])["id"]
    nurse = staff_browser(clinic_id)
    token = csrf_token(nurse, "/clinic/")
    done = nurse.post(f"/clinic/check-ins/{flagged}/handled",
                      data={"csrf_token": token, "next": "https://evil.example/"})
    assert done.headers["Location"] == "/clinic/"


def test_an_empty_dashboard_says_nothing_needs_the_clinic(make_clinic, staff_browser):
    nurse = staff_browser(make_clinic())
    assert "No check-in needs the clinic right now." in text_of(nurse.get("/clinic/"))
    assert "No check-ins here yet." in text_of(nurse.get("/clinic/check-ins"))


def test_check_in_pages_need_a_sign_in(client):
    response = client.get("/clinic/check-ins")
    assert response.status_code == 302 and "/clinic/login" in response.headers["Location"]
