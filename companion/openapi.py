"""The OpenAPI 3.1 document of /api/v1, kept next to the routes it describes."""
from flask import current_app

STR = {"type": "string"}
NSTR = {"type": ["string", "null"]}
INT = {"type": "integer"}
DATE = {"type": "string", "format": "date"}
INSTANT = {"type": "string", "format": "date-time"}


def _obj(properties, required=None):
    return {
        "type": "object",
        "properties": properties,
        "required": list(required if required is not None else properties),
    }


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _error_response(description):
    return {"description": description,
            "content": {"application/json": {"schema": _ref("Error")}}}


SCHEMAS = {
    "Error": _obj(
        {
            "error": {**STR, "description": "machine-readable code"},
            "message": {**STR, "description": "a sentence for people"},
            "fields": {"type": "object", "additionalProperties": STR,
                       "description": "bad input, by field name"},
        },
        ["error", "message"],
    ),
    "Restriction": _obj({
        "id": STR, "title": STR, "avoid": STR, "allowed": STR,
        "ends_at": INSTANT, "ends_local": INSTANT, "ends_day": INT,
        "active": {"type": "boolean"}, "remaining_seconds": {**INT, "minimum": 0},
    }),
    "Step": _obj({
        "id": STR, "title": STR, "text": STR,
        "time": {"enum": ["morning", "anytime", "evening"]},
        "not_before": {"type": ["string", "null"], "format": "date-time"},
    }),
    "Day": _obj({
        "number": INT, "date": DATE,
        "steps": {"type": "array", "items": _ref("Step")},
        "normal": {"type": "array", "items": _obj({"id": STR, "text": STR})},
        "unlocks": {"type": "array", "items": _obj(
            {"id": STR, "title": STR, "allowed": STR, "ends_local": INSTANT})},
    }),
    "Plan": _obj({
        "session": _obj({
            "client_name": STR, "treated_at": INSTANT, "timezone": STR,
            "protocol": _obj({"id": STR, "name": STR}),
            "series": _obj({"index": INT, "total": {"type": ["integer", "null"]}}),
            "note": NSTR,
        }),
        "clinic": _obj({"name": STR, "phone": NSTR, "booking_url": NSTR,
                        "emergency_text": NSTR}),
        "generated_at": INSTANT,
        "day": {**INT, "description": "recovery day in the client's zone; 0 = day of treatment"},
        "in_recovery": {"type": "boolean"},
        "today": _ref("Day"),
        "off_limits": {"type": "array", "items": _ref("Restriction")},
        "allowed": {"type": "array", "items": _ref("Restriction")},
        "warnings": {"type": "array", "items": _obj(
            {"id": STR, "text": STR, "level": {"enum": ["clinic", "emergency"]}})},
        "timeline": {"type": "array", "items": _ref("Day")},
        "next_session": {"oneOf": [{"type": "null"}, _obj({
            "index": INT, "total": {"type": ["integer", "null"]},
            "earliest": DATE, "latest": DATE, "earliest_day": INT,
            "precare": {"type": "array", "items": _obj({"id": STR, "text": STR, "from": DATE})},
        })]},
    }),
}

SESSION_FIELDS = {
    "client_name": {**STR, "minLength": 1, "maxLength": 40,
                    "description": "first name or nickname; nothing more is needed"},
    "treated_at": {**INSTANT, "description": "ISO 8601 with offset; at most 24 h ahead, at most a year ago"},
    "timezone": {**STR, "description": "the client's IANA zone; default the clinic's"},
    "protocol": {**STR, "default": "microneedling"},
    "series_index": {**INT, "minimum": 1, "maximum": 12, "default": 1},
    "series_total": {"type": ["integer", "null"], "minimum": 1, "maximum": 12},
    "next_session_weeks": {"type": ["integer", "null"], "minimum": 1, "maximum": 26},
    "areas": {"type": ["array", "null"], "maxItems": 8,
              "items": {**STR, "minLength": 1, "maxLength": 40}},
    "needle_depth_mm": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 3},
    "overrides": {
        "type": ["object", "null"],
        "description": 'per-session protocol changes, e.g. {"restrictions": {"heat": {"days": 5}}}',
        "properties": {"restrictions": {"type": "object", "additionalProperties": {
            "type": "object", "minProperties": 1, "maxProperties": 1,
            "properties": {"hours": {**INT, "minimum": 1, "maximum": 2160},
                           "days": {**INT, "minimum": 1, "maximum": 90}},
            "additionalProperties": False}}},
        "additionalProperties": False,
    },
    "note": {"type": ["string", "null"], "maxLength": 500, "description": "shown to the client"},
    "previous_session_id": {
        "type": ["integer", "null"], "minimum": 1,
        "description": "the client's previous session of this series: the new one continues on "
                       "the same client link (the phone moves to the new day 0, history kept)"},
}

