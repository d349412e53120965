"""Logging that never carries a client's token: request lines are redacted before output."""
import logging
import re

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


def init_app(app):
    redacting = RedactingFilter()
    for logger in (logging.getLogger("werkzeug"), app.logger):
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(redacting)
