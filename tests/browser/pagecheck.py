"""Shared checks for the card tests: a clipped screenshot of one card, a page under a CSP."""
from pathlib import Path


def clip_screenshot(page, locator, path):
    """The element as laid out on the page (an element screenshot would scroll it under the
    sticky header); returns its box."""
    page.evaluate("window.scrollTo(0, 0)")
    box = locator.evaluate("el => { const r = el.getBoundingClientRect();"
                           " return {x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height}; }")
    page.screenshot(path=Path(path), full_page=True, clip=box)
    return box


def serve_with_policy(page, url, policy):
    """Serve `url` with this Content-Security-Policy; returns the list violations land in."""
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.add_init_script("document.addEventListener('securitypolicyviolation',"
                         " e => console.error('Content Security Policy: ' + e.violatedDirective))")

    def with_policy(route):
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": policy})
    page.route(url, with_policy)
    return violations
