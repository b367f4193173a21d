"""The page at `/` and its static files, through Flask's test client: public on a token server,
sent with a strict Content-Security-Policy, and made only of files from this server."""

from __future__ import annotations

import re
from pathlib import Path

import lxml.html
import pytest

from sketchify.backend import limits
from sketchify.core.output.plot_settings import MAX_PEN_MM, MIN_PEN_MM

pytest_plugins = ["backend_fixtures", "web_fixtures"]
TOKEN = "web-page-token"
STATIC = Path(__file__).parents[2] / "backend" / "web" / "static"
CSP = "default-src 'self'"


@pytest.fixture
def make_client(make_app):
    return lambda **config: make_app(**config).test_client()


def page_references() -> list[str]:
    root = lxml.html.fromstring((STATIC / "index.html").read_bytes())
    return [value for element in root.iter() for name, value in element.attrib.items()
            if name in ("src", "href")]


def test_page_and_static_files_are_public_on_a_token_server(make_client):
    client = make_client(TOKEN=TOKEN)
    for path in ["/", *page_references()]:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.get_data(as_text=True))
            assert response.headers["Content-Security-Policy"] == CSP
            assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/").mimetype == "text/html"
    assert client.get("/static/app.js").mimetype in ("text/javascript", "application/javascript")
    assert client.get("/static/style.css").mimetype == "text/css"
    # The page opens no door: /v1 still wants the token, unknown paths too.
    assert client.get("/v1/health").status_code == 401
    assert client.get("/v1/sketches").status_code == 401
    assert client.get("/secrets").status_code == 401


def test_page_keeps_the_host_and_origin_guards(make_client):
    client = make_client()
    assert client.get("/").status_code == 200
    assert client.get("/", headers={"Host": "rebinding.example"}).status_code == 403
    assert client.get("/static/app.js",
                      headers={"Origin": "https://evil.example"}).status_code == 403


def test_missing_static_file_is_a_json_404(make_client):
    response = make_client(TOKEN=TOKEN).get("/static/nope.js")
    assert response.status_code == 404 and response.get_json()["error"]


def test_page_has_no_inline_script_style_or_handler():
    root = lxml.html.fromstring((STATIC / "index.html").read_bytes())
    scripts = root.findall(".//script")
    assert scripts and all(s.get("src") and not (s.text or "").strip() for s in scripts)
    assert root.findall(".//style") == []
    for element in root.iter():
        assert "style" not in element.attrib, element.tag
        assert not [name for name in element.attrib if name.startswith("on")], element.tag


def test_page_loads_nothing_from_another_site():
    assert all(ref.startswith("/static/") for ref in page_references())
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        # The SVG namespace is a name, never fetched; any other absolute URL would be.
        urls = set(re.findall(r"\w+://[^\s\"')]+", text)) - {"http://www.w3.org/2000/svg"}
        assert urls == set(), path.name
        assert "url(" not in text and "@import" not in text, path.name


def test_every_labelled_control_has_a_label():
    root = lxml.html.fromstring((STATIC / "index.html").read_bytes())
    labelled = {label.get("for") for label in root.iter("label")}
    for control in root.iter("input", "select"):
        inside_label = any(parent.tag == "label" for parent in control.iterancestors())
        in_template = any(parent.tag == "template" for parent in control.iterancestors())
        # Template controls get their label's `for` (or an enclosing label) when cloned.
        assert inside_label or in_template or control.get("id") in labelled, control.attrib


def test_the_forms_limits_are_the_validators_own():
    root = lxml.html.fromstring((STATIC / "index.html").read_bytes())
    control = {element.get("id"): element for element in root.iter("input")}

    def bounds(name: str) -> tuple[float | None, float | None]:
        return tuple(None if control[name].get(end) is None else float(control[name].get(end))
                     for end in ("min", "max"))

    assert bounds("steps") == (1, limits.MAX_STEPS)
    assert bounds("seeds") == (1, limits.MAX_SEEDS)
    assert int(control["prompt"].get("maxlength")) == limits.MAX_PROMPT
    assert bounds("pen") == (MIN_PEN_MM, MAX_PEN_MM)
