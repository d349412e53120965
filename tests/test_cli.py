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
