"""Fixtures: an app on a fresh SQLite file per test, a client, and builders for rows."""
from datetime import datetime, timedelta, timezone

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from companion import apitokens, clinics, create_app, treatments
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


@pytest.fixture
def make_token(app, make_clinic):
    """A clinic's API token: returns (clinic_id, headers with the bearer token)."""
    def make(clinic_id=None):
        clinic_id = clinic_id or make_clinic()
        with app.app_context():
            _, token = apitokens.issue(clinic_id, "test")
        return clinic_id, {"Authorization": f"Bearer {token}"}
    return make


@pytest.fixture
def conforms(client):
    """conforms("Plan", body): `body` matches that schema of our own OpenAPI document."""
    document = client.get("/api/v1/openapi.json").get_json()
    registry = Registry().with_resource("urn:openapi", Resource(document, DRAFT202012))

    def check(schema_name, instance):
        schema = {"$ref": f"urn:openapi#/components/schemas/{schema_name}"}
        errors = list(Draft202012Validator(schema, registry=registry).iter_errors(instance))
        assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    return check


@pytest.fixture
def push_service():
    """A push service on loopback that decrypts and verifies (tests/pushservice.py)."""
    from pushservice import FakePushService

    service = FakePushService()
    yield service
    service.close()
