"""/healthz: what the proxy and monitors see of the database and the dispatchers."""
from datetime import datetime, timedelta, timezone

from companion import create_app, health, scheduler
from companion.extensions import db


def test_no_dispatcher_yet_is_unhealthy_and_says_so(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "ok",
                                   "scheduler": "no heartbeat yet"}
    assert response.headers["Cache-Control"] == "no-store"


def test_a_dispatcher_run_makes_it_healthy(app, client):
    app.extensions["companion.dispatcher_id"] = "dispatcher-test"
    assert scheduler.dispatch_reminders(app) == 0  # a real run: nothing due, but alive
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["scheduler"] == "ok"
    assert 0 <= body["scheduler_heartbeat_age_seconds"] <= 5


def test_a_dispatcher_silent_for_minutes_is_stale(app, client):
    with app.app_context():
        health.beat("dispatcher-old", now=datetime.now(timezone.utc) - timedelta(minutes=10))
    response = client.get("/healthz")
    assert response.status_code == 503 and response.get_json()["scheduler"] == "stale"
    with app.app_context():  # a newer one elsewhere is enough
        health.beat("dispatcher-new")
    assert client.get("/healthz").status_code == 200


def test_day_old_heartbeats_are_cleared(app):
    with app.app_context():
        health.beat("gone", now=datetime.now(timezone.utc) - timedelta(days=2))
        health.beat("alive")
        from companion.models import SchedulerHeartbeat
        assert [h.dispatcher_id for h in db.session.query(SchedulerHeartbeat)] == ["alive"]


def test_an_unreachable_database_is_a_503_with_no_details(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path / "i"), "AUTO_MIGRATE": False,
                      "SQLALCHEMY_DATABASE_URI":
                          "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "unreachable",
                                   "scheduler": "unknown"}
    with app.app_context():
        db.engine.dispose()
