"""JSON API, version 1. Every route here is described in openapi.py."""
from datetime import datetime, timezone

from flask import Blueprint, Response, current_app, request
from flask_babel import gettext as _

from . import (checkins, erasure, i18n, ics, openapi, plandata, push, reminders, scheduler,
               subscriptions, treatments)
from .errors import ApiError
from .registration import Invalid

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def bearer_token():
    """The token of an `Authorization: Bearer <token>` header; 401 when there is none."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized",
                       "Send your token as 'Authorization: Bearer <token>'.")
    return token.strip()


def _as_client(lookup):
    """`lookup(token)` for the request's client token, refusals as JSON errors."""
    try:
        found = lookup(bearer_token())
    except treatments.LinkRevoked:
        raise ApiError(410, "revoked", _("Your clinic has withdrawn this link. Please contact them."))
    except treatments.LinkNotFound:
        raise ApiError(404, "not_found", _("No aftercare plan matches this token."))
    # Replies read in the client's language, as their pages do.
    i18n.use_language_of(found[0] if isinstance(found, tuple) else found)
    return found


def client_plan():
    """(session, plan) of the client token; notes that the client was seen."""
    language = i18n.current_language()
    treatment, care_plan = _as_client(treatments.open_plan)
    if i18n.current_language() != language:  # built before the session's language was known
        care_plan = treatments.plan_for(treatment, care_plan.now_local)
    return treatment, care_plan


def client_session():
    """The session of the client token, without building its plan."""
    return _as_client(treatments.by_token)


@bp.get("/me/plan")
def get_plan():
    """The client's whole plan as it stands now."""
    treatment, care_plan = client_plan()
    protocol = treatments.protocol_for(treatment)
    body = plandata.plan(treatment, care_plan, protocol.name)
    return body, 200, {"Cache-Control": "private, no-cache"}


@bp.delete("/me")
def delete_me():
    """Forget me: every session of this client's link, with its check-ins, reminders and
    phones. The token opens nothing afterwards (404): nothing about it is kept."""
    try:
        erasure.forget_client(bearer_token())
    except treatments.LinkNotFound:
        raise ApiError(404, "not_found", _("No aftercare plan matches this token."))
    return "", 204


@bp.get("/openapi.json")
def get_openapi():
    """The OpenAPI 3.1 description of this API."""
    return openapi.document()




def json_object():
    """The JSON object of the request; 415 / 400 / 422 with a readable message otherwise."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Send JSON with 'Content-Type: application/json'.")
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "bad_json", "The body is not valid JSON.")
    if not isinstance(data, dict):
        raise ApiError(422, "invalid", "The body must be a JSON object.", {"body": "must be a JSON object."})
    return data


def _invalid(invalid):
    return ApiError(422, "invalid", "Some fields are not valid; see 'fields'.", invalid.fields)


@bp.get("/vapid-public-key")
def get_vapid_public_key():
    """The application server key browsers subscribe with."""
    key = push.public_key(push.load_vapid(current_app.config["VAPID_PRIVATE_KEY_FILE"]))
    return {"publicKey": key}, 200, {"Cache-Control": "public, max-age=3600"}


@bp.put("/me/push-subscription")
def put_subscription():
    """Store this phone's push subscription for the session (upsert by endpoint)."""
    treatment = client_session()
    try:
        created = subscriptions.save(treatment, json_object(),
                                     current_app.config["PUSH_ENDPOINT_ALLOWLIST"])
    except Invalid as invalid:
        raise _invalid(invalid)
    return subscriptions.preferences(treatment), 201 if created else 200


@bp.delete("/me/push-subscription")
def delete_subscription():
    """Forget this phone's push subscription."""
    treatment = client_session()
    data = json_object()
    endpoint = data.get("endpoint")
    if not isinstance(endpoint, str) or len(endpoint) > 1024:
        raise ApiError(422, "invalid", "Send the subscription's endpoint.",
                       {"endpoint": "is required."})
    subscriptions.remove(treatment, endpoint)
    return "", 204


@bp.get("/me/preferences")
def get_preferences():
    """The client's reminder preferences."""
    return subscriptions.preferences(client_session())


@bp.put("/me/preferences")
def put_preferences():
    """Change time zone, reminder times, quiet hours, reminders on or off."""
    treatment = client_session()
    try:
        return subscriptions.set_preferences(treatment, json_object())
    except Invalid as invalid:
        raise _invalid(invalid)


@bp.post("/me/test-notification")
def post_test_notification():
    """Send a test reminder to every phone of this session, now."""
    treatment = client_session()
    if not subscriptions.preferences(treatment)["subscribed"]:
        raise ApiError(409, "not_subscribed", _("Turn on reminders on this phone first."))
    reminders.queue_test(treatment, datetime.now(timezone.utc))
    scheduler.nudge(current_app)
    return {"queued": True}, 202


@bp.get("/me/calendar.ics")
def get_calendar():
    """The next session and the "allowed again" moments, for the phone's calendar."""
    treatment, care_plan = client_plan()
    return calendar_response(treatment, care_plan)


def calendar_response(treatment, care_plan):
    body = ics.calendar(treatment, care_plan, treatment.clinic.name)
    return Response(body, mimetype="text/calendar", headers={
        "Content-Disposition": 'attachment; filename="aftercare.ics"',
        "Cache-Control": "private, no-cache",
        "Referrer-Policy": "no-referrer",
    })


def check_in_json(c):
    """A check-in as its client sees it: never the note, which is for the clinic."""
    return {
        "outcome": c.outcome,
        "message": c.message,
        "day": c.day,
        "id": c.id,
        "client_id": c.client_id,
        "in_recovery": c.in_recovery,
        "answered_at": c.answered_at.isoformat(),
        "redness": c.redness,
        "swelling": c.swelling,
        "pain": c.pain,
        "itch": c.itch,
        "signs": c.signs,
        "reasons": c.reasons,
    }


@bp.post("/me/check-ins")
def post_check_in():
    """Judge a check-in against what is usual on its day; an offline repeat is kept once."""
    treatment = client_session()
    try:
        check_in, created = checkins.record(treatment, json_object())
    except Invalid as invalid:
        raise _invalid(invalid)
    clinic = treatment.clinic
    body = {**check_in_json(check_in), "clinic": {"name": clinic.name, "phone": clinic.phone}}
    return body, 201 if created else 200


@bp.get("/me/check-ins")
def get_check_ins():
    """The session's check-ins, newest first, for the phone's history."""
    items = checkins.history(client_session())
    return {"items": [check_in_json(c) for c in items]}, 200, {"Cache-Control": "private, no-cache"}
