"""The database every process shares: connection settings and the schema's migrations.

Schema changes are Alembic migrations (companion/migrations, through Flask-Migrate). The
embedded default (SQLite) upgrades itself on start; a server database (PostgreSQL, several
web workers and schedulers) is upgraded once, by `flask --app companion db upgrade`, before
the new version starts (docs/deploy.md).
"""
import fcntl
import logging
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import stamp, upgrade
from sqlalchemy import event, inspect, text
from werkzeug.routing import IntegerConverter

from .extensions import db, migrate

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
#: the first migration: the schema as `db.create_all()` made it before migrations existed
BASELINE = "0001"


class RowIdConverter(IntegerConverter):
    """`<int:...>` in a URL: a number larger than any row id can be (PostgreSQL's integer is
    32-bit) becomes -1, an id no row has, so it is simply not found (404) instead of an
    error from the database."""

    def to_python(self, value):
        number = super().to_python(value)
        return number if number <= 2**31 - 1 else -1


def init_app(app):
    app.url_map.converters["int"] = RowIdConverter
    migrate.init_app(app, db, directory=str(MIGRATIONS))
    app.config.setdefault("AUTO_MIGRATE", None)  # None: only on the embedded SQLite default
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            busy_ms = int(app.config.get("SQLITE_BUSY_TIMEOUT_MS", 10000))
            event.listen(db.engine, "connect",
                         lambda connection, record: _sqlite_pragmas(connection, busy_ms))
        auto = app.config["AUTO_MIGRATE"]
        if auto or (auto is None and db.engine.dialect.name == "sqlite"):
            upgrade_if_behind()


def head():
    return _head(str(MIGRATIONS))


@lru_cache(maxsize=4)
def _head(directory):
    config = Config()
    config.set_main_option("script_location", directory)
    return ScriptDirectory.from_config(config).get_current_head()


def current():
    """The revision the database is at: None if it has no schema, BASELINE if its schema came
    from create_all() before migrations existed."""
    tables = set(inspect(db.engine).get_table_names())
    if "alembic_version" in tables:
        with db.engine.connect() as connection:
            return connection.scalar(text("SELECT version_num FROM alembic_version"))
    return BASELINE if "treatments" in tables else None


def upgrade_if_behind():
    """Bring the schema to the newest migration; a no-op (one query) when it is there.

    Several processes may start at once on one SQLite file (gunicorn workers, a scheduler):
    they take turns, and the ones after the first find the schema up to date.
    """
    if current() == head():
        return
    with _migration_lock():
        _upgrade()


def _upgrade():
    found = current()
    if found == head():
        return
    if found == BASELINE and "alembic_version" not in inspect(db.engine).get_table_names():
        stamp(directory=str(MIGRATIONS), revision=BASELINE)  # made by create_all: adopt it
    log.info("database schema: upgrading from %s to %s", found or "nothing", head())
    upgrade(directory=str(MIGRATIONS))


@contextmanager
def _migration_lock():
    # Left in place (deleting a lock file others may wait on is a race); it holds nothing.
    path = Path(current_app.instance_path) / "migrate.lock"
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _sqlite_pragmas(dbapi_connection, busy_ms):
    # WAL: the web server reads while the dispatcher writes; busy_timeout: writers queue
    # up for each other instead of failing at once (past it, a request answers 503).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
