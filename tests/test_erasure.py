"""Deleting: the client's "forget me" (DELETE /api/v1/me) and the clinic's erase (API and
portal) leave no row about the client behind, only a tombstone without personal data."""
import re
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import event, func, inspect, select, text

from companion import erasure, treatments
from companion.extensions import db
from companion.models import Clinic, DeletedSession, Treatment
from test_portal import (csrf_token, make_staff, post_form, sign_in, staff_client,  # noqa: F401 (fixtures)
                         text_of)

NAME = "Zoraida"  #: a name found nowhere else, so that any trace of it shows
NOTE = "Quokka balm twice a day"
CHECK_IN_NOTE = "Tingling near the left ear"
AREA = "decollete-zone"
TOMBSTONE_COLUMNS = {"id", "clinic_id", "created_at", "deleted_at", "deleted_by"}


def iso(hours_ago):
    return (datetime.now(timezone.utc) - timedelta(hours=hours_ago)).isoformat()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def tables_about_sessions():
    """Every (table, column) that refers to a session: found in the schema, so that a table
    added later is counted too (and erasure.DEPENDENT has to know it)."""
    return [(table, fk.parent) for table in db.metadata.sorted_tables
            for fk in table.foreign_keys if fk.column.table.name == "treatments"]


def rows_about(app, ids):
    """Rows that belong to sessions `ids`, per table (the sessions themselves included)."""
    with app.app_context():
        counts = {"treatments": db.session.scalar(
            select(func.count()).select_from(Treatment).where(Treatment.id.in_(ids)))}
        for table, column in tables_about_sessions():
            key = f"{table.name}.{column.name}"
            counts[key] = db.session.scalar(
                select(func.count()).select_from(table).where(column.in_(ids)))
        return counts


def everything(app):
    """Every row of every table as text: what a look at the whole database would find."""
    with app.app_context():
        return "\n".join(repr(row) for table in db.metadata.sorted_tables
                         for row in db.session.execute(select(table)))


def tombstones(app):
    with app.app_context():
        return {d.id: {c: getattr(d, c) for c in TOMBSTONE_COLUMNS}
                for d in db.session.scalars(select(DeletedSession))}


@pytest.fixture
def footprint(app, client, make_token, push_service):
    """A client with a series of two sessions on one link, as a clinic and a phone leave
    them: notes, areas, preferences, a phone subscribed, reminders, check-ins; and another
    client of the same clinic, who must keep everything."""
    app.config["PUSH_ENDPOINT_ALLOWLIST"] = [push_service.origin]
    clinic_id, auth = make_token()

    def register(**fields):
        response = client.post("/api/v1/sessions", headers=auth, json={
            "timezone": "Europe/Madrid", "series_total": 3, **fields})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def check_in(token, hours_ago, note):
        response = client.post("/api/v1/me/check-ins", headers=bearer(token), json={
            "redness": "strong", "swelling": "mild", "pain": "none", "itch": "mild",
            "signs": ["warmth"], "note": note, "answered_at": iso(hours_ago)})
        assert response.status_code == 201, response.get_json()

    first = register(client_name=NAME, treated_at=iso(24 * 30), series_index=1, note=NOTE,
                     areas=[AREA], needle_depth_mm=1.25)
    token = first["client_url"].rsplit("/", 1)[1]
    check_in(token, 24 * 29, CHECK_IN_NOTE)
    client.put("/api/v1/me/preferences", headers=bearer(token),
               json={"morning": "07:10", "timezone": "Atlantic/Canary"})
    phone = push_service.subscribe().subscription()
    assert client.put("/api/v1/me/push-subscription", headers=bearer(token),
                      json=phone).status_code == 201
    second = register(client_name=NAME, treated_at=iso(20), series_index=2, note=NOTE,
                      previous_session_id=first["id"])
    check_in(token, 1, CHECK_IN_NOTE)
    assert client.post("/api/v1/me/test-notification", headers=bearer(token)).status_code == 202

    other = register(client_name="Bea", treated_at=iso(30), note="Other client's note")
    other_token = other["client_url"].rsplit("/", 1)[1]
    check_in(other_token, 2, "Bea's own words")
    client.put("/api/v1/me/push-subscription", headers=bearer(other_token),
               json=push_service.subscribe().subscription())

    return {"clinic_id": clinic_id, "auth": auth, "token": token, "code": first["short_code"],
            "ids": [first["id"], second["id"]], "other": other["id"], "phone": phone,
            "other_token": other_token}


