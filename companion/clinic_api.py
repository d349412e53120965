"""JSON API for booking systems: register, read, withdraw and delete sessions with a clinic token."""
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import wraps

from flask import Blueprint, Response, current_app, g, request, url_for

from . import apitokens, checkins, checkrules, erasure, qr, registration, treatments
from .api import bearer_token, json_object
from .errors import ApiError

bp = Blueprint("clinic_api", __name__, url_prefix="/api/v1")
PER_PAGE_MAX = 100


def clinic_token_required(view):
    """The clinic of the bearer token in g.clinic; 401 for a missing or unknown token."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        clinic = apitokens.clinic_for(bearer_token())
        if clinic is None:
            raise ApiError(401, "unauthorized", "This API token is unknown or was revoked.")
        g.clinic = clinic
        return view(*args, **kwargs)
    return wrapper


class Deleted(ApiError):
    """410 for a session that was deleted: by whom and when, nothing else."""

    MESSAGES = {
        erasure.BY_CLIENT: "The client deleted this session and everything about it.",
        erasure.BY_CLINIC: "The clinic deleted this session and everything about it.",
        erasure.BY_RETENTION: "This session was deleted after the retention period.",
    }

    def __init__(self, tombstone):
        super().__init__(410, "deleted", self.MESSAGES.get(tombstone.deleted_by,
                                                           "This session was deleted."))
        self.tombstone = tombstone

    def body(self):
        return {**super().body(), "session_id": self.tombstone.id,
                "deleted_by": self.tombstone.deleted_by,
                "deleted_at": self.tombstone.deleted_at.isoformat()}


@contextmanager
def _answers_for(session_id):
    """A session the service cannot find, as the API says it: 410 when deleted, else 404."""
    try:
        yield
    except treatments.SessionDeleted as deleted:
        raise Deleted(deleted.tombstone) from None
    except treatments.LinkNotFound:
        raise ApiError(404, "not_found", f"This clinic has no session {session_id}.") from None


def _session_of_clinic(session_id):
    with _answers_for(session_id):
        return treatments.get_for_clinic(g.clinic.id, session_id)


def client_url(treatment):
    return current_app.config["PUBLIC_URL"] + treatments.path(treatment)


def session_json(t):
    public = current_app.config["PUBLIC_URL"]
    return {
        "id": t.id,
        "client_name": t.client_name,
        "treated_at": t.treated_at.isoformat(),
        "timezone": t.timezone,
        "protocol": t.protocol_id,
        "series_index": t.series_index,
        "series_total": t.series_total,
        "next_session_weeks": t.next_session_weeks,
        "areas": t.areas or [],
        "needle_depth_mm": t.needle_depth_mm,
        "overrides": t.overrides,
        "previous_session_id": t.previous_id,
        "note": t.note,
        "client_url": client_url(t),
        "short_code": treatments.format_short_code(t.short_code),
        "qr_svg_url": public + url_for("clinic_api.get_session_qr", session_id=t.id, kind="svg"),
        "qr_png_url": public + url_for("clinic_api.get_session_qr", session_id=t.id, kind="png"),
        "created_at": t.created_at.isoformat(),
        "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
        "first_opened_at": t.first_opened_at.isoformat() if t.first_opened_at else None,
        "installed_at": t.installed_at.isoformat() if t.installed_at else None,
        "last_seen_at": t.last_seen_at.isoformat() if t.last_seen_at else None,
    }


@bp.post("/sessions")
@clinic_token_required
def create_session():
    """Register a treatment session; answers with the client's link and QR code URLs."""
    data = json_object()
    try:
        values = registration.parse_session(
            data, clinic_timezone=g.clinic.timezone, now=datetime.now(timezone.utc))
    except registration.Invalid as invalid:
        raise ApiError(422, "invalid", "Some fields are not valid; see 'fields'.", invalid.fields)
    try:
        treatment = treatments.create(g.clinic, **values)
    except (treatments.LinkNotFound, treatments.LinkRevoked) as error:
        reason = ("was withdrawn: register a new session instead" if isinstance(
            error, treatments.LinkRevoked) else "was deleted: register a new session instead"
            if isinstance(error, treatments.SessionDeleted) else "is not a session of this clinic")
        raise ApiError(422, "invalid", "Some fields are not valid; see 'fields'.",
                       {"previous_session_id": reason + "."})
    location = url_for("clinic_api.get_session", session_id=treatment.id)
    return session_json(treatment), 201, {"Location": location}


