"""JSON API, version 1. Every route here is described in openapi.py."""
from flask import Blueprint, request

from . import openapi, plandata, treatments
from .errors import ApiError

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def bearer_token():
    """The token of an `Authorization: Bearer <token>` header; 401 when there is none."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized",
                       "Send your token as 'Authorization: Bearer <token>'.")
    return token.strip()


def client_plan():
    """Open the plan of the session whose token the request carries."""
    try:
        return treatments.open_plan(bearer_token())
    except treatments.LinkRevoked:
        raise ApiError(410, "revoked", "Your clinic has withdrawn this link. Please contact them.")
    except treatments.LinkNotFound:
        raise ApiError(404, "not_found", "No aftercare plan matches this token.")


@bp.get("/me/plan")
def get_plan():
    """The client's whole plan as it stands now."""
    treatment, care_plan = client_plan()
    protocol = treatments.protocol_for(treatment)
    body = plandata.plan(treatment, care_plan, protocol.name)
    return body, 200, {"Cache-Control": "private, no-cache"}


@bp.get("/openapi.json")
def get_openapi():
    """The OpenAPI 3.1 description of this API."""
    return openapi.document()
