"""`GET /` and `/static/...`: the page for teammates, plain files with no build step.

The page is public (it must load before it can ask for a token) and only ever talks to /v1,
which keeps every guard it has. Its Content-Security-Policy allows nothing but this server:
no inline script or style, nothing from another site, so the page works on a box offline.
"""

from __future__ import annotations

from flask import Blueprint, Response

web = Blueprint("web", __name__, static_folder="static", static_url_path="/static")

_HEADERS = {
    "Content-Security-Policy": "default-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # no other site may frame the page and steer its buttons
    "Referrer-Policy": "no-referrer",
}


@web.get("/")
def index() -> Response:
    return web.send_static_file("index.html")


@web.after_request
def page_headers(response: Response) -> Response:
    response.headers.update(_HEADERS)
    return response
