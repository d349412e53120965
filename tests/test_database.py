"""The schema: built by the migrations on both databases, equal to the models, times aware."""
from datetime import datetime, timezone

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

from companion import create_app, database
from companion.extensions import db
from companion.models import Clinic, Treatment


def test_the_migrations_build_exactly_the_schema_the_models_describe(app):
    with app.app_context(), db.engine.connect() as connection:
        assert database.current() == database.head()
        differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert differences == [], "a model changed without a migration: flask db migrate -m '...'"


def test_times_are_stored_and_returned_timezone_aware(app, make_treatment):
    madrid = datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc)  # the night Madrid moves to CEST
    treatment_id, _, _ = make_treatment(treated_at=madrid, timezone_name="Europe/Madrid")
    with app.app_context():
        db.session.expire_all()
        treated_at = db.session.get(Treatment, treatment_id).treated_at
        found = db.session.scalar(select(Treatment.id).where(Treatment.treated_at == madrid))
    assert treated_at == madrid and treated_at.utcoffset().total_seconds() == 0
    assert found == treatment_id  # compared as instants, in SQL too


#: tables the migrations after the baseline add
ADDED_SINCE_BASELINE = {"scheduler_heartbeats", "deleted_sessions"}


def test_an_embedded_database_from_before_migrations_is_adopted_and_kept(tmp_path):
    settings = {"INSTANCE_PATH": str(tmp_path / "instance"), "AUTO_MIGRATE": False}
    old = create_app(settings)
    with old.app_context():
        # How earlier versions made their schema: create_all() of the tables they had.
        db.metadata.create_all(db.engine, tables=[
            t for t in db.metadata.sorted_tables if t.name not in ADDED_SINCE_BASELINE])
        db.session.add(Clinic(name="Calm Skin Clinic", timezone="UTC", language="en"))
        db.session.commit()
        assert "alembic_version" not in inspect(db.engine).get_table_names()
        db.engine.dispose()
    new = create_app({**settings, "AUTO_MIGRATE": None})  # the default: SQLite upgrades itself
    with new.app_context():
        assert database.current() == database.head()
        assert [c.name for c in db.session.scalars(select(Clinic))] == ["Calm Skin Clinic"]
        db.engine.dispose()


def test_a_fresh_embedded_database_is_created_by_the_migrations(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance")})
    with app.app_context():
        with db.engine.connect() as connection:
            version = connection.scalar(text("SELECT version_num FROM alembic_version"))
        assert version == database.head()
        db.engine.dispose()


def test_db_downgrade_and_upgrade_commands_round_trip(app, runner):
    assert runner.invoke(args=["db", "downgrade", "base"]).exit_code == 0
    with app.app_context():
        assert database.current() is None  # every table is gone
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert database.current() == database.head()
        db.engine.dispose()
