"""Backups of the embedded SQLite database, and restoring one.

A backup is taken with SQLite's online backup API while the app keeps running: it copies a
consistent snapshot (writers go on meanwhile, in WAL mode) into a temporary file next to the
target, which is then renamed over it, so a backup file is always whole. Restoring checks
that the file is a companion database at a revision these migrations know, keeps the
current database as a .bak backup, copies the backup in through the same API (one
transaction: other connections see the old data or the new, never a mix), upgrades the
schema when the backup is older, and deletes again the clients who asked to be forgotten
after the backup was taken. PostgreSQL has its own tools: pg_dump and pg_restore.
"""
import os
import secrets
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

from alembic.config import Config
from alembic.script import ScriptDirectory

from . import database, erasure
from .extensions import db

#: tables every companion database has had since its first migration
REQUIRED_TABLES = {"clinics", "treatments", "alembic_version"}


class BackupError(Exception):
    """Refused, with a sentence saying why and what to do instead."""


def database_path():
    """The file of the embedded SQLite database; BackupError on any other database."""
    url = db.engine.url
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            f"This database is {url.get_backend_name()}, not the embedded SQLite one: back it "
            "up with its own tools, e.g. `pg_dump --format=custom --file=companion.dump "
            "DBNAME` and restore with `pg_restore --clean --dbname=DBNAME companion.dump` "
            "(docs/data-lifecycle.md).")
    if not url.database or url.database == ":memory:":
        raise BackupError("This SQLite database lives in memory: there is no file to back up.")
    return Path(url.database).resolve()


def backup(target):
    """Copy the live database into `target` (replaced whole, or left as it was); returns the
    schema revision of the copy."""
    source_path = database_path()
    target = Path(target).resolve()
    if target == source_path:
        raise BackupError(f"{target} is the live database itself: choose another file.")
    if not target.parent.is_dir():
        raise BackupError(f"There is no directory {target.parent}.")
    if target.is_dir():
        raise BackupError(f"{target} is a directory: name the backup file.")
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        source = sqlite3.connect(source_path, timeout=30)  # reads only; WAL needs no -shm then
        try:
            _copy(source, temporary)
        finally:
            source.close()
        revision = check(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    _sync_directory(target.parent)
    return revision


def _copy(source, path):
    """Everything of `source` into a new file at `path`, in one step (one snapshot), made a
    self-contained file (no -wal beside it) and flushed to disk."""
    copy = sqlite3.connect(path)
    try:
        source.backup(copy)  # pages=-1: the whole database in one step, one read snapshot
        copy.execute("PRAGMA journal_mode=DELETE")
        copy.commit()
    finally:
        copy.close()
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def check(path):
    """The schema revision of the companion database in `path`; BackupError when it is not
    one, is damaged, or comes from a newer version of companion."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"There is no file {path}.")
    try:
        connection = _open_read_only(path)
        try:
            if connection.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise BackupError(f"{path} is a damaged SQLite database.")
            tables = {row[0] for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not REQUIRED_TABLES <= tables:
                raise BackupError(f"{path} is an SQLite database, but not companion's.")
            revisions = [row[0] for row in connection.execute(
                "SELECT version_num FROM alembic_version")]
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path} is not an SQLite database ({error}).") from None
    if len(revisions) != 1 or revisions[0] not in known_revisions():
        raise BackupError(f"{path} is at schema revision {', '.join(revisions) or 'none'}, "
                          "which this version of companion does not know (a newer version "
                          "made it?): restore it with that version.")
    return revisions[0]


def known_revisions():
    config = Config()
    config.set_main_option("script_location", str(database.MIGRATIONS))
    return {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}


def restore(source, now=None):
    """Replace the live database's contents with the backup in `source`. The current
    contents are kept first as <database>.<time>.bak. Returns (revision restored, .bak path,
    sessions deleted again because their clients had deleted them since the backup).
    """
    live = database_path()
    source = Path(source).resolve()
    if source == live:
        raise BackupError(f"{source} is the live database itself.")
    revision = check(source)
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    kept = live.with_name(f"{live.name}.{stamp}.bak")
    backup(kept)
    forgotten = erasure.client_deletions()
    db.session.remove()
    db.engine.dispose()  # no pooled connection of ours holds the old contents
    backup_connection = _open_read_only(source)
    try:
        live_connection = sqlite3.connect(live, timeout=30)
        try:
            # One step: the whole database replaced in one write transaction.
            backup_connection.backup(live_connection)
        finally:
            live_connection.close()
    finally:
        backup_connection.close()
    database.upgrade_if_behind()  # a backup from an older version gets the newer schema
    return revision, kept, erasure.reapply_client_deletions(forgotten)


def _open_read_only(path):
    return sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=30)


def _sync_directory(directory):
    # The rename is durable once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
