"""Configuration: defaults, secrets kept in the instance folder, COMPANION_* overrides."""
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULTS = {
    # Where links and QR codes point; set it to the public https address in production.
    "PUBLIC_URL": "http://127.0.0.1:5000",
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    "MAX_CONTENT_LENGTH": 64 * 1024,
    # Staff stay signed in for a working day.
    "PERMANENT_SESSION_LIFETIME": 12 * 3600,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_NAME": "companion_session",
    # CSRF tokens live as long as the sign-in, so a form left open all day still posts.
    "WTF_CSRF_TIME_LIMIT": 12 * 3600,
    # `sub` claim of VAPID tokens: a real mailto: or https: address of whoever runs this.
    "VAPID_SUBJECT": "mailto:admin@example.invalid",
    # Push services a subscription may point at (JSON list; add "http://127.0.0.1:PORT"
    # only for a local test push service).
    "PUSH_ENDPOINT_ALLOWLIST": [
        "https://fcm.googleapis.com",
        "https://updates.push.services.mozilla.com",
        "https://*.push.services.mozilla.com",
        "https://*.push.apple.com",
        "https://*.notify.windows.com",
    ],
    "PUSH_TIMEOUT_SECONDS": 10,
    # Pushes in flight at once (and connections per push service); see bench/README.md.
    "PUSH_CONCURRENCY": 200,
    # Due reminders claimed per batch: what one dispatcher holds in memory (about 1.5x).
    "DISPATCH_BATCH": 500,
    # "off" in web workers: then `flask --app companion scheduler` sends the reminders.
    "SCHEDULER": "on",
    "DISPATCH_INTERVAL_SECONDS": 5,
    # The short code on the card opens the plan this long after registration (docs/security.md).
    "SHORT_CODE_DAYS": 30,
}


def init_app(app, test_config):
    """Defaults, then instance-folder secrets, then the environment, then a test dict."""
    app.config.from_mapping(DEFAULTS)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(
        app.instance_path, "companion.sqlite3"
    )
    app.config["SECRET_KEY"] = _instance_secret(Path(app.instance_path) / "secret_key")
    app.config["VAPID_PRIVATE_KEY_FILE"] = str(
        ensure_vapid_key(Path(app.instance_path) / "vapid_private.pem")
    )
    app.config.from_prefixed_env("COMPANION")
    app.config.update(test_config)
    app.config["PUBLIC_URL"] = app.config["PUBLIC_URL"].rstrip("/")
    # Cookies only travel over TLS when the public address is https.
    app.config.setdefault("SESSION_COOKIE_SECURE", False)
    if app.config["PUBLIC_URL"].startswith("https://") and "SESSION_COOKIE_SECURE" not in test_config:
        app.config["SESSION_COOKIE_SECURE"] = True
    app.json.sort_keys = False  # keep the documented order of JSON fields


def _instance_secret(path):
    """A random key created once, readable by the owner only, and reused afterwards."""
    if not path.exists():
        _write_private(path, secrets.token_hex(32).encode())
    return path.read_text().strip()


def ensure_vapid_key(path):
    """Create the VAPID key pair once; never replace an existing one (that breaks every subscription)."""
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_private(path, pem)
    return path


def _write_private(path, data):
    """Write a file readable by the owner only, atomically and never over an existing one.

    Two processes starting at once (web workers, a scheduler) must agree on one key:
    the file appears complete or not at all, and the first link wins.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