def test_forget_me_deletes_every_row_about_the_client_and_keeps_a_bare_tombstone(
        app, client, footprint, conforms):
    ids, token = footprint["ids"], footprint["token"]
    before = rows_about(app, ids)
    # The fixture really made what the deletion has to find: every kind of row is there.
    assert before["treatments"] == 2 and before["check_ins.treatment_id"] == 2
    assert before["push_subscriptions.treatment_id"] == 1 and before["reminders.treatment_id"] > 1
    assert before["treatments.previous_id"] == 1
    others_before = rows_about(app, [footprint["other"]])

    response = client.delete("/api/v1/me", headers=bearer(token))
    assert response.status_code == 204 and response.get_data() == b""

    assert set(rows_about(app, ids).values()) == {0}, rows_about(app, ids)
    assert rows_about(app, [footprint["other"]]) == others_before, "the other client keeps all"
    with app.app_context():
        created = {t.id: t.created_at for t in db.session.scalars(select(Treatment))}
    stones = tombstones(app)
    assert set(stones) == set(ids)
    for stone in stones.values():
        assert stone["deleted_by"] == "client" and stone["clinic_id"] == footprint["clinic_id"]
        assert stone["deleted_at"] >= stone["created_at"]
    with app.app_context():
        assert {c["name"] for c in inspect(db.engine).get_columns("deleted_sessions")} == \
            TOMBSTONE_COLUMNS, "a tombstone column was added: is it free of personal data?"
    assert footprint["other"] in created

    left = everything(app)
    for personal in (NAME, NOTE, CHECK_IN_NOTE, AREA, token, footprint["code"].replace("-", ""),
                     footprint["phone"]["endpoint"], footprint["phone"]["keys"]["auth"],
                     "Atlantic/Canary", "07:10"):
        assert personal not in left, f"{personal!r} is still in the database"
    assert "Bea's own words" in left  # the search does see what is there


def test_after_forgetting_the_link_opens_nothing_and_asking_again_is_a_clear_404(
        app, client, footprint):
    token, code = footprint["token"], footprint["code"]
    assert client.delete("/api/v1/me", headers=bearer(token)).status_code == 204
    for method, path in [("get", "/api/v1/me/plan"), ("get", "/api/v1/me/preferences"),
                         ("get", "/api/v1/me/check-ins"), ("delete", "/api/v1/me")]:
        response = getattr(client, method)(path, headers=bearer(token))
        assert response.status_code == 404, (method, path)
        assert response.get_json() == {"error": "not_found",
                                       "message": "No aftercare plan matches this token."}
    assert client.get(f"/s/{token}").status_code == 404
    assert client.post("/", data={"code": code}).status_code == 404


