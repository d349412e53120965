"""Database connection settings that every process needs."""
from sqlalchemy import event

from .extensions import db


def init_app(app):
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)
        # The embedded default creates its schema on first start; migrations come later.
        db.create_all()


def _sqlite_pragmas(dbapi_connection, _record):
    # WAL: the web server reads while the dispatcher writes; busy_timeout: writers queue
    # up for each other instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
