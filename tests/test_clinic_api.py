"""The booking-system API: /api/v1/sessions with a clinic token."""
from datetime import datetime, timedelta, timezone
from io import BytesIO

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from companion import apitokens
from companion.extensions import db
from companion.models import Treatment


def iso(hours_ago=2):
    return (datetime.now(timezone.utc) - timedelta(hours=hours_ago)).isoformat()


def count_sessions(app):
    with app.app_context():
        return db.session.scalar(select(func.count(Treatment.id)))


def test_register_read_list_and_withdraw(app, client, make_token, conforms):
    _, auth = make_token()
    body = {"client_name": "Lu", "treated_at": iso(), "timezone": "Europe/Madrid",
            "series_index": 2, "series_total": 4, "next_session_weeks": 5,
            "areas": ["face", "neck"], "needle_depth_mm": 1.5,
            "overrides": {"restrictions": {"heat": {"days": 5}}}, "note": "Be gentle."}
    created = client.post("/api/v1/sessions", json=body, headers=auth)
    assert created.status_code == 201, created.get_json()
    session = created.get_json()
    conforms("Session", session)
    assert session["client_url"].startswith("http://companion.test/s/")
    assert created.headers["Location"] == f"/api/v1/sessions/{session['id']}"
    assert session["overrides"] == body["overrides"]

    # The client's plan follows the session: sauna & co. 5 days, not 72 hours.
    path = session["client_url"].removeprefix("http://companion.test")
    token = path.rsplit("/", 1)[1]
    plan = client.get("/api/v1/me/plan", headers={"Authorization": f"Bearer {token}"}).get_json()
    heat = next(r for r in plan["off_limits"] + plan["allowed"] if r["id"] == "heat")
    ends = datetime.fromisoformat(heat["ends_at"]) - datetime.fromisoformat(plan["session"]["treated_at"])
    assert timedelta(days=4, hours=23) <= ends <= timedelta(days=5, hours=1)
    assert plan["session"]["series"] == {"index": 2, "total": 4}

    again = client.get(f"/api/v1/sessions/{session['id']}", headers=auth).get_json()
    assert again["first_opened_at"] and again["last_seen_at"], "the client opened the plan"
    opened = {"first_opened_at", "last_seen_at"}
    assert {k: v for k, v in again.items() if k not in opened} == {
        k: v for k, v in session.items() if k not in opened}
    listing = client.get("/api/v1/sessions", headers=auth).get_json()
    conforms("SessionPage", listing)
    assert [s["id"] for s in listing["items"]] == [session["id"]]

    assert client.delete(f"/api/v1/sessions/{session['id']}", headers=auth).status_code == 204
    assert client.get(path).status_code == 410
    assert client.get(f"/api/v1/sessions/{session['id']}", headers=auth).get_json()["revoked_at"]


def test_qr_codes_decode_to_the_client_link(client, make_token):
    _, auth = make_token()
    session = client.post("/api/v1/sessions", json={"client_name": "Bo", "treated_at": iso()},
                          headers=auth).get_json()
    png = client.get(session["qr_png_url"].removeprefix("http://companion.test"), headers=auth)
    assert png.status_code == 200 and png.mimetype == "image/png"
    decoded = zxingcpp.read_barcodes(Image.open(BytesIO(png.data)))
    assert [d.text for d in decoded] == [session["client_url"]]
    svg = client.get(session["qr_svg_url"].removeprefix("http://companion.test"), headers=auth)
    assert svg.mimetype == "image/svg+xml" and svg.data.startswith(b"<svg")
    assert client.get(session["qr_png_url"].removeprefix("http://companion.test")).status_code == 401


def test_newest_first_and_paginated(client, make_token):
    _, auth = make_token()
    ids = [client.post("/api/v1/sessions", json={"client_name": f"C{n}", "treated_at": iso()},
                       headers=auth).get_json()["id"] for n in range(5)]
    first = client.get("/api/v1/sessions?per_page=2", headers=auth).get_json()
    assert [s["id"] for s in first["items"]] == ids[::-1][:2]
    assert first["total"] == 5 and first["next_page"] == 2
    last = client.get("/api/v1/sessions?per_page=2&page=3", headers=auth).get_json()
    assert [s["id"] for s in last["items"]] == [ids[0]] and last["next_page"] is None
    for bad in ("page=0", "per_page=1000", "page=x", "per_page=-1"):
        response = client.get(f"/api/v1/sessions?{bad}", headers=auth)
        assert response.status_code == 400 and response.get_json()["fields"]


