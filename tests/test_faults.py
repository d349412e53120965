"""Faults: the database locked or out of reach answers 503 with a retry hint and stores
nothing half-way."""
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select

from companion import clinics, create_app, treatments
from companion.extensions import db
from companion.models import CheckIn


def test_a_locked_embedded_database_answers_503_and_stores_nothing(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path / "i"), "TESTING": True,
                      "RATELIMIT_ENABLED": False, "SQLITE_BUSY_TIMEOUT_MS": 200})
    with app.app_context():
        clinic = clinics.create("Calm Skin Clinic", timezone="Europe/London")
        t = treatments.create(clinic, client_name="Ana",
                              treated_at=datetime.now(timezone.utc) - timedelta(days=2))
        token = t.token
    client = app.test_client()
    # Another process holds the write lock (a backup, a long migration, a stuck writer).
    holder = sqlite3.connect(Path(app.instance_path) / "companion.sqlite3", timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        answer = client.post("/api/v1/me/check-ins", headers={"Authorization": f"Bearer {token}"},
                             json={"redness": "mild", "swelling": "none", "pain": "none",
                                   "itch": "none", "signs": []})
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "5"
        assert answer.get_json() == {"error": "service_unavailable", "message":
                                     "We are busy for a moment. Please try again in a few seconds."}
        page = client.get(f"/s/{token}")
        assert page.status_code == 503 and "try again in a few seconds" in page.get_data(as_text=True)
    finally:
        holder.rollback()
        holder.close()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CheckIn)) == 0
    again = client.post("/api/v1/me/check-ins", headers={"Authorization": f"Bearer {token}"},
                        json={"redness": "mild", "swelling": "none", "pain": "none",
                              "itch": "none", "signs": []})
    assert again.status_code == 201  # the retry the client was told to make works
    with app.app_context():
        db.engine.dispose()


def test_an_unreachable_database_answers_503_not_a_stack_trace(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path / "i"), "AUTO_MIGRATE": False,
                      "RATELIMIT_ENABLED": False, "SQLALCHEMY_DATABASE_URI":
                          "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2"})
    client = app.test_client()
    api = client.get("/api/v1/me/plan", headers={"Authorization": "Bearer " + "x" * 32})
    assert api.status_code == 503 and api.headers["Retry-After"] == "5"
    assert api.get_json()["error"] == "service_unavailable"
    page = client.post("/", data={"code": "ABCD-2345"})
    assert page.status_code == 503 and "Traceback" not in page.get_data(as_text=True)
    with app.app_context():
        db.engine.dispose()
