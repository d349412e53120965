"""The installable-app files: service worker, manifests, versioned static URLs."""
import hashlib
import json
from pathlib import Path

from flask import Blueprint, Response, current_app, url_for

bp = Blueprint("pwa", __name__)

#: what the service worker stores on install: enough to show a saved plan offline
SHELL_ASSETS = (
    "css/app.css",
    "js/i18n.js",
    "js/app.js",
    "icons/icon-192.png",
    "icons/apple-touch-icon.png",
    "js/reminders.js",
    "js/sw-push.js",
    "img/ios-add-to-home.svg",
    "js/diary.js",
    "css/diary.css",
    "js/checkin.js",
    "css/checkin.css",
    "js/forget.js",
    "css/forget.css",
)
THEME_COLOR = "#0f5c5c"
BACKGROUND_COLOR = "#f6f4f1"


def _static_dir():
    return Path(current_app.static_folder)


def _fingerprints():
    """Content hashes of the static files, computed once per process."""
    cache = current_app.extensions.setdefault("companion.fingerprints", {})
    if not cache:
        root = _static_dir()
        for path in sorted(root.rglob("*")):
            if path.is_file():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
                cache[path.relative_to(root).as_posix()] = digest
    return cache


def asset_url(filename):
    """A static URL that changes when the file does, so caches can keep it for long."""
    return url_for("static", filename=filename, v=_fingerprints().get(filename, "0"))


def app_version():
    """One hash over every static file: a new one makes browsers install a new worker."""
    joined = "".join(f"{k}={v};" for k, v in sorted(_fingerprints().items()))
    return hashlib.sha256(joined.encode()).hexdigest()[:12]


@bp.app_context_processor
def inject_assets():
    return {"asset_url": asset_url, "theme_color": THEME_COLOR}


@bp.get("/sw.js")
def service_worker():
    """The worker is served from the root so that its scope covers every page."""
    source = (_static_dir() / "sw.js").read_text()
    shell = [url_for("client.home")] + [asset_url(a) for a in SHELL_ASSETS]
    source = source.replace("__VERSION__", app_version()).replace(
        "__SHELL__", json.dumps(shell)
    ).replace("__PUSH_SCRIPT__", asset_url("js/sw-push.js"))
    return Response(
        source,
        mimetype="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )


@bp.get("/manifest.webmanifest")
def manifest():
    """The manifest of the start page (installing it opens the short-code form)."""
    return manifest_response("companion aftercare", url_for("client.home"))


def manifest_response(name, start_url, headers=None, app_id=None):
    body = {
        "name": name,
        "short_name": "Aftercare",
        "description": "Your day-by-day aftercare after microneedling.",
        "id": app_id or start_url,
        "start_url": start_url,
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": BACKGROUND_COLOR,
        "theme_color": THEME_COLOR,
        "icons": [
            {"src": asset_url("icons/icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": asset_url("icons/icon-512.png"), "sizes": "512x512", "type": "image/png"},
            {"src": asset_url("icons/maskable-512.png"), "sizes": "512x512",
             "type": "image/png", "purpose": "maskable"},
        ],
    }
    return Response(
        json.dumps(body),
        mimetype="application/manifest+json",
        headers=headers or {},
    )
