"""Clinic settings as the service checks them, and the protocol a client ends up with."""
import pytest

from companion import clinics, treatments
from companion.extensions import db
from companion.models import Clinic, Treatment
from companion.registration import Invalid


@pytest.mark.parametrize("data, field", [
    ({"name": ""}, "name"),
    ({"name": "X", "timezone": ["Europe/London"]}, "timezone"),
    ({"name": "X", "phone": "call us"}, "phone"),
    ({"name": "X", "booking_url": "javascript:alert(1)"}, "booking_url"),
    ({"name": "X", "emergency_text": "a\x00b"}, "emergency_text"),
    ({"name": "X", "protocol_overrides": {"steps": [{"title": "T"}]}}, "protocol_overrides.steps[1].text"),
    ({"name": "X", "protocol_overrides": {"interval_weeks": 0}}, "protocol_overrides.interval_weeks"),
])
def test_bad_settings_name_their_field(data, field):
    with pytest.raises(Invalid) as refused:
        clinics.parse_settings(data)
    assert field in refused.value.fields


def test_emergency_text_may_have_line_breaks():
    assert clinics.parse_settings({"name": "X", "emergency_text": "Call 999.\r\nThen us."})[
        "emergency_text"] == "Call 999.\r\nThen us."


def test_protocols_with_the_same_changes_are_built_once(app, make_clinic, make_treatment):
    clinic_id = make_clinic()
    with app.app_context():
        clinics.update(db.session.get(Clinic, clinic_id),
                       {"protocol_overrides": {"restrictions": {"sun": {"days": 21}}}})
    a, _, _ = make_treatment(clinic_id)
    b, _, _ = make_treatment(clinic_id)
    c, _, _ = make_treatment(clinic_id, overrides={"restrictions": {"heat": {"days": 5}}})
    with app.app_context():
        pa, pb, pc = (treatments.protocol_for(db.session.get(Treatment, t)) for t in (a, b, c))
    assert pa is pb and pa is not pc
    assert {r.id: r.days for r in pc.restrictions}["sun"] == 21
    assert {r.id: r.days for r in pc.restrictions}["heat"] == 5
