"""Logging that never carries a client's token: request lines are redacted before output.

`COMPANION_LOG_FORMAT=json` writes one JSON object per line on stderr (time, level, logger,
message) for every logger: the app's, the web server's, the scheduler's, Alembic's.
"""
import logging
import re

from pythonjsonlogger.json import JsonFormatter

#: /s/<token> links and Bearer headers; both are credentials of a client
SECRET_PATTERNS = (
    (re.compile(r"(/s/)[A-Za-z0-9_-]{16,}"), r"\1[redacted]"),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9_.~+/=-]+", re.IGNORECASE), r"\1[redacted]"),
)


def redact(text):
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record):
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def json_formatter():
    return JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                         rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                         datefmt="%Y-%m-%dT%H:%M:%S%z")


class _JsonHandler(logging.StreamHandler):
    """Ours, so configuring twice (several apps in one process) replaces instead of doubling."""


def use_json(level="INFO"):
    """Every logger's records as JSON lines on stderr, redacted."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) and not isinstance(h, _JsonHandler)
           for h in root.handlers):
        return  # set up already, by gunicorn's logconfig_dict (companion/gunicorn_conf.py)
    handler = _JsonHandler()
    handler.setFormatter(json_formatter())
    handler.addFilter(RedactingFilter())
    for old in [h for h in root.handlers if isinstance(h, _JsonHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def init_app(app):
    redacting = RedactingFilter()
    for logger in (logging.getLogger("werkzeug"), app.logger):
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(redacting)
    if str(app.config.get("LOG_FORMAT", "text")).lower() == "json":
        use_json(app.config.get("LOG_LEVEL", "INFO"))
        # Flask's own handler would print the app's records a second time, as text.
        from flask.logging import default_handler
        app.logger.removeHandler(default_handler)
