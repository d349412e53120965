"""flask --app companion demo"""
import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from companion.extensions import db
from companion.models import Treatment


def test_demo_prints_a_client_link_that_opens_the_plan(app, runner, client):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output.strip().splitlines()[-1])
    assert info["client_url"].startswith("http://companion.test/s/")
    path = info["client_url"].removeprefix("http://companion.test")
    page = client.get(path)
    assert page.status_code == 200 and b"Hi Sam" in page.data
    with app.app_context():
        treatment = db.session.get(Treatment, info["session_id"])
        zone = ZoneInfo(treatment.clinic.timezone)
        treated = treatment.treated_at.astimezone(zone)
        assert treated.date() == datetime.now(zone).date() - timedelta(days=1)
        assert treated.hour >= 17, "treated yesterday evening"


def test_demo_twice_reuses_the_clinic(runner):
    ids = [json.loads(runner.invoke(args=["demo"]).output.splitlines()[-1])["clinic_id"]
           for _ in range(2)]
    assert ids[0] == ids[1]


def test_clinic_staff_and_token_commands(app, runner, client):
    made = runner.invoke(args=["clinic", "create", "Glow", "--phone", "+34 910 000 000",
                               "--timezone", "Europe/Madrid"])
    assert made.exit_code == 0, made.output
    clinic_id = int(made.output.strip().splitlines()[-1])
    staff = runner.invoke(args=["staff", "create", "--clinic", str(clinic_id), "Ana@Glow.example"],
                          env={"COMPANION_STAFF_PASSWORD": "a long password"})
    assert staff.exit_code == 0, staff.output
    prompted = runner.invoke(args=["staff", "create", "--clinic", str(clinic_id), "bo@glow.example"],
                             input="another password\nanother password\n")
    assert prompted.exit_code == 0, prompted.output
    token = runner.invoke(args=["api-token", "--clinic", str(clinic_id)]).output.splitlines()[-1]
    body = {"client_name": "Lu", "treated_at": "2026-11-20T10:00:00+01:00"}
    with app.app_context():
        from companion import staff as staff_service
        assert staff_service.by_email("ana@glow.example").password_hash.startswith("$argon2id$")
    listing = runner.invoke(args=["api-token", "--clinic", str(clinic_id), "--list"])
    token_id = listing.output.split()[0]
    assert token not in listing.output, "tokens are shown once, never listed"
    runner.invoke(args=["api-token", "--clinic", str(clinic_id), "--revoke", token_id])
    response = client.post("/api/v1/sessions", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_commands_refuse_bad_input_clearly(runner):
    bad_zone = runner.invoke(args=["clinic", "create", "X", "--timezone", "Nowhere/City"])
    assert bad_zone.exit_code != 0 and "time zone" in bad_zone.output
    no_clinic = runner.invoke(args=["staff", "create", "--clinic", "99", "a@b.example"],
                              env={"COMPANION_STAFF_PASSWORD": "a long password"})
    assert no_clinic.exit_code != 0 and "no clinic" in no_clinic.output
    short = runner.invoke(args=["clinic", "create", "Y"])
    clinic_id = short.output.strip().splitlines()[-1]
    weak = runner.invoke(args=["staff", "create", "--clinic", clinic_id, "a@b.example"],
                         env={"COMPANION_STAFF_PASSWORD": "short"})
    assert weak.exit_code != 0 and "10 to 256" in weak.output


def test_demo_prints_staff_and_api_credentials_that_work(app, runner, client):
    info = json.loads(runner.invoke(args=["demo"]).output.strip().splitlines()[-1])
    assert {"clinic_id", "staff_email", "staff_password", "api_token", "client_url"} <= set(info)
    listing = client.get("/api/v1/sessions", headers={"Authorization": f"Bearer {info['api_token']}"})
    assert listing.status_code == 200 and listing.get_json()["total"] == 1
    with app.app_context():
        from companion import staff as staff_service
        user = staff_service.authenticate(info["staff_email"], info["staff_password"], "127.0.0.1")
        assert user.clinic_id == info["clinic_id"]