LONG = "x" * 41


@pytest.mark.parametrize("change, field", [
    ({"client_name": None}, "client_name"),
    ({"client_name": ""}, "client_name"),
    ({"client_name": LONG}, "client_name"),
    ({"client_name": 42}, "client_name"),
    ({"client_name": "ana@example.com"}, "client_name"),
    ({"treated_at": None}, "treated_at"),
    ({"treated_at": "yesterday"}, "treated_at"),
    ({"treated_at": "2026-11-20T18:30:00"}, "treated_at"),
    ({"treated_at": (datetime.now(timezone.utc) + timedelta(days=30)).isoformat()}, "treated_at"),
    ({"treated_at": "1999-01-01T00:00:00Z"}, "treated_at"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"timezone": 3}, "timezone"),
    ({"protocol": "laser"}, "protocol"),
    ({"series_index": "two"}, "series_index"),
    ({"series_index": 0}, "series_index"),
    ({"series_index": 5, "series_total": 3}, "series_index"),
    ({"series_total": True}, "series_total"),
    ({"next_session_weeks": 99}, "next_session_weeks"),
    ({"areas": "x" * 50}, "areas"),
    ({"areas": [1, 2]}, "areas"),
    ({"needle_depth_mm": 9}, "needle_depth_mm"),
    ({"needle_depth_mm": "deep"}, "needle_depth_mm"),
    ({"overrides": {"restrictions": {"heat": {"days": -1}}}}, "overrides.restrictions.heat.days"),
    ({"overrides": {"restrictions": {"heat": {"weeks": 1}}}}, "overrides.restrictions.heat"),
    ({"overrides": {"restrictions": {"nope": {"days": 1}}}}, "overrides.restrictions.nope"),
    ({"overrides": {"steps": []}}, "overrides"),
    ({"note": "n" * 501}, "note"),
    ({"surname": "Smith"}, "body"),
])
def test_bad_input_is_refused_by_field_and_nothing_stored(app, client, make_token, change, field):
    _, auth = make_token()
    body = {"client_name": "Lu", "treated_at": iso(), **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = client.post("/api/v1/sessions", json=body, headers=auth)
    assert response.status_code == 422
    payload = response.get_json()
    assert field in payload["fields"], payload
    assert payload["message"]
    assert count_sessions(app) == 0


@pytest.mark.parametrize("kwargs, status", [
    ({"data": "{bad json", "content_type": "application/json"}, 400),
    ({"data": "client_name=Lu", "content_type": "application/x-www-form-urlencoded"}, 415),
    ({"json": ["a", "list"]}, 422),
    ({"data": '{"client_name": "' + "x" * 70_000 + '"}', "content_type": "application/json"}, 413),
])
def test_malformed_bodies_get_clear_errors(app, client, make_token, kwargs, status):
    _, auth = make_token()
    response = client.post("/api/v1/sessions", headers=auth, **kwargs)
    assert response.status_code == status
    assert response.is_json and response.get_json()["message"]
    assert count_sessions(app) == 0


def test_tokens_are_required_and_revocable(app, client, make_token):
    clinic_id, auth = make_token()
    body = {"client_name": "Lu", "treated_at": iso()}
    assert client.post("/api/v1/sessions", json=body).status_code == 401
    bad = {"Authorization": "Bearer cmp_" + "x" * 43}
    assert client.post("/api/v1/sessions", json=body, headers=bad).status_code == 401
    with app.app_context():
        row = apitokens.for_clinic(clinic_id)[0]
        apitokens.revoke(clinic_id, row.id)
    assert client.get("/api/v1/sessions", headers=auth).status_code == 401


def test_a_clinic_never_sees_another_clinics_sessions(app, client, make_clinic, make_token):
    _, auth_a = make_token(make_clinic("A"))
    _, auth_b = make_token(make_clinic("B"))
    theirs = client.post("/api/v1/sessions", json={"client_name": "Bea", "treated_at": iso()},
                         headers=auth_b).get_json()
    sid = theirs["id"]
    for method, path in [("get", f"/api/v1/sessions/{sid}"),
                         ("delete", f"/api/v1/sessions/{sid}"),
                         ("get", f"/api/v1/sessions/{sid}/qr.svg"),
                         ("get", f"/api/v1/sessions/{sid}/qr.png"),
                         ("get", f"/api/v1/sessions/{sid + 1000}")]:
        response = getattr(client, method)(path, headers=auth_a)
        assert response.status_code == 404, (method, path)
        assert response.get_json()["error"] == "not_found"
    assert client.get("/api/v1/sessions", headers=auth_a).get_json()["total"] == 0
    assert client.get(f"/api/v1/sessions/{sid}", headers=auth_b).get_json()["revoked_at"] is None


def test_client_tokens_are_not_clinic_tokens(client, make_treatment):
    _, token, _ = make_treatment()
    response = client.get("/api/v1/sessions", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_next_session_continues_on_the_same_client_link(app, client, make_token, push_service):
    from companion import subscriptions
    from companion.models import PushSubscription, Reminder

    app.config["PUSH_ENDPOINT_ALLOWLIST"] = [push_service.origin]
    _, auth = make_token()
    first = client.post("/api/v1/sessions", headers=auth, json={
        "client_name": "Lu", "treated_at": iso(24 * 30), "timezone": "Europe/Madrid",
        "series_index": 1, "series_total": 3}).get_json()
    path = first["client_url"].removeprefix("http://companion.test")
    token = path.rsplit("/", 1)[1]
    bearer = {"Authorization": f"Bearer {token}"}
    client.put("/api/v1/me/preferences", headers=bearer, json={"morning": "07:45"})
    with app.app_context():
        subscriptions.save(db.session.get(Treatment, first["id"]),
                           push_service.subscribe().subscription(), [push_service.origin])

    second = client.post("/api/v1/sessions", headers=auth, json={
        "client_name": "Lu", "treated_at": iso(2), "series_index": 2, "series_total": 3,
        "previous_session_id": first["id"]})
    assert second.status_code == 201, second.get_json()
    second = second.get_json()
    assert second["client_url"] == first["client_url"] and second["short_code"] == first["short_code"]
    assert second["previous_session_id"] == first["id"] and second["timezone"] == "Europe/Madrid"

    plan = client.get("/api/v1/me/plan", headers=bearer).get_json()
    assert plan["day"] == 0 and plan["session"]["series"] == {"index": 2, "total": 3}
    assert client.get("/api/v1/me/preferences", headers=bearer).get_json()["morning"] == "07:45"
    with app.app_context():
        assert {s.treatment_id for s in db.session.scalars(select(PushSubscription))} == {second["id"]}
        owners = {r.treatment_id for r in db.session.scalars(
            select(Reminder).where(Reminder.state == "pending"))}
        assert owners == {second["id"]}
    old = client.get(f"/api/v1/sessions/{first['id']}", headers=auth).get_json()
    assert old["client_url"] != first["client_url"], "the earlier session keeps a retired link"
    assert old["revoked_at"] is None


@pytest.mark.parametrize("whose", ["other-clinic", "missing", "withdrawn"])
def test_continuing_needs_a_live_session_of_the_same_clinic(app, client, make_clinic, make_token, whose):
    _, auth = make_token(make_clinic("A"))
    _, other = make_token(make_clinic("B"))
    owner = other if whose == "other-clinic" else auth
    earlier = client.post("/api/v1/sessions", headers=owner,
                          json={"client_name": "Bo", "treated_at": iso(48)}).get_json()["id"]
    if whose == "withdrawn":
        client.delete(f"/api/v1/sessions/{earlier}", headers=auth)
    ref = earlier + 100 if whose == "missing" else earlier
    before = count_sessions(app)
    response = client.post("/api/v1/sessions", headers=auth, json={
        "client_name": "Bo", "treated_at": iso(), "previous_session_id": ref})
    assert response.status_code == 422
    assert "previous_session_id" in response.get_json()["fields"]
    assert count_sessions(app) == before