SCHEMAS["SessionCreate"] = {
    "type": "object",
    "properties": SESSION_FIELDS,
    "required": ["client_name", "treated_at"],
    "additionalProperties": False,
}
SCHEMAS["Session"] = _obj({
    "id": INT,
    **{k: v for k, v in SESSION_FIELDS.items() if k not in ("timezone", "protocol")},
    "timezone": STR, "protocol": STR, "series_index": INT,
    "areas": {"type": "array", "items": STR},
    "client_url": {**STR, "format": "uri"}, "short_code": STR,
    "qr_svg_url": {**STR, "format": "uri"}, "qr_png_url": {**STR, "format": "uri"},
    "created_at": INSTANT,
    "revoked_at": {"type": ["string", "null"], "format": "date-time"},
    "first_opened_at": {"type": ["string", "null"], "format": "date-time"},
    "installed_at": {"type": ["string", "null"], "format": "date-time"},
    "last_seen_at": {"type": ["string", "null"], "format": "date-time"},
})
SCHEMAS["SessionPage"] = _obj({
    "items": {"type": "array", "items": _ref("Session")},
    "page": INT, "per_page": INT, "total": INT, "next_page": {"type": ["integer", "null"]},
})

SCHEMAS["PushSubscription"] = {
    "type": "object",
    "description": "the body of PushSubscription.toJSON()",
    "required": ["endpoint", "keys"],
    "properties": {
        "endpoint": {**STR, "format": "uri", "maxLength": 1024,
                     "description": "https URL on an allowed push service"},
        "expirationTime": {"type": ["number", "null"]},
        "keys": {"type": "object", "required": ["p256dh", "auth"], "properties": {
            "p256dh": {**STR, "description": "base64url, 65-byte uncompressed P-256 point"},
            "auth": {**STR, "description": "base64url, 16 bytes"}}},
    },
}
HHMM_SCHEMA = {**STR, "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
SCHEMAS["Preferences"] = _obj({
    "timezone": STR, "morning": HHMM_SCHEMA, "evening": HHMM_SCHEMA,
    "quiet_start": {"type": ["string", "null"], "pattern": HHMM_SCHEMA["pattern"]},
    "quiet_end": {"type": ["string", "null"], "pattern": HHMM_SCHEMA["pattern"]},
    "reminders": {"type": "boolean"}, "subscribed": {"type": "boolean"},
})
SCHEMAS["PreferencesUpdate"] = {
    "type": "object", "additionalProperties": False,
    "properties": {k: v for k, v in SCHEMAS["Preferences"]["properties"].items() if k != "subscribed"},
}
CLIENT_AUTH = [{"clientToken": []}]
CLIENT_ERRORS = {
    "401": _error_response("No bearer token was sent"),
    "404": _error_response("No session matches the token"),
    "410": _error_response("The clinic withdrew the link"),
}
BODY_ERRORS = {
    "400": _error_response("The body is not JSON"),
    "413": _error_response("The body is too large"),
    "415": _error_response("The body is not sent as application/json"),
    "422": _error_response("Fields are not valid; 'fields' names each"),
}


def _json_body(schema):
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _json_response(description, schema):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


CLIENT_PATHS = {
    "/api/v1/vapid-public-key": {"get": {
        "operationId": "getVapidPublicKey", "summary": "The key browsers subscribe with",
        "security": [],
        "responses": {"200": _json_response("base64url raw P-256 public key",
                                            _obj({"publicKey": STR}))},
    }},
    "/api/v1/me/push-subscription": {
        "put": {
            "operationId": "putPushSubscription",
            "summary": "Store this phone's push subscription (upsert by endpoint)",
            "security": CLIENT_AUTH, "requestBody": _json_body(_ref("PushSubscription")),
            "responses": {"201": _json_response("stored", _ref("Preferences")),
                          "200": _json_response("updated", _ref("Preferences")),
                          **CLIENT_ERRORS, **BODY_ERRORS},
        },
        "delete": {
            "operationId": "deletePushSubscription", "summary": "Forget this phone's subscription",
            "security": CLIENT_AUTH,
            "requestBody": _json_body({"type": "object", "required": ["endpoint"],
                                       "properties": {"endpoint": STR}}),
            "responses": {"204": {"description": "forgotten"}, **CLIENT_ERRORS, **BODY_ERRORS},
        },
    },
    "/api/v1/me/preferences": {
        "get": {
            "operationId": "getPreferences", "summary": "Reminder preferences",
            "security": CLIENT_AUTH,
            "responses": {"200": _json_response("preferences", _ref("Preferences")), **CLIENT_ERRORS},
        },
        "put": {
            "operationId": "putPreferences",
            "summary": "Change time zone, reminder times, quiet hours, on/off",
            "security": CLIENT_AUTH, "requestBody": _json_body(_ref("PreferencesUpdate")),
            "responses": {"200": _json_response("preferences", _ref("Preferences")),
                          **CLIENT_ERRORS, **BODY_ERRORS},
        },
    },
    "/api/v1/me/calendar.ics": {"get": {
        "operationId": "getCalendar",
        "summary": "The next session and the 'allowed again' moments as an iCalendar file",
        "security": CLIENT_AUTH,
        "responses": {"200": {"description": "RFC 5545 calendar in the client's time zone",
                              "content": {"text/calendar": {"schema": {"type": "string"}}}},
                      **CLIENT_ERRORS},
    }},
    "/api/v1/me/test-notification": {"post": {
        "operationId": "postTestNotification", "summary": "Send a test reminder now",
        "security": CLIENT_AUTH,
        "responses": {"202": _json_response("queued", _obj({"queued": {"type": "boolean"}})),
                      "409": _error_response("No phone of this session has reminders on"),
                      **CLIENT_ERRORS},
    }},
}

CLINIC_AUTH = [{"clinicToken": []}]
SESSION_ID = {"name": "session_id", "in": "path", "required": True,
              "schema": {**INT, "minimum": 1}}


def _clinic_errors(*extra):
    responses = {"401": _error_response("Missing, unknown or revoked API token")}
    for status, text in extra:
        responses[status] = _error_response(text)
    return responses


DELETED = {"description": "The session was deleted: by whom and when, nothing else",
           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Deleted"}}}}


def _image(kind, media):
    return {
        "get": {
            "operationId": f"getSessionQr{kind}",
            "summary": f"QR code of the client's link ({kind})",
            "security": CLINIC_AUTH,
            "parameters": [SESSION_ID],
            "responses": {"200": {"description": "the QR code",
                                  "content": {media: {"schema": {"type": "string"}}}},
                          **_clinic_errors(("404", "No such session in this clinic")),
                          "410": DELETED},
        }
    }


PATHS = {
    "/api/v1/sessions": {
        "post": {
            "operationId": "createSession",
            "summary": "Register a treatment session",
            "security": CLINIC_AUTH,
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": _ref("SessionCreate")}}},
            "responses": {
                "201": {"description": "Registered; hand client_url or the QR code to the client",
                        "content": {"application/json": {"schema": _ref("Session")}}},
                **_clinic_errors(("400", "The body is not JSON"),
                                 ("413", "The body is too large"),
                                 ("415", "The body is not sent as application/json"),
                                 ("422", "Fields are not valid; 'fields' names each")),
            },
        },
        "get": {
            "operationId": "listSessions",
            "summary": "The clinic's sessions, newest first",
            "security": CLINIC_AUTH,
            "parameters": [
                {"name": "page", "in": "query", "schema": {**INT, "minimum": 1, "maximum": 10000, "default": 1}},
                {"name": "per_page", "in": "query", "schema": {**INT, "minimum": 1, "maximum": 100, "default": 20}},
            ],
            "responses": {"200": {"description": "a page of sessions",
                                  "content": {"application/json": {"schema": _ref("SessionPage")}}},
                          **_clinic_errors(("400", "page or per_page out of range"))},
        },
    },
    "/api/v1/sessions/{session_id}": {
        "get": {
            "operationId": "getSession",
            "summary": "One session",
            "security": CLINIC_AUTH,
            "parameters": [SESSION_ID],
            "responses": {"200": {"description": "the session",
                                  "content": {"application/json": {"schema": _ref("Session")}}},
                          **_clinic_errors(("404", "No such session in this clinic")),
                          "410": DELETED},
        },
        "delete": {
            "operationId": "deleteSession",
            "summary": "Withdraw the client's link",
            "description": "The session and its data stay (the clinic still sees them); to "
                           "delete them, POST /api/v1/sessions/{session_id}/erase.",
            "security": CLINIC_AUTH,
            "parameters": [SESSION_ID],
            "responses": {"204": {"description": "withdrawn; the client sees a clear message"},
                          **_clinic_errors(("404", "No such session in this clinic")),
                          "410": DELETED},
        },
    },
    "/api/v1/sessions/{session_id}/qr.svg": _image("Svg", "image/svg+xml"),
    "/api/v1/sessions/{session_id}/qr.png": _image("Png", "image/png"),
    "/api/v1/me/plan": {
        "get": {
            "operationId": "getPlan",
            "summary": "The client's aftercare plan as it stands now",
            "description": "Recovery day, today's steps, what is allowed again and what is "
                           "still off-limits, what is normal, warning signs, the whole "
                           "timeline and the next session, in the client's time zone.",
            "security": [{"clientToken": []}],
            "responses": {
                "200": {"description": "The plan",
                        "content": {"application/json": {"schema": _ref("Plan")}}},
                "401": _error_response("No bearer token was sent"),
                "404": _error_response("No session matches the token"),
                "410": _error_response("The clinic withdrew the link"),
            },
        }
    },
    "/api/v1/openapi.json": {
        "get": {
            "operationId": "getOpenApi",
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1 document",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}},
        }
    },
}


# -- Daily check-ins ----------------------------------------------------------------------

LEVEL = {"enum": ["none", "mild", "moderate", "strong"]}
SIGN = {"enum": ["warmth", "pus", "blisters", "rash", "fever", "breathing", "facial_swelling"]}
OUTCOME = {"enum": ["expected", "watch", "contact_clinic", "emergency"],
           "description": "expected: this is expected; watch: keep an eye on it, check in again "
                          "tomorrow; contact_clinic: contact your clinic today; emergency: call "
                          "emergency services now"}
ANSWERS = {"redness": LEVEL, "swelling": LEVEL, "pain": LEVEL, "itch": LEVEL,
           "signs": {"type": "array", "items": SIGN, "uniqueItems": True}}
SCHEMAS["CheckInCreate"] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["redness", "swelling", "pain", "itch"],
    "properties": {
        **ANSWERS,
        "note": {"type": ["string", "null"], "maxLength": 300,
                 "description": "the client's own words; shown to the clinic only"},
        "client_id": {"type": ["string", "null"], "format": "uuid",
                      "description": "idempotency key made by the phone: the same one again "
                                     "returns the stored check-in with 200"},
        "answered_at": {"type": ["string", "null"], "format": "date-time",
                        "description": "when the phone took it (offline); with offset, not in "
                                       "the future, not before the treatment; default now"},
    },
}
SCHEMAS["CheckInReason"] = _obj({
    "kind": {"enum": ["sign", "level", "worse"]},
    "subject": {**STR, "description": "the sign or symptom"},
    "outcome": OUTCOME, "text": STR,
})
SCHEMAS["CheckInResult"] = _obj({
    "outcome": OUTCOME,
    "message": {**STR, "description": "what to tell the client, as is"},
    "day": {**INT, "description": "recovery day of answered_at in the client's zone"},
    "id": INT,
    "client_id": NSTR,
    "in_recovery": {"type": "boolean",
                    "description": "false: after the expected recovery days, judged all the same"},
    "answered_at": INSTANT,
    **ANSWERS,
    "reasons": {"type": "array", "items": _ref("CheckInReason")},
})
SCHEMAS["CheckInCreated"] = _obj({
    **SCHEMAS["CheckInResult"]["properties"],
    "clinic": _obj({"name": STR, "phone": NSTR}),
})
SCHEMAS["CheckInHistory"] = _obj({"items": {"type": "array", "items": _ref("CheckInResult")}})
SCHEMAS["CheckIn"] = _obj({
    "id": INT, "session_id": INT, "client_name": STR,
    "answered_at": INSTANT, "received_at": INSTANT, "day": INT, "in_recovery": {"type": "boolean"},
    **ANSWERS,
    "note": NSTR, "outcome": OUTCOME,
    "reasons": {"type": "array", "items": _ref("CheckInReason")},
    "message": STR,
    "flagged": {"type": "boolean",
                "description": "contact_clinic or emergency, and not handled yet"},
    "handled_at": {"type": ["string", "null"], "format": "date-time"},
    "handled_by": NSTR,
})
SCHEMAS["CheckInPage"] = _obj({
    "items": {"type": "array", "items": _ref("CheckIn")},
    "page": INT, "per_page": INT, "total": INT, "next_page": {"type": ["integer", "null"]},
})
CHECK_IN_ID = {"name": "check_in_id", "in": "path", "required": True,
               "schema": {**INT, "minimum": 1}}

CHECK_IN_PATHS = {
    "/api/v1/me/check-ins": {
        "post": {
            "operationId": "postCheckIn",
            "summary": "Send a daily check-in; answers whether this is expected on this day",
            "security": CLIENT_AUTH, "requestBody": _json_body(_ref("CheckInCreate")),
            "responses": {"201": _json_response("judged and stored", _ref("CheckInCreated")),
                          "200": _json_response("this client_id was stored before: the same "
                                                "check-in", _ref("CheckInCreated")),
                          **CLIENT_ERRORS, **BODY_ERRORS},
        },
        "get": {
            "operationId": "listMyCheckIns", "summary": "The session's check-ins, newest first",
            "security": CLIENT_AUTH,
            "responses": {"200": _json_response("check-ins (without the note)",
                                                _ref("CheckInHistory")), **CLIENT_ERRORS},
        },
    },
    "/api/v1/check-ins": {"get": {
        "operationId": "listCheckIns",
        "summary": "The clinic's check-ins, newest first",
        "security": CLINIC_AUTH,
        "parameters": [
            {"name": "flagged", "in": "query", "schema": {"enum": ["true", "false"]},
             "description": "true: contact_clinic or emergency, not handled yet; false: the others"},
            {"name": "outcome", "in": "query", "schema": OUTCOME},
            {"name": "page", "in": "query", "schema": {**INT, "minimum": 1, "maximum": 10000, "default": 1}},
            {"name": "per_page", "in": "query", "schema": {**INT, "minimum": 1, "maximum": 100, "default": 20}},
        ],
        "responses": {"200": _json_response("a page of check-ins", _ref("CheckInPage")),
                      **_clinic_errors(("400", "a query parameter is out of range"))},
    }},
    "/api/v1/check-ins/{check_in_id}": {"get": {
        "operationId": "getCheckIn", "summary": "One check-in",
        "security": CLINIC_AUTH, "parameters": [CHECK_IN_ID],
        "responses": {"200": _json_response("the check-in", _ref("CheckIn")),
                      **_clinic_errors(("404", "No such check-in in this clinic"))},
    }},
    "/api/v1/check-ins/{check_in_id}/handled": {"post": {
        "operationId": "markCheckInHandled",
        "summary": "Mark a check-in as followed up; it leaves the flagged list",
        "security": CLINIC_AUTH, "parameters": [CHECK_IN_ID],
        "responses": {"200": _json_response("the check-in, handled", _ref("CheckIn")),
                      **_clinic_errors(("404", "No such check-in in this clinic"))},
    }},
}


# -- Data lifecycle: deleting (docs/data-lifecycle.md) -------------------------------------
# Last in the document: a fuzzer walking it in order deletes its test sessions only at the end.

SCHEMAS["Deleted"] = _obj({
    "error": {"const": "deleted"},
    "message": {**STR, "description": "a sentence for people"},
    "session_id": INT,
    "deleted_by": {"enum": ["client", "clinic", "retention"],
                   "description": "client: the client deleted everything about them; clinic: "
                                  "the clinic did; retention: the retention period ran out"},
    "deleted_at": INSTANT,
})

LIFECYCLE_PATHS = {
    "/api/v1/sessions/{session_id}/erase": {"post": {
        "operationId": "eraseSession",
        "summary": "Delete the session and everything about it",
        "description": "Its check-ins, reminders and phones' push subscriptions go with it; the "
                       "client's link stops working. Only a tombstone stays: the id answers "
                       "410 with deleted_by \"clinic\". Earlier sessions of the series stay.",
        "security": CLINIC_AUTH, "parameters": [SESSION_ID],
        "responses": {"204": {"description": "deleted"},
                      **_clinic_errors(("404", "No such session in this clinic")),
                      "410": DELETED},
    }},
    "/api/v1/me": {"delete": {
        "operationId": "deleteMe",
        "summary": "Forget me: delete everything about this client",
        "description": "Every session of the series this link reaches, with their check-ins, "
                       "reminders and phones' push subscriptions, in one transaction. The "
                       "token opens nothing afterwards (404). Also for a withdrawn link.",
        "security": CLIENT_AUTH,
        "responses": {"204": {"description": "deleted"},
                      "401": CLIENT_ERRORS["401"],
                      "404": _error_response("No session matches the token (or it was "
                                             "deleted before)")},
    }},
}


def document():
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "companion API",
            "version": "1",
            "description": "Aftercare plans for microneedling clients. Clients authenticate "
                           "with the token of their link (/s/<token>).",
        },
        "servers": [{"url": current_app.config["PUBLIC_URL"]}],
        "paths": {**PATHS, **CLIENT_PATHS, **CHECK_IN_PATHS, **LIFECYCLE_PATHS},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "clientToken": {"type": "http", "scheme": "bearer",
                                "description": "the token of the client's link /s/<token>"},
                "clinicToken": {"type": "http", "scheme": "bearer",
                                "description": "a clinic API token (flask --app companion api-token)"},
            },
        },
    }
