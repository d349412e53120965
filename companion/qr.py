"""QR codes of client links (segno), as SVG for screens and PNG for downloads."""
import io

import segno

DARK = "#000000"


def _code(url):
    # Level M survives a scuffed printed card; a 60-character link still fits version 4.
    return segno.make(url, error="m", micro=False)


def svg(url, scale=8, title="QR code of the client's aftercare link"):
    buffer = io.BytesIO()
    # omitsize: a viewBox and no fixed width/height, so CSS sizes it on screen and on paper.
    _code(url).save(buffer, kind="svg", scale=scale, border=4, dark=DARK, light="#ffffff",
                    xmldecl=False, svgclass="qr", title=title, omitsize=True)
    return buffer.getvalue().decode()


def png(url, scale=10):
    buffer = io.BytesIO()
    _code(url).save(buffer, kind="png", scale=scale, border=4, dark=DARK, light="#ffffff")
    return buffer.getvalue()
