"""Zero configuration: secrets made once in the instance folder; COMPANION_* overrides."""
import logging
import stat

from flask import Flask

from companion import create_app, logs


def test_secrets_are_created_once_and_reused(tmp_path):
    instance = tmp_path / "instance"
    first = create_app({"INSTANCE_PATH": str(instance)})
    key_file = instance / "vapid_private.pem"
    vapid = key_file.read_bytes()
    second = create_app({"INSTANCE_PATH": str(instance)})
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) == 64
    assert key_file.read_bytes() == vapid and b"PRIVATE KEY" in vapid
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (instance / "companion.sqlite3").exists()
    assert not [p for p in instance.iterdir() if p.name.startswith(".")], "no temp files left"


def test_environment_overrides_with_prefix(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_PUBLIC_URL", "https://aftercare.example/")
    monkeypatch.setenv("COMPANION_SQLALCHEMY_DATABASE_URI", f"sqlite:///{tmp_path}/other.db")
    app = create_app({"INSTANCE_PATH": str(tmp_path / "i")})
    assert app.config["PUBLIC_URL"] == "https://aftercare.example"
    assert (tmp_path / "other.db").exists()


def test_two_apps_on_one_instance_agree_on_keys(tmp_path):
    apps = [create_app({"INSTANCE_PATH": str(tmp_path)}) for _ in range(3)]
    assert len({a.config["SECRET_KEY"] for a in apps}) == 1


def test_logs_never_carry_client_tokens(caplog):
    logs.init_app(Flask("probe"))
    logger = logging.getLogger("werkzeug")
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        logger.info('"%s" %s', "GET /s/Abcdefghijklmnopqrstuvwxyz012345 HTTP/1.1", 200)
        logger.info("auth %s", "Authorization: Bearer Abcdefghijklmnopqrstuvwxyz012345")
    assert "Abcdefghijklmnopqrstuvwxyz012345" not in caplog.text
    assert "/s/[redacted]" in caplog.text and "Bearer [redacted]" in caplog.text


def test_json_logs_are_one_redacted_object_per_line(tmp_path, capfd):
    """COMPANION_LOG_FORMAT=json: every logger writes JSON lines; client tokens never appear."""
    import json
    import subprocess
    import sys
    script = (
        "import logging\n"
        "from companion import create_app\n"
        "app = create_app()\n"
        "logging.getLogger('werkzeug').info('\"GET /s/%s HTTP/1.1\" 200', 'Abcdefghijklmnopqrstuvwxyz012345')\n"
        "app.logger.warning('Bearer Abcdefghijklmnopqrstuvwxyz012345 refused')\n"
        "logging.getLogger('companion.reminders').info('sent %d', 3)\n"
    )
    env = {"COMPANION_INSTANCE_PATH": str(tmp_path / "i"), "COMPANION_LOG_FORMAT": "json",
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert {(r["logger"], r["level"]) for r in lines} >= {
        ("werkzeug", "INFO"), ("companion", "WARNING"), ("companion.reminders", "INFO")}
    assert all({"time", "level", "logger", "message"} <= set(r) for r in lines)
    assert "Abcdefghijklmnopqrstuvwxyz012345" not in done.stderr
    assert any(r["message"] == '"GET /s/[redacted] HTTP/1.1" 200' for r in lines)
    assert len([r for r in lines if r["logger"] == "companion"]) == 1  # not twice
