"""Headers on every response and rate limits on what can be guessed or abused."""
import re

import pytest

from companion import create_app, security
from companion.extensions import db


@pytest.fixture
def limited(app, database):
    """A client of the app with its rate limits on, as in production (the `app` fixture has
    them off); the same database, so builders of rows work for both."""
    on = create_app({"INSTANCE_PATH": app.instance_path, "TESTING": True,
                     "PUBLIC_URL": "http://companion.test", **database})
    yield on.test_client()
    with on.app_context():
        db.engine.dispose()


def from_address(address):
    return {"REMOTE_ADDR": address}


@pytest.mark.parametrize("path", ["/", "/s/{token}", "/api/v1/me/plan", "/clinic/login",
                                  "/sw.js", "/static/css/app.css", "/nowhere", "/api/v1/nowhere",
                                  "/healthz", "/api/v1/openapi.json"])
def test_every_response_carries_the_security_headers(client, make_treatment, path):
    _, token, _ = make_treatment()
    response = client.get(path.format(token=token), headers={"Authorization": f"Bearer {token}"})
    headers = response.headers
    assert headers["Content-Security-Policy"] == security.CONTENT_SECURITY_POLICY
    policy = dict(part.split(" ", 1) for part in security.CONTENT_SECURITY_POLICY.split("; "))
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"  # nothing inline
    assert policy["frame-ancestors"] == "'none'" and "http" not in security.CONTENT_SECURITY_POLICY
    assert headers["X-Content-Type-Options"] == "nosniff"
    # Token URLs never tell anyone where they were; the staff portal keeps it in the site.
    assert headers["Referrer-Policy"] == ("same-origin" if path.startswith("/clinic")
                                          else "no-referrer")
    assert "camera=()" in headers["Permissions-Policy"]
    assert "Strict-Transport-Security" not in headers  # plain http: HSTS would mean nothing
    response.close()  # a static file is streamed from an open file


def test_hsts_only_over_https(client):
    response = client.get("/", base_url="https://aftercare.example")
    assert response.headers["Strict-Transport-Security"] == security.HSTS


def test_short_codes_allow_a_few_tries_a_minute_per_address(limited):
    client = limited
    for _ in range(10):
        assert client.post("/", data={"code": "ABCD-2345"},
                           environ_base=from_address("203.0.113.5")).status_code == 404
    refused = client.post("/", data={"code": "ABCD-2345"}, environ_base=from_address("203.0.113.5"))
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Too many requests" in refused.get_data(as_text=True)
    # another address is not held up by the first
    assert client.post("/", data={"code": "ABCD-2345"},
                       environ_base=from_address("203.0.113.6")).status_code == 404


def test_wrong_short_codes_are_capped_across_all_addresses(limited, make_treatment):
    client = limited
    _, _, code = make_treatment()
    cap = int(security.SHORT_CODE_FAILURES.split()[0])
    for n in range(cap):  # many addresses, each under its own limit, all guessing wrong
        address = f"198.51.{n // 250}.{n % 250 + 1}"
        assert client.post("/", data={"code": "ZZZZ-ZZZZ"},
                           environ_base=from_address(address)).status_code == 404
    # Right codes never counted against the cap; wrong ones have used it up for the hour.
    refused = client.post("/", data={"code": code}, environ_base=from_address("192.0.2.200"))
    assert refused.status_code == 429 and "Retry-After" in refused.headers


def test_right_codes_do_not_use_up_the_cap(limited, make_treatment):
    client = limited
    _, _, code = make_treatment()
    for n in range(30):
        found = client.post("/", data={"code": code}, environ_base=from_address(f"192.0.2.{n + 1}"))
        assert found.status_code == 303


def test_test_notifications_are_limited_per_session(limited, make_treatment):
    client = limited
    _, token, _ = make_treatment()
    auth = {"Authorization": f"Bearer {token}"}
    answers = [client.post("/api/v1/me/test-notification", headers=auth) for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [409, 409, 409]  # no phone yet, but counted
    assert answers[3].status_code == 429
    body = answers[3].get_json()
    assert body["error"] == "too_many_requests" and body["message"].startswith("Too many requests")
    assert int(answers[3].headers["Retry-After"]) > 0
    _, other, _ = make_treatment()
    assert client.post("/api/v1/me/test-notification",
                       headers={"Authorization": f"Bearer {other}"}).status_code == 409


def test_sign_in_attempts_are_limited_per_address(limited, app, make_clinic):
    """Every sign-in sent counts, right or wrong (wrong ones also lock the account, staff.py)."""
    from companion import staff
    with app.app_context():
        staff.create(make_clinic(), "nurse@calm.example", "correct horse battery")
    here = from_address("203.0.113.9")

    def sign_in():  # as a new browser each time, from the same address
        browser = limited.application.test_client()
        page = browser.get("/clinic/login", environ_base=here).get_data(as_text=True)
        form = {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page)[1],
                "email": "nurse@calm.example", "password": "correct horse battery"}
        return browser.post("/clinic/login", data=form, environ_base=here)
    answers = [sign_in() for _ in range(21)]
    client = limited
    assert {a.status_code for a in answers[:20]} == {303}  # signed in each time
    assert answers[20].status_code == 429 and int(answers[20].headers["Retry-After"]) > 0
    assert "Too many requests" in answers[20].get_data(as_text=True)
    assert client.get("/clinic/login", environ_base=here).status_code in (200, 302)  # reading is free


def test_the_booking_api_is_limited_per_clinic_token(limited, make_token):
    client = limited
    _, headers = make_token()
    limit = int(security.CLINIC_API.split()[0])
    for _ in range(limit):
        assert client.get("/api/v1/sessions", headers=headers).status_code == 200
    refused = client.get("/api/v1/sessions", headers=headers)
    assert refused.status_code == 429 and refused.get_json()["error"] == "too_many_requests"
    _, other = make_token()
    assert client.get("/api/v1/sessions", headers=other).status_code == 200


def test_behind_a_proxy_the_forwarded_address_is_limited(tmp_path):
    from companion import create_app
    app = create_app({"INSTANCE_PATH": str(tmp_path / "i"), "PROXY_COUNT": 1})
    client = app.test_client()
    for _ in range(10):
        client.post("/", data={"code": "ABCD-2345"}, headers={"X-Forwarded-For": "203.0.113.7"})
    assert client.post("/", data={"code": "ABCD-2345"},
                       headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 429
    assert client.post("/", data={"code": "ABCD-2345"},
                       headers={"X-Forwarded-For": "203.0.113.8"}).status_code == 404


def test_a_short_code_expires_after_its_lifetime_but_the_link_does_not(app, client,
                                                                       make_treatment):
    from datetime import datetime, timedelta, timezone

    from companion.models import Treatment
    treatment_id, token, code = make_treatment()
    assert client.post("/", data={"code": code}).status_code == 303
    with app.app_context():
        t = db.session.get(Treatment, treatment_id)
        t.created_at = datetime.now(timezone.utc) - timedelta(days=app.config["SHORT_CODE_DAYS"],
                                                               minutes=1)
        db.session.commit()
    expired = client.post("/", data={"code": code})
    assert expired.status_code == 404  # reads like a wrong code: nothing to learn from it
    assert "could not find a plan with that code" in expired.get_data(as_text=True)
    assert client.get(f"/s/{token}").status_code == 200
