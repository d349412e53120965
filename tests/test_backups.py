"""Backups of the embedded SQLite database (`flask backup PATH`) while the app writes, and
restoring one (`flask restore PATH`) into another instance: the same rows come back."""
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, text

from companion import backups, clinics, create_app, database, erasure, treatments
from companion.extensions import db
from companion.models import Clinic, DeletedSession, Treatment


def all_rows(app):
    """Every row of every table, per table, in a stable order (alembic_version included)."""
    with app.app_context():
        with db.engine.connect() as connection:
            names = [t.name for t in db.metadata.sorted_tables] + ["alembic_version"]
            return {name: sorted(map(tuple, connection.execute(text(f"SELECT * FROM {name}"))),
                                 key=repr) for name in names}


def file_rows(path, table):
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        return [row[0] for row in connection.execute(f"SELECT id FROM {table} ORDER BY id")]


def fill(app, clients=3):
    with app.app_context():
        clinic = clinics.create("Calm Skin Clinic", phone="+44 20 7946 0123", timezone="Europe/London")
        for n in range(clients):
            treatments.create(clinic, client_name=f"Client {n}", note=f"Note {n}",
                              treated_at=datetime.now(timezone.utc) - timedelta(hours=n + 1))


@pytest.fixture
def sqlite_only(database):
    if database:
        pytest.skip("backup and restore are for the embedded SQLite database")


def fresh_app(tmp_path, name):
    return create_app({"INSTANCE_PATH": str(tmp_path / name), "TESTING": True})


def test_backup_and_restore_into_a_fresh_instance_bring_back_every_row(
        app, runner, tmp_path, sqlite_only):
    fill(app)
    target = tmp_path / "backups" / "companion.sqlite3"
    target.parent.mkdir()
    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code == 0, result.output
    assert f"to {target} (schema revision {database.head()})" in result.output
    assert not list(target.parent.glob(".*tmp")), "no temporary file is left behind"
    saved = all_rows(app)
    assert len(saved["treatments"]) == 3 and saved["alembic_version"] == [(database.head(),)]

    other = fresh_app(tmp_path, "other")
    fill(other, clients=1)  # what the other instance had: kept as .bak
    before = all_rows(other)
    result = other.test_cli_runner().invoke(args=["restore", str(target), "--yes"])
    assert result.exit_code == 0, result.output
    assert all_rows(other) == saved
    kept = list((tmp_path / "other").glob("companion.sqlite3.*.bak"))
    assert len(kept) == 1 and f"Kept the previous contents in {kept[0]}" in result.output
    with sqlite3.connect(kept[0]) as connection:
        assert connection.execute("SELECT count(*) FROM treatments").fetchone()[0] == 1
    assert file_rows(kept[0], "treatments") == [r[0] for r in before["treatments"]]
    # The restored instance works: a plan opens, a new session gets a new number.
    with other.app_context():
        token = db.session.scalars(select(Treatment.token)).first()
    assert other.test_client().get(f"/s/{token}").status_code == 200
    with other.app_context():
        db.engine.dispose()


def test_a_backup_taken_while_another_connection_writes_is_a_consistent_snapshot(
        app, tmp_path, sqlite_only):
    fill(app, clients=0)
    stop, written, errors = threading.Event(), [], []

    def writer():
        try:
            with app.app_context():
                while not stop.is_set():
                    written.append(clinics.create(f"Clinic {len(written)}", timezone="UTC").id)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 20:
            threading.Event().wait(0.01)
        target = tmp_path / "during.sqlite3"
        with app.app_context():
            revision = backups.backup(target)
        count_at_backup = len(written)
        while len(written) < count_at_backup + 20:  # the writer went on meanwhile
            threading.Event().wait(0.01)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not errors, errors
    assert revision == database.head()
    in_backup = file_rows(target, "clinics")
    # Whole commits only, in order: the clinics up to some moment, and none after it.
    assert in_backup == list(range(1, len(in_backup) + 1))
    assert 20 <= len(in_backup) <= count_at_backup + 1
    assert len(written) > len(in_backup)
    with sqlite3.connect(target) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"

    restored = fresh_app(tmp_path, "restored")
    with restored.app_context():
        backups.restore(target)
        assert list(db.session.scalars(select(Clinic.id).order_by(Clinic.id))) == in_backup
        db.engine.dispose()