@bp.get("/sessions")
@clinic_token_required
def list_sessions():
    """The clinic's sessions, newest first, a page at a time."""
    page = _positive_int("page", 1, 10_000)
    per_page = _positive_int("per_page", 20, PER_PAGE_MAX)
    items, total = treatments.page_for_clinic(g.clinic.id, page, per_page)
    return page_json([session_json(t) for t in items], page, per_page, total)


def page_json(items, page, per_page, total):
    """One page of a newest-first list, with where the next page is."""
    return {"items": items, "page": page, "per_page": per_page, "total": total,
            "next_page": page + 1 if page * per_page < total else None}


def _positive_int(name, default, high):
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise ApiError(400, "invalid", f"'{name}' must be a whole number from 1 to {high}.",
                       {name: f"must be a whole number from 1 to {high}."})
    return int(raw)


@bp.get("/sessions/<int:session_id>")
@clinic_token_required
def get_session(session_id):
    """One session of the clinic."""
    return session_json(_session_of_clinic(session_id))


@bp.delete("/sessions/<int:session_id>")
@clinic_token_required
def delete_session(session_id):
    """Withdraw the client's link; the client then sees that it was withdrawn."""
    with _answers_for(session_id):
        treatments.revoke(g.clinic.id, session_id)
    return "", 204


@bp.post("/sessions/<int:session_id>/erase")
@clinic_token_required
def erase_session(session_id):
    """Delete the session and everything about it (check-ins, reminders, phones); only a
    tombstone stays: GET then answers 410 saying the clinic deleted it."""
    with _answers_for(session_id):
        erasure.erase_for_clinic(g.clinic.id, session_id)
    return "", 204


@bp.get("/sessions/<int:session_id>/qr.<any(svg, png):kind>")
@clinic_token_required
def get_session_qr(session_id, kind):
    """The QR code of the client's link, as SVG or PNG."""
    url = client_url(_session_of_clinic(session_id))
    body, mimetype = (qr.svg(url), "image/svg+xml") if kind == "svg" else (qr.png(url), "image/png")
    return Response(body, mimetype=mimetype, headers={"Cache-Control": "private, no-store"})


# -- Check-ins ------------------------------------------------------------------------------------


def check_in_json(c):
    """A check-in as the clinic sees it: the answers, the client's note and the follow-up."""
    return {
        "id": c.id,
        "session_id": c.treatment_id,
        "client_name": c.treatment.client_name,
        "answered_at": c.answered_at.isoformat(),
        "received_at": c.received_at.isoformat(),
        "day": c.day,
        "in_recovery": c.in_recovery,
        "redness": c.redness,
        "swelling": c.swelling,
        "pain": c.pain,
        "itch": c.itch,
        "signs": c.signs,
        "note": c.note,
        "outcome": c.outcome,
        "reasons": c.reasons,
        "message": c.message,
        "flagged": checkins.is_flagged(c),
        "handled_at": c.handled_at.isoformat() if c.handled_at else None,
        "handled_by": c.handled_by,
    }


def _check_in_of_clinic(check_in_id):
    try:
        return checkins.get_for_clinic(g.clinic.id, check_in_id)
    except checkins.NotFound:
        raise ApiError(404, "not_found", f"This clinic has no check-in {check_in_id}.")


def _choice(name, choices):
    raw = request.args.get(name)
    if raw is not None and raw not in choices:
        raise ApiError(400, "invalid", f"'{name}' must be one of: {', '.join(choices)}.",
                       {name: f"must be one of: {', '.join(choices)}."})
    return raw


@bp.get("/check-ins")
@clinic_token_required
def list_check_ins():
    """The clinic's check-ins, newest first; flagged=true: those that still need the clinic."""
    flagged = _choice("flagged", ("true", "false"))
    outcome = _choice("outcome", checkrules.OUTCOMES)
    page = _positive_int("page", 1, 10_000)
    per_page = _positive_int("per_page", 20, PER_PAGE_MAX)
    items, total = checkins.page_for_clinic(
        g.clinic.id, flagged=None if flagged is None else flagged == "true", outcome=outcome,
        page=page, per_page=per_page)
    return page_json([check_in_json(c) for c in items], page, per_page, total)


@bp.get("/check-ins/<int:check_in_id>")
@clinic_token_required
def get_check_in(check_in_id):
    """One check-in of the clinic's clients."""
    return check_in_json(_check_in_of_clinic(check_in_id))


@bp.post("/check-ins/<int:check_in_id>/handled")
@clinic_token_required
def post_check_in_handled(check_in_id):
    """Mark a check-in as followed up: it leaves the flagged list. Again changes nothing."""
    _check_in_of_clinic(check_in_id)
    return check_in_json(checkins.mark_handled(g.clinic.id, check_in_id, "API"))
