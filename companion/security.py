"""Headers every response carries, and rate limits on what can be guessed or abused.

The limits (Flask-Limiter; storage in memory by default, COMPANION_RATELIMIT_STORAGE_URI
for one shared by every worker, e.g. redis://) and the arithmetic behind the short code's
are in docs/security.md. Refusals are 429 with Retry-After.
"""
import hashlib

from flask import request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

#: no inline script or style, nothing from another origin; photos of the diary are blob: URLs
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob:",
    "connect-src 'self'",
    "font-src 'self'",
    "manifest-src 'self'",
    "worker-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
#: the app uses none of these powerful features (the photo diary takes pictures through a
#: file input, which needs no camera permission); copying the client link needs the clipboard
PERMISSIONS_POLICY = ", ".join([
    "accelerometer=()", "autoplay=()", "camera=()", "display-capture=()", "geolocation=()",
    "gyroscope=()", "magnetometer=()", "microphone=()", "midi=()", "payment=()", "usb=()",
    "clipboard-write=(self)",
])
HSTS = "max-age=63072000"

#: (endpoints, limit, key, methods) -- key "ip", "token" (a client's, hashed) or "api token"
#: (a clinic's); methods None: all
LIMITS = [
    # Guessing a short code: a few tries a minute from one address ...
    (("client.find",), "10 per minute", "ip", None),
    # Signing in (only what is sent counts): on top of the lockout in staff.py.
    (("clinic.login",), "20 per minute", "ip", ["POST"]),
    # Client links and the client API: a phone opens its plan and syncs now and then.
    (("client.plan", "client.manifest", "client.calendar", "api.get_plan",
      "api.put_subscription", "api.delete_subscription", "api.get_preferences",
      "api.put_preferences", "api.get_calendar", "api.post_check_in", "api.get_check_ins",
      "api.delete_me"),
     "120 per minute", "ip", None),
    (("api.post_check_in",), "30 per hour", "token", None),
    # A test notification goes through a push service: a handful is plenty.
    (("api.post_test_notification",), "3 per minute; 20 per day", "token", None),
]
#: ... and across all addresses, wrong codes only: the cap that bounds enumeration.
SHORT_CODE_FAILURES = "200 per hour"
#: the booking-system API, per clinic token
CLINIC_API = "600 per minute"


def init_app(app):
    """After the blueprints: limits are attached to their views by endpoint name."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    # Behind N reverse proxies the client's address is in X-Forwarded-For (docs/deploy.md).
    proxies = int(app.config.get("PROXY_COUNT", 0) or 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    # One limiter per app (not a module global): limits attach to view functions by name,
    # and several apps in one process (tests, tools) must not stack them.
    limiter = Limiter(get_remote_address, app=app, default_limits=[], strategy="moving-window")
    app.extensions["companion.limiter"] = limiter
    keys = {"ip": get_remote_address, "token": _client_token_key, "api token": _api_token_key}
    views = app.view_functions  # a limited view is a wrapper that checks before it runs
    for endpoints, limit, key, methods in LIMITS:
        for endpoint in endpoints:
            views[endpoint] = limiter.limit(limit, key_func=keys[key], methods=methods)(
                views[endpoint])
    views["client.find"] = limiter.shared_limit(
        SHORT_CODE_FAILURES, scope="short-code-failures", key_func=lambda: "everyone",
        deduct_when=lambda response: response.status_code == 404)(views["client.find"])
    limiter.limit(CLINIC_API, key_func=_api_token_key)(app.blueprints["clinic_api"])
    app.after_request(add_headers)


def add_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    # Links carry tokens: no page ever tells another site where it came from.
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def _hashed(text):
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _client_token_key():
    """The client's token, hashed (limits are kept per session, never the token itself)."""
    token = (request.view_args or {}).get("token") or _bearer()
    return "client:" + _hashed(token) if token else "ip:" + get_remote_address()


def _api_token_key():
    token = _bearer()
    return "clinic:" + _hashed(token) if token else "ip:" + get_remote_address()


def _bearer():
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else ""
