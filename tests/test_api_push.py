"""The client's push API: subscription, preferences, test reminder; and the scheduler."""
from pathlib import Path

import click
import pytest
from sqlalchemy import func, select

from companion import push, scheduler
from companion.extensions import db
from companion.models import PushSubscription, Reminder


@pytest.fixture
def phone(app, push_service, make_treatment):
    app.config["PUSH_ENDPOINT_ALLOWLIST"] = [push_service.origin]
    _, token, _ = make_treatment(series_total=3)
    return push_service.subscribe(), {"Authorization": f"Bearer {token}"}


def count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count(model.id)))


def test_vapid_public_key_is_the_instance_key(app, client):
    key = client.get("/api/v1/vapid-public-key").get_json()["publicKey"]
    with app.app_context():
        assert key == push.public_key(push.load_vapid(app.config["VAPID_PRIVATE_KEY_FILE"]))
    assert len(push.unb64url(key)) == 65


def test_subscribe_upserts_by_endpoint_and_plans_reminders(app, client, phone, conforms):
    device, auth = phone
    first = client.put("/api/v1/me/push-subscription", json=device.subscription(), headers=auth)
    assert first.status_code == 201
    conforms("Preferences", first.get_json())
    assert first.get_json()["subscribed"] is True
    assert client.put("/api/v1/me/push-subscription", json=device.subscription(),
                      headers=auth).status_code == 200
    assert count(app, PushSubscription) == 1
    assert count(app, Reminder) > 10
    gone = client.delete("/api/v1/me/push-subscription", json={"endpoint": device.endpoint},
                         headers=auth)
    assert gone.status_code == 204
    assert count(app, PushSubscription) == 0 and count(app, Reminder) == 0


def test_a_subscription_moves_to_the_session_that_last_claimed_it(app, client, phone, make_treatment):
    device, auth = phone
    _, other, _ = make_treatment()
    client.put("/api/v1/me/push-subscription", json=device.subscription(), headers=auth)
    client.put("/api/v1/me/push-subscription", json=device.subscription(),
               headers={"Authorization": f"Bearer {other}"})
    assert client.get("/api/v1/me/preferences", headers=auth).get_json()["subscribed"] is False
    assert count(app, PushSubscription) == 1


@pytest.mark.parametrize("mutate, field", [
    (lambda s: s.update(endpoint="https://evil.example/push"), "endpoint"),
    (lambda s: s.update(endpoint="http://fcm.googleapis.com/x"), "endpoint"),
    (lambda s: s.update(endpoint=42), "endpoint"),
    (lambda s: s.pop("keys"), "keys"),
    (lambda s: s["keys"].update(p256dh="AAAA"), "keys"),
    (lambda s: s["keys"].update(auth="AAAA"), "keys"),
    (lambda s: s["keys"].update(auth=None), "keys"),
])
def test_untrusted_subscriptions_are_refused(app, client, phone, mutate, field):
    device, auth = phone
    body = device.subscription()
    mutate(body)
    response = client.put("/api/v1/me/push-subscription", json=body, headers=auth)
    assert response.status_code == 422
    assert field in response.get_json()["fields"]
    assert count(app, PushSubscription) == 0


def test_preferences_round_trip_and_refuse_nonsense(client, phone, conforms):
    _, auth = phone
    before = client.get("/api/v1/me/preferences", headers=auth).get_json()
    conforms("Preferences", before)
    assert before["morning"] == "08:00" and before["timezone"] == "Europe/London"
    after = client.put("/api/v1/me/preferences", headers=auth, json={
        "timezone": "America/New_York", "morning": "07:45", "evening": "21:00",
        "quiet_start": None, "quiet_end": None, "reminders": False}).get_json()
    assert after["timezone"] == "America/New_York" and after["reminders"] is False
    assert after["quiet_start"] is None
    for body, field in [({"morning": "7:45"}, "morning"), ({"morning": "25:00"}, "morning"),
                        ({"evening": None}, "evening"), ({"timezone": "Moon/Base"}, "timezone"),
                        ({"reminders": "yes"}, "reminders"), ({"colour": "red"}, "body"),
                        ({"quiet_start": "22:00"}, "quiet_start")]:
        response = client.put("/api/v1/me/preferences", headers=auth, json=body)
        assert response.status_code == 422, body
        assert field in response.get_json()["fields"]
    assert client.get("/api/v1/me/preferences", headers=auth).get_json() == after


def test_test_reminder_needs_a_subscription(client, phone):
    device, auth = phone
    refused = client.post("/api/v1/me/test-notification", headers=auth)
    assert refused.status_code == 409 and refused.get_json()["message"]
    client.put("/api/v1/me/push-subscription", json=device.subscription(), headers=auth)
    assert client.post("/api/v1/me/test-notification", headers=auth).status_code == 202


@pytest.mark.parametrize("method, path", [
    ("put", "/api/v1/me/push-subscription"), ("delete", "/api/v1/me/push-subscription"),
    ("get", "/api/v1/me/preferences"), ("put", "/api/v1/me/preferences"),
    ("post", "/api/v1/me/test-notification"),
])
def test_client_endpoints_need_a_live_token(client, phone, method, path):
    assert getattr(client, method)(path, json={}).status_code == 401
    unknown = {"Authorization": "Bearer " + "x" * 32}
    assert getattr(client, method)(path, json={}, headers=unknown).status_code == 404


def test_bodies_must_be_json_objects(client, phone):
    _, auth = phone
    assert client.put("/api/v1/me/preferences", headers=auth, data="x",
                      content_type="text/plain").status_code == 415
    assert client.put("/api/v1/me/preferences", headers=auth, data="{",
                      content_type="application/json").status_code == 400
    assert client.put("/api/v1/me/preferences", headers=auth, json=[1]).status_code == 422


@pytest.mark.parametrize("command, reload, reloader_child, setting, starts", [
    ("run", False, False, "on", True),
    ("run", True, False, "on", False),     # the reloader's watcher process
    ("run", True, True, "on", True),       # the reloader's child serves: it dispatches
    ("run", False, False, "off", False),   # COMPANION_SCHEDULER=off
    ("demo", False, False, "on", False),   # other commands never start it
])
def test_the_in_process_scheduler_starts_once_and_only_under_flask_run(
        app, monkeypatch, command, reload, reloader_child, setting, starts):
    app.config["SCHEDULER"] = setting
    if reloader_child:
        monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")
    else:
        monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    ctx = click.Context(click.Command(command), info_name=command)
    ctx.params["reload"] = reload
    with ctx:
        scheduler.init_app(app)
    running = app.extensions.pop("companion.scheduler", None)
    try:
        assert (running is not None) == starts
        if running:
            job = running.get_job("dispatch_reminders")
            assert str(running.timezone) == "UTC" and job.trigger.interval.total_seconds() == 5
    finally:
        if running:
            running.shutdown(wait=True)  # its first run may still hold a connection


def test_vapid_command_shows_the_key_and_never_replaces_it(app, runner):
    key_file = Path(app.config["VAPID_PRIVATE_KEY_FILE"])
    before = key_file.read_bytes()
    shown = runner.invoke(args=["vapid", "--create"])
    assert shown.exit_code == 0 and "kept" in shown.output
    assert key_file.read_bytes() == before
    with app.app_context():
        assert shown.output.strip().splitlines()[-1] == push.public_key(push.load_vapid(key_file))
    key_file.unlink()
    missing = runner.invoke(args=["vapid"])
    assert missing.exit_code != 0 and "--create" in missing.output
    made = runner.invoke(args=["vapid", "--create"])
    assert made.exit_code == 0 and "Created" in made.output