def test_the_clinic_sees_sessions_deleted_by_the_client_and_nothing_else(
        app, client, footprint, conforms, make_staff, sign_in):
    first, second = footprint["ids"]
    assert client.delete("/api/v1/me", headers=bearer(footprint["token"])).status_code == 204

    auth = footprint["auth"]
    for session_id in (first, second):
        for method, path in [("get", f"/api/v1/sessions/{session_id}"),
                             ("delete", f"/api/v1/sessions/{session_id}"),
                             ("post", f"/api/v1/sessions/{session_id}/erase"),
                             ("get", f"/api/v1/sessions/{session_id}/qr.svg")]:
            response = getattr(client, method)(path, headers=auth)
            assert response.status_code == 410, (method, path)
            body = response.get_json()
            conforms("Deleted", body)
            assert body["deleted_by"] == "client" and body["session_id"] == session_id
            assert body["message"] == "The client deleted this session and everything about it."
    listing = client.get("/api/v1/sessions", headers=auth).get_json()
    assert [s["id"] for s in listing["items"]] == [footprint["other"]]
    checkins = client.get("/api/v1/check-ins", headers=auth).get_json()
    assert {c["session_id"] for c in checkins["items"]} == {footprint["other"]}
    # Continuing a deleted session is refused with a reason.
    response = client.post("/api/v1/sessions", headers=auth, json={
        "client_name": "Ana", "treated_at": iso(1), "previous_session_id": second})
    assert response.status_code == 422
    assert response.get_json()["fields"]["previous_session_id"].startswith("was deleted")

    make_staff(footprint["clinic_id"])
    staff = app.test_client()
    assert sign_in(staff).status_code == 303
    page = staff.get(f"/clinic/sessions/{second}")
    assert page.status_code == 410
    assert re.search(r"Deleted by the client on \w{3} \d+ \w{3} at \d\d:\d\d", text_of(page))
    dashboard = text_of(staff.get("/clinic/"))
    deleted = dashboard.split('id="deleted-heading"')[1].split("</section>")[0]
    for session_id in (first, second):
        item = re.search(rf'<li data-deleted="{session_id}" data-deleted-by="client">(.*?)</li>',
                         deleted, re.S)
        assert item and "Deleted by the client on" in item[1] and f"Session {session_id}" in item[1]
    for page in (dashboard, text_of(staff.get(f"/clinic/sessions/{first}"))):
        assert NAME not in page and NOTE not in page and CHECK_IN_NOTE not in page
    assert staff.get(f"/clinic/sessions/{second}/erase").status_code == 410


def test_forgetting_needs_the_clients_own_token(app, client, footprint, make_token):
    ids = footprint["ids"]
    _, other_clinic = make_token()
    for headers, status in [({}, 401), ({"Authorization": "Basic eA=="}, 401),
                            (bearer("x" * 32), 404), (bearer("x" * 5000), 404),
                            (bearer("../../etc"), 404), (footprint["auth"], 404),
                            (other_clinic, 404)]:
        response = client.delete("/api/v1/me", headers=headers)
        assert response.status_code == status, headers
        assert response.get_json()["message"]
    assert rows_about(app, ids)["treatments"] == 2, "nothing was deleted"
    assert tombstones(app) == {}


def test_a_withdrawn_link_can_still_forget(app, client, footprint):
    auth, second = footprint["auth"], footprint["ids"][1]
    assert client.delete(f"/api/v1/sessions/{second}", headers=auth).status_code == 204
    assert client.get("/api/v1/me/plan", headers=bearer(footprint["token"])).status_code == 410
    assert client.delete("/api/v1/me", headers=bearer(footprint["token"])).status_code == 204
    assert set(rows_about(app, footprint["ids"]).values()) == {0}


