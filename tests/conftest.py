"""Fixtures: an app on a fresh database per test (SQLite, and PostgreSQL when
COMPANION_TEST_DATABASE_URL names a server), a client, and builders for rows."""
import os
import secrets
from datetime import datetime, timedelta, timezone

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from companion import apitokens, clinics, create_app, treatments
from companion.extensions import db

#: a PostgreSQL server to run the suite on as well, e.g.
#: postgresql+psycopg://postgres@127.0.0.1:5432/postgres (.ci/run sets it); each run makes
#: its own database there and drops it at the end
POSTGRESQL_URL = os.environ.get("COMPANION_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def postgresql_database(tmp_path_factory):
    """A fresh PostgreSQL database for this run, migrated to the newest schema."""
    if not POSTGRESQL_URL:
        pytest.skip("PostgreSQL: COMPANION_TEST_DATABASE_URL is not set, so this runs on "
                    "SQLite only (.ci/run sets it to the machine's PostgreSQL)")
    server = make_url(POSTGRESQL_URL)
    name = f"companion_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        admin.dispose()
        why = (f"PostgreSQL at {server.render_as_string()} is not reachable, so this runs on "
               f"SQLite only: {str(error.orig).strip().splitlines()[0]}")
        if os.environ.get("COMPANION_TEST_REQUIRE_POSTGRESQL") == "1":
            pytest.fail(why)  # CI: a database that is down must not pass as skipped
        pytest.skip(why)
    url = server.set(database=name).render_as_string(hide_password=False)
    migrated = create_app({"INSTANCE_PATH": str(tmp_path_factory.mktemp("pg-instance")),
                           "SQLALCHEMY_DATABASE_URI": url, "AUTO_MIGRATE": True})
    with migrated.app_context():
        db.engine.dispose()
    engine = create_engine(url)
    tables = [t for t in inspect(engine).get_table_names() if t != "alembic_version"]
    yield url, engine, tables
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request):
    """Settings for an app on an empty database of this kind (SQLite: a file per test)."""
    if request.param == "sqlite":
        return {}
    url, engine, tables = request.getfixturevalue("postgresql_database")
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    return {"SQLALCHEMY_DATABASE_URI": url, "AUTO_MIGRATE": False}


@pytest.fixture
def app(tmp_path, database):
    app = create_app({
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "TESTING": True,
        "PUBLIC_URL": "http://companion.test",
        # Most tests send more requests than a phone would; tests/test_security.py turns it on.
        "RATELIMIT_ENABLED": False,
        **database,
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