def test_a_backup_from_an_older_version_is_upgraded_on_restore(app, tmp_path, sqlite_only):
    fill(app)
    target = tmp_path / "old.sqlite3"
    with app.app_context():
        backups.backup(target)
    with sqlite3.connect(target) as connection:  # as the version before deleted_sessions left it
        connection.execute("DROP TABLE deleted_sessions")
        connection.execute("UPDATE alembic_version SET version_num = '0002'")
    restored = fresh_app(tmp_path, "restored")
    with restored.app_context():
        assert backups.restore(target)[0] == "0002"
        assert database.current() == database.head()
        assert "deleted_sessions" in {t for (t,) in db.session.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'table'"))}
        db.engine.dispose()


def test_a_restored_backup_does_not_bring_back_a_client_who_asked_to_be_forgotten(
        app, runner, tmp_path, sqlite_only):
    fill(app, clients=3)
    target = tmp_path / "before.sqlite3"
    with app.app_context():
        backups.backup(target)
        forgotten, erased, kept = db.session.scalars(select(Treatment).order_by(Treatment.id)).all()
        forgotten_id, token, erased_id, kept_id = forgotten.id, forgotten.token, erased.id, kept.id
        clinic_id = kept.clinic_id
    client = app.test_client()
    assert client.delete("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 204
    with app.app_context():
        erasure.erase_for_clinic(clinic_id, erased_id)
        # Registered after the backup, then forgotten: its clinic is in the backup.
        late = treatments.create(db.session.get(Clinic, clinic_id), client_name="Late",
                                 treated_at=datetime.now(timezone.utc))
        late_id, late_token = late.id, late.token
    assert client.delete("/api/v1/me", headers={"Authorization": f"Bearer {late_token}"}).status_code == 204

    result = runner.invoke(args=["restore", str(target), "--yes"])
    assert result.exit_code == 0, result.output
    assert "Deleted 1 session(s) again: their clients deleted everything" in result.output
    with app.app_context():
        assert set(db.session.scalars(select(Treatment.id))) == {erased_id, kept_id}
        stones = {d.id: d.deleted_by for d in db.session.scalars(select(DeletedSession))}
    assert stones == {forgotten_id: "client", late_id: "client"}
    assert client.get(f"/s/{token}").status_code == 404
    assert "Client 0" not in str(all_rows(app))


def write(path, content):
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.sqlite3", "There is no file"),
    (lambda d: write(d / "notes.txt", b"not a database at all, just words" * 100),
     "is not an SQLite database"),
    (lambda d: _sqlite(d / "other.sqlite3", "CREATE TABLE things (id INTEGER)"),
     "is an SQLite database, but not companion's"),
    (lambda d: _sqlite(d / "future.sqlite3", "CREATE TABLE clinics (id INTEGER)",
                       "CREATE TABLE treatments (id INTEGER)",
                       "CREATE TABLE alembic_version (version_num VARCHAR(32))",
                       "INSERT INTO alembic_version VALUES ('9999')"),
     "is at schema revision 9999, which this version of companion does not know"),
])
def test_restore_refuses_what_is_not_a_companion_backup_and_changes_nothing(
        app, runner, tmp_path, sqlite_only, make, message):
    fill(app)
    before = all_rows(app)
    source = make(tmp_path)
    result = runner.invoke(args=["restore", str(source), "--yes"])
    assert result.exit_code == 1
    assert message in result.output
    assert all_rows(app) == before
    assert not list((tmp_path / "instance").glob("*.bak"))


def _sqlite(path, *statements):
    with sqlite3.connect(path) as connection:
        for statement in statements:
            connection.execute(statement)
    return path


def test_restore_asks_first(app, runner, tmp_path, sqlite_only):
    fill(app)
    target = tmp_path / "b.sqlite3"
    with app.app_context():
        backups.backup(target)
    fill(app, clients=2)
    before = all_rows(app)
    result = runner.invoke(args=["restore", str(target)], input="n\n")
    assert result.exit_code == 1 and "Replace everything in" in result.output
    assert all_rows(app) == before
    result = runner.invoke(args=["restore", str(target)], input="y\n")
    assert result.exit_code == 0, result.output
    assert len(all_rows(app)["treatments"]) == 3


def test_backup_refuses_clearly(app, runner, tmp_path, sqlite_only):
    with app.app_context():
        live = Path(db.engine.url.database)
    for path, message in [(live, "is the live database itself"),
                          (tmp_path / "nowhere" / "b.sqlite3", "There is no directory"),
                          (tmp_path, "is a directory")]:
        result = runner.invoke(args=["backup", str(path)])
        assert result.exit_code != 0 and message in result.output, (path, result.output)
    result = runner.invoke(args=["restore", str(live), "--yes"])
    assert result.exit_code == 1 and "is the live database itself" in result.output


def test_an_existing_backup_is_replaced_whole(app, tmp_path, sqlite_only):
    target = write(tmp_path / "b.sqlite3", b"an older file")
    fill(app)
    with app.app_context():
        backups.backup(target)
    assert len(file_rows(target, "treatments")) == 3


def test_postgresql_is_backed_up_with_its_own_tools(app, runner, tmp_path, database):
    if not database:
        pytest.skip("PostgreSQL only")
    for args in (["backup", str(tmp_path / "b.sqlite3")], ["restore", str(tmp_path / "b"), "--yes"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 1
        assert "not the embedded SQLite one" in result.output and "pg_dump" in result.output
    assert not (tmp_path / "b.sqlite3").exists()
