"""GET /api/v1/me/plan and the OpenAPI document that describes it."""
import re
from datetime import datetime, timezone

import pytest
from openapi_spec_validator import validate

from companion.extensions import db
from companion.models import Treatment


def test_plan_for_the_bearer_token(client, make_treatment, conforms):
    _, token, _ = make_treatment(client_name="Ana", series_total=3, hours_ago=30)
    response = client.get("/api/v1/me/plan", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    plan = response.get_json()
    assert plan["session"]["client_name"] == "Ana"
    assert plan["day"] in (1, 2)
    assert plan["timeline"][0]["number"] == 0
    assert plan["today"]["number"] == plan["day"]
    assert plan["next_session"]["index"] == 2
    assert {w["level"] for w in plan["warnings"]} == {"clinic", "emergency"}
    make_up = next(r for r in plan["allowed"] if r["id"] == "makeup")
    assert make_up["active"] is False and make_up["remaining_seconds"] == 0
    conforms("Plan", plan)


@pytest.mark.parametrize("header, status, code", [
    (None, 401, "unauthorized"),
    ("Basic abc", 401, "unauthorized"),
    ("Bearer ", 401, "unauthorized"),
    ("Bearer " + "x" * 32, 404, "not_found"),
    ("Bearer " + "x" * 5000, 404, "not_found"),
    ("Bearer ../../etc", 404, "not_found"),
])
def test_bad_tokens_are_refused_in_json(client, make_treatment, header, status, code):
    make_treatment()
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/me/plan", headers=headers)
    assert response.status_code == status
    body = response.get_json()
    assert body["error"] == code and body["message"]


def test_withdrawn_token_is_gone(app, client, make_treatment):
    treatment_id, token, _ = make_treatment()
    with app.app_context():
        db.session.get(Treatment, treatment_id).revoked_at = datetime.now(timezone.utc)
        db.session.commit()
    response = client.get("/api/v1/me/plan", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 410
    assert "withdrawn" in response.get_json()["message"]


@pytest.mark.parametrize("method, path, status", [
    ("post", "/api/v1/me/plan", 405),
    ("get", "/api/v1/nothing", 404),
])
def test_api_errors_are_json(client, method, path, status):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response.is_json and response.get_json()["message"]


def test_openapi_document_is_valid_and_complete(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    validate(document)  # raises on an invalid OpenAPI 3.1 document
    assert document["openapi"].startswith("3.1")
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        # <any(svg, png):kind> is one route per choice; <int:x> is an OpenAPI {x}.
        choice = re.search(r"<any\(([^)]*)\):\w+>", rule.rule)
        options = [o.strip() for o in choice[1].split(",")] if choice else [None]
        for option in options:
            path = rule.rule.replace(choice[0], option) if choice else rule.rule
            routes.add(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path))
    assert routes == set(document["paths"]), "every API route is documented, and only those"
