"""The client's pages: finding a plan, the plan itself, friendly refusals."""
import gzip
import re
from datetime import datetime, timezone

import pytest

from companion import treatments
from companion.extensions import db
from companion.models import Treatment


def revoke(app, treatment_id):
    with app.app_context():
        db.session.get(Treatment, treatment_id).revoked_at = datetime.now(timezone.utc)
        db.session.commit()


def test_home_offers_the_short_code_form(client):
    page = client.get("/")
    assert page.status_code == 200
    assert b'name="code"' in page.data and b"Open my plan" in page.data


@pytest.mark.parametrize("typed", ["{code}", "{lower}", "{dashed}", " {spaced} ", "{confusable}"])
def test_short_code_as_typed_opens_the_plan(client, make_treatment, typed):
    _, token, code = make_treatment()
    confusable = code.replace("0", "O").replace("1", "l")
    text = typed.format(code=code, lower=code.lower(), dashed=f"{code[:4]}-{code[4:]}",
                        spaced=f"{code[:4]} {code[4:]}".lower(), confusable=confusable)
    response = client.post("/", data={"code": text})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/s/{token}"


@pytest.mark.parametrize("text, status, message", [
    ("", 400, b"8 letters and numbers"),
    ("ABC", 400, b"8 letters and numbers"),
    ("ABCD-EFGH-IJKL", 400, b"8 letters and numbers"),
    ("<script>", 400, b"8 letters and numbers"),
    ("ZZZZ-ZZZZ", 404, b"could not find a plan"),
])
def test_bad_short_codes_are_refused_clearly(client, make_treatment, text, status, message):
    make_treatment()
    response = client.post("/", data={"code": text})
    assert response.status_code == status
    assert message in response.data
    assert b"<script>" not in response.data  # echoed back escaped


def test_withdrawn_code_says_so(app, client, make_treatment):
    treatment_id, _, code = make_treatment()
    revoke(app, treatment_id)
    response = client.post("/", data={"code": code})
    assert response.status_code == 410
    assert b"withdrawn" in response.data


def test_oversized_form_is_refused_not_crashed(client):
    response = client.post("/", data={"code": "A" * 100_000})
    assert response.status_code == 413
    assert b"too large" in response.data


def test_plan_page_shows_the_day_and_what_to_do(client, make_treatment):
    _, token, _ = make_treatment(client_name="Noor", series_index=1, series_total=3,
                                 note="Drink water.")
    page = client.get(f"/s/{token}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Hi Noor" in html
    assert re.search(r"Day [01] after your treatment", html)
    assert "Today's care" in html and 'type="checkbox"' in html
    assert 'href="tel:+442079460123"' in html
    assert "Session 2 of 3" in html
    assert "Drink water." in html
    assert f'href="/s/{token}/manifest.webmanifest"' in html


def test_token_pages_leak_nothing(client, make_treatment):
    _, token, _ = make_treatment()
    for path in (f"/s/{token}", f"/s/{token}/manifest.webmanifest"):
        response = client.get(path)
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "private" in response.headers["Cache-Control"]
        assert "noindex" in response.headers["X-Robots-Tag"]


def test_plan_page_notes_first_and_last_visit(app, client, make_treatment):
    treatment_id, token, _ = make_treatment()
    client.get(f"/s/{token}")
    with app.app_context():
        t = db.session.get(Treatment, treatment_id)
        assert t.first_opened_at is not None and t.last_seen_at is not None


@pytest.mark.parametrize("path", [
    "/s/" + "A" * 32,                 # well-formed, unknown
    "/s/short",                       # malformed
    "/s/" + "A" * 32 + "/manifest.webmanifest",
    "/nothing-here",
])
def test_unknown_links_get_a_friendly_404(client, make_treatment, path):
    make_treatment()
    response = client.get(path)
    assert response.status_code == 404
    assert b"We could not find this plan" in response.data
    assert b'href="/"' in response.data
    assert b"Traceback" not in response.data


def test_revoked_link_explains_itself(app, client, make_treatment):
    treatment_id, token, _ = make_treatment()
    revoke(app, treatment_id)
    response = client.get(f"/s/{token}")
    assert response.status_code == 410
    assert b"withdrawn" in response.data


def test_page_weight_stays_small(client, make_treatment):
    """HTML, CSS and JS of the Today page together, compressed, under 50 KB."""
    _, token, _ = make_treatment(note="A note " * 20)
    html = client.get(f"/s/{token}").data
    total = len(gzip.compress(html))
    for asset in re.findall(rb'(?:href|src)="(/static/[^"]+\.(?:css|js)\?v=\w+)"', html):
        with client.get(asset.decode()) as response:
            assert response.status_code == 200
            total += len(gzip.compress(response.data))
    assert total < 50 * 1024, f"{total} bytes compressed"


def test_no_external_requests_in_pages(client, make_treatment):
    _, token, _ = make_treatment()
    for path in ("/", f"/s/{token}"):
        html = client.get(path).get_data(as_text=True)
        assert not re.search(r'(?:src|href)="(?:https?:)?//', html.replace(
            'href="https://example.com', ""))


def test_unexpected_errors_are_plain_pages(app):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret detail")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert b"Something went wrong" in response.data
    assert b"secret detail" not in response.data and b"Traceback" not in response.data


def test_short_code_format_round_trips():
    code = treatments.new_short_code()
    assert len(code) == 8
    assert treatments.normalise_short_code(treatments.format_short_code(code).lower()) == code


def test_next_tab_lists_earlier_sessions_and_offers_the_calendar(app, client, make_clinic, make_treatment):
    from companion import treatments as service
    from companion.models import Clinic

    clinic_id = make_clinic()
    first_id, token, _ = make_treatment(clinic_id, hours_ago=24 * 29, series_total=3)
    with app.app_context():
        service.create(db.session.get(Clinic, clinic_id), client_name="Ana", series_index=2,
                       series_total=3, treated_at=datetime.now(timezone.utc), previous_id=first_id)
    html = client.get(f"/s/{token}").get_data(as_text=True)
    assert "Day 0 after your treatment" in html and "Session 3 of 3" in html
    assert "Your earlier sessions" in html and "Session 1:" in html
    assert f'href="/s/{token}/calendar.ics"' in html
