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

PATHS = {
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
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "clientToken": {"type": "http", "scheme": "bearer",
                                "description": "the token of the client's link /s/<token>"},
            },
        },
    }
