"""Fixtures: an app on a fresh SQLite file per test, a client, and builders for rows."""
from datetime import datetime, timedelta, timezone

import pytest

from companion import clinics, create_app, treatments
from companion.extensions import db


@pytest.fixture
def app(tmp_path):
    app = create_app({
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "TESTING": True,
        "PUBLIC_URL": "http://companion.test",
    })
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_clinic(app):
    def make(name="Calm Skin Clinic", **fields):
        fields.setdefault("phone", "+44 20 7946 0123")
        fields.setdefault("timezone", "Europe/London")
        with app.app_context():
            clinic = clinics.create(name, **fields)
            return clinic.id
    return make


@pytest.fixture
def make_treatment(app, make_clinic):
    """Builds a session and returns (id, token, short_code) for use outside the app context."""
    def make(clinic_id=None, *, hours_ago=20, treated_at=None, **fields):
        clinic_id = clinic_id or make_clinic()
        fields.setdefault("client_name", "Ana")
        when = treated_at or datetime.now(timezone.utc) - timedelta(hours=hours_ago)
        with app.app_context():
            from companion.models import Clinic
            t = treatments.create(db.session.get(Clinic, clinic_id), treated_at=when, **fields)
            return t.id, t.token, t.short_code
    return make
