"""Manifests and the service worker script."""
import re

from companion import pwa


def test_session_manifest_opens_that_session(client, make_treatment):
    _, token, _ = make_treatment()
    response = client.get(f"/s/{token}/manifest.webmanifest")
    assert response.status_code == 200
    assert response.mimetype == "application/manifest+json"
    manifest = response.get_json(force=True)
    assert manifest["start_url"] == f"/s/{token}?app=1"
    assert manifest["id"] == f"/s/{token}"
    assert manifest["display"] == "standalone"
    sizes = {(i["sizes"], i.get("purpose", "any")) for i in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        with client.get(icon["src"]) as image:
            assert image.status_code == 200 and image.mimetype == "image/png"


def test_start_page_manifest(client):
    manifest = client.get("/manifest.webmanifest").get_json(force=True)
    assert manifest["start_url"] == "/" and manifest["theme_color"]


def test_service_worker_is_versioned_and_lists_a_reachable_shell(app, client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    source = response.get_data(as_text=True)
    with app.test_request_context():
        version = pwa.app_version()
    assert f'const VERSION = "{version}"' in source
    shell = re.search(r"const SHELL = (\[.*?\]);", source).group(1)
    urls = re.findall(r'"([^"]+)"', shell)
    assert "/" in urls and any(u.startswith("/static/js/app.js?v=") for u in urls)
    for url in urls:
        with client.get(url) as part:
            assert part.status_code == 200, url


def test_version_changes_when_a_static_file_does(app):
    with app.test_request_context():
        before = pwa.app_version()
        app.extensions["companion.fingerprints"]["css/app.css"] = "changed"
        assert pwa.app_version() != before


def test_pages_carry_ios_and_install_tags(client):
    html = client.get("/").get_data(as_text=True)
    for needle in ('rel="manifest"', 'rel="apple-touch-icon"', "apple-mobile-web-app-capable",
                   'name="theme-color"', 'name="viewport"'):
        assert needle in html


def test_opening_the_installed_app_tells_the_clinic(app, client, make_treatment):
    from companion.extensions import db
    from companion.models import Treatment

    treatment_id, token, _ = make_treatment()
    client.get(f"/s/{token}")
    with app.app_context():
        assert db.session.get(Treatment, treatment_id).installed_at is None
    client.get(f"/s/{token}?app=1")
    with app.app_context():
        assert db.session.get(Treatment, treatment_id).installed_at is not None