def test_two_deletes_at_once_delete_once(app, footprint):
    token, results = footprint["token"], []

    def forget():
        results.append(app.test_client().delete("/api/v1/me", headers=bearer(token)).status_code)

    threads = [threading.Thread(target=forget) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [204, 404]
    assert set(tombstones(app)) == set(footprint["ids"])


def test_the_clinic_erases_one_session_through_the_api(app, client, footprint, make_token, conforms):
    auth, (first, second), other = footprint["auth"], footprint["ids"], footprint["other"]
    _, stranger = make_token()
    assert client.post(f"/api/v1/sessions/{second}/erase", headers=stranger).status_code == 404
    assert client.post(f"/api/v1/sessions/{second}/erase",
                       headers=bearer(footprint["token"])).status_code == 401
    assert client.get(f"/api/v1/sessions/{second}/erase", headers=auth).status_code == 405
    assert rows_about(app, [second])["treatments"] == 1

    assert client.post(f"/api/v1/sessions/{second}/erase", headers=auth).status_code == 204
    assert set(rows_about(app, [second]).values()) == {0}
    assert client.get("/api/v1/me/plan", headers=bearer(footprint["token"])).status_code == 404
    body = client.get(f"/api/v1/sessions/{second}", headers=auth).get_json()
    conforms("Deleted", body)
    assert body["deleted_by"] == "clinic"
    again = client.post(f"/api/v1/sessions/{second}/erase", headers=auth)
    assert again.status_code == 410 and again.get_json()["error"] == "deleted"
    # Another clinic cannot tell a deleted session of this one from one that never existed.
    response = client.get(f"/api/v1/sessions/{second}", headers=stranger)
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"
    # The earlier session of the series stays, without its link to the deleted one.
    earlier = client.get(f"/api/v1/sessions/{first}", headers=auth).get_json()
    assert earlier["client_name"] == NAME
    assert client.get(f"/api/v1/sessions/{other}", headers=auth).status_code == 200
    assert set(tombstones(app)) == {second}


def test_continuing_sessions_lose_only_the_deleted_history(app, client, footprint):
    auth, (first, second) = footprint["auth"], footprint["ids"]
    assert client.post(f"/api/v1/sessions/{first}/erase", headers=auth).status_code == 204
    later = client.get(f"/api/v1/sessions/{second}", headers=auth).get_json()
    assert later["previous_session_id"] is None
    assert client.get("/api/v1/me/plan", headers=bearer(footprint["token"])).status_code == 200
    assert set(rows_about(app, [first]).values()) == {0}


@pytest.mark.parametrize("path", ["/api/v1/sessions/0/erase", "/api/v1/sessions/abc/erase",
                                  "/api/v1/sessions/-1/erase", "/api/v1/sessions/99999999999/erase",
                                  "/api/v1/sessions/999/erase"])
def test_erasing_what_is_not_there_is_a_clear_404(client, footprint, path):
    response = client.post(path, headers=footprint["auth"])
    assert response.status_code == 404
    assert response.is_json and response.get_json()["message"]


def test_a_deleted_sessions_number_is_never_given_again(app, client, make_token):
    _, auth = make_token()
    newest = client.post("/api/v1/sessions", headers=auth,
                         json={"client_name": "Lu", "treated_at": iso(1)}).get_json()
    assert client.post(f"/api/v1/sessions/{newest['id']}/erase", headers=auth).status_code == 204
    again = client.post("/api/v1/sessions", headers=auth,
                        json={"client_name": "Mo", "treated_at": iso(1)}).get_json()
    assert again["id"] > newest["id"]
    assert client.get(f"/api/v1/sessions/{newest['id']}", headers=auth).status_code == 410


def test_staff_delete_a_session_after_a_confirming_step(app, client, staff_client, make_treatment,
                                                        make_clinic, make_staff, sign_in):
    earlier_id, _, _ = make_treatment(staff_client.clinic_id, client_name=NAME, hours_ago=24 * 30)
    with app.app_context():
        later = treatments.create(db.session.get(Clinic, staff_client.clinic_id), client_name=NAME,
                                  treated_at=datetime.now(timezone.utc) - timedelta(hours=3),
                                  note=NOTE, previous_id=earlier_id)
        later_id, token = later.id, later.token

    session_page = text_of(staff_client.get(f"/clinic/sessions/{later_id}"))
    assert f'href="/clinic/sessions/{later_id}/erase"' in session_page
    confirm = staff_client.get(f"/clinic/sessions/{later_id}/erase")
    assert confirm.status_code == 200
    assert f"Delete {NAME}'s data?" in text_of(confirm)
    assert f'href="/clinic/sessions/{earlier_id}">Session {earlier_id}</a>' in text_of(confirm)
    assert rows_about(app, [later_id])["treatments"] == 1, "asking must not delete"

    # Another clinic's staff: the session is simply not there.
    other = make_clinic("Other Clinic")
    make_staff(other, "x@other.example")
    stranger = app.test_client()
    assert sign_in(stranger, email="x@other.example").status_code == 303
    assert stranger.get(f"/clinic/sessions/{later_id}/erase").status_code == 404
    token_b = csrf_token(stranger, "/clinic/")
    assert stranger.post(f"/clinic/sessions/{later_id}/erase",
                         data={"csrf_token": token_b}).status_code == 404
    # Without the form's CSRF token nothing happens.
    assert staff_client.post(f"/clinic/sessions/{later_id}/erase").status_code == 400
    assert rows_about(app, [later_id])["treatments"] == 1

    response = post_form(staff_client, f"/clinic/sessions/{later_id}/erase", {})
    assert response.status_code == 303 and response.headers["Location"] == "/clinic/"
    assert set(rows_about(app, [later_id]).values()) == {0}
    dashboard = text_of(staff_client.get("/clinic/"))
    assert f"Session {later_id} and everything about it are deleted." in dashboard
    assert re.search(rf'<li data-deleted="{later_id}" data-deleted-by="clinic">.*?Deleted by the '
                     r"clinic on", dashboard, re.S)
    assert client.get(f"/s/{token}").status_code == 404
    assert rows_about(app, [earlier_id])["treatments"] == 1, "the earlier session is its own"
    assert staff_client.get(f"/clinic/sessions/{later_id}").status_code == 410
    assert post_form(staff_client, f"/clinic/sessions/{later_id}/erase", {},
                     form_path="/clinic/").status_code == 410


def test_deleted_pages_read_in_spanish(app, staff_client, make_treatment):
    from test_portal_spanish import left_in_english

    def both(path):
        pages = [text_of(staff_client.get(f"{path}?lang={lang}")) for lang in ("en", "es")]
        assert not left_in_english(*pages), path
        return pages[1]

    treatment_id, _, _ = make_treatment(staff_client.clinic_id, client_name="Ana")
    assert "Borrar los datos de esta sesión" in both(f"/clinic/sessions/{treatment_id}")
    assert "¿Borrar los datos de Ana?" in both(f"/clinic/sessions/{treatment_id}/erase")
    post_form(staff_client, f"/clinic/sessions/{treatment_id}/erase", {})
    for path in (f"/clinic/sessions/{treatment_id}", "/clinic/"):
        assert "Borrada por la clínica el" in both(path), path


def test_every_table_about_sessions_is_deleted_by_the_service(app):
    """A table added later that refers to sessions must be deleted with them."""
    with app.app_context():
        referring = {table.name for table, _ in tables_about_sessions()} - {"treatments"}
    assert referring == {model.__tablename__ for model in erasure.DEPENDENT}


def test_the_sqlite_file_keeps_no_bytes_of_a_forgotten_client(app, client, footprint, database):
    if database:
        pytest.skip("PostgreSQL frees deleted rows' space at its next vacuum (docs/data-lifecycle.md)")
    with app.app_context():
        # As SQLite is built by default (Debian's build turns it on at compile time).
        event.listen(db.engine, "connect",
                     lambda connection, _: connection.execute("PRAGMA secure_delete=OFF"))
        db.engine.dispose()
    assert client.delete("/api/v1/me", headers=bearer(footprint["token"])).status_code == 204
    with app.app_context():
        with db.engine.connect() as connection:
            connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        path = Path(db.engine.url.database)
    raw = path.read_bytes()
    for personal in (NAME, NOTE, CHECK_IN_NOTE, footprint["token"]):
        assert personal.encode() not in raw, f"{personal!r} can still be read in {path}"
    assert b"Bea's own words" in raw  # what is kept is there to be found
