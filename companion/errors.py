"""Errors people can read: JSON under /api/, friendly pages elsewhere; never a stack trace."""
from flask import current_app, render_template, request
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DisconnectionError, OperationalError
from werkzeug.exceptions import HTTPException


def N_(text):
    """Marks a message for extraction; it is translated when an error is answered."""
    return text


#: in English; pages and JSON get them in the request's language
MESSAGES = {
    400: N_("The request could not be understood."),
    401: N_("Please sign in first."),
    403: N_("This is not yours to open."),
    404: N_("There is nothing at this address."),
    405: N_("This address does not accept that kind of request."),
    410: N_("Your clinic has withdrawn this link."),
    413: N_("What was sent is too large."),
    415: N_("This address expects JSON."),
    429: N_("Too many requests. Please wait a moment and try again."),
    500: N_("Something went wrong on our side. Please try again in a moment."),
    503: N_("We are busy for a moment. Please try again in a few seconds."),
}
#: what a client should wait before trying again when the database is busy or away
RETRY_AFTER_SECONDS = 5
CSRF_MESSAGE = N_("This form has expired or was sent from elsewhere. "
                  "Please reload the page and try again.")


class ApiError(Exception):
    """A refusal with a status, a machine-readable code and a sentence for people."""

    def __init__(self, status, code, message, fields=None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields

    def body(self):
        body = {"error": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return body


def _wants_json():
    return request.path.startswith("/api/")


def handle_api_error(error):
    return error.body(), error.status


def handle_http(error):
    status = error.code or 500
    message = gettext(MESSAGES[status]) if status in MESSAGES else error.description
    if isinstance(error, CSRFError):
        message = gettext(CSRF_MESSAGE)
    if _wants_json():
        code = error.name.lower().replace(" ", "_")
        return {"error": code, "message": message}, status, _retry_after(error)
    template = {404: "errors/404.html", 410: "errors/410.html"}.get(status, "errors/error.html")
    return render_template(template, status=status, message=message), status


def handle_unexpected(error):
    # The rule, not the path: paths carry client tokens, and logs must not.
    rule = request.url_rule.rule if request.url_rule else "?"
    current_app.logger.exception("unhandled error in %s %s", request.method, rule)
    return handle_http(_InternalError())


class _InternalError(HTTPException):
    code = 500


class _Unavailable(HTTPException):
    code = 503


def handle_database_unavailable(error):
    """The database is locked or out of reach: nothing was stored (the request's transaction
    is rolled back), so the client may simply try again."""
    from .extensions import db
    db.session.rollback()
    rule = request.url_rule.rule if request.url_rule else "?"
    current_app.logger.warning("database unavailable in %s %s: %s", request.method, rule,
                               type(getattr(error, "orig", error)).__name__)
    response = handle_http(_Unavailable())
    body, status = response[0], response[1]
    return body, status, {"Retry-After": str(RETRY_AFTER_SECONDS)}


def _retry_after(error):
    response = getattr(error, "response", None)
    if response is not None and "Retry-After" in response.headers:
        return {"Retry-After": response.headers["Retry-After"]}
    return {}


def init_app(app):
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.register_error_handler(DisconnectionError, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
