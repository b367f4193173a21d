"""The Sketchify backend's HTTP API, as the extension uses it: submit, poll, fetch, cancel.
Every failure becomes one ``inkex.AbortExtension`` sentence a user can act on."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings

import inkex

# install.py puts requests here when Inkscape's own Python lacks it.
_VENDOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sketchify_vendor")
if os.path.isdir(_VENDOR) and _VENDOR not in sys.path:
    sys.path.append(_VENDOR)

try:
    # A version-mismatch warning from requests would pop up in Inkscape as an error.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import requests
except ImportError:  # pragma: no cover - depends on the user's Inkscape
    requests = None

REQUEST_TIMEOUT = (5.0, 60.0)  # connect, read (seconds) for one HTTP call
CANCEL_TIMEOUT = 2.0  # best-effort cancels run after the progress window has closed
FINISHED = ("done", "failed", "canceled")


class Backend:
    def __init__(self, url: str, token: str = "") -> None:
        if requests is None:
            raise inkex.AbortExtension(
                "The Python package 'requests' is missing from Inkscape's Python: "
                "run `python install.py` from the Sketchify folder to add it."
            )
        self.url = url.strip().rstrip("/")
        self.session = requests.Session()
        if token.strip():
            self.session.headers["Authorization"] = f"Bearer {token.strip()}"

    def submit(self, data: bytes, filename: str, fields: dict[str, str]) -> dict:
        response = self._call(
            "POST", "/v1/sketches", files={"image": (filename, data)}, data=fields
        )
        return self._json(response)

    def job(self, job_id: str) -> dict:
        return self._json(self._call("GET", f"/v1/sketches/{job_id}"))

    def svg(self, job_id: str, count: int) -> bytes:
        """The SVG as bytes: XML declares its own encoding, so no charset guessing."""
        response = self._call("GET", f"/v1/sketches/{job_id}/svg", params={"strokes": count})
        return response.content

    def cancel(self, job_id: str) -> None:
        """Best effort: the job may have finished, or the backend gone, in the meantime."""
        with contextlib.suppress(requests.RequestException):
            self.session.delete(f"{self.url}/v1/sketches/{job_id}", timeout=CANCEL_TIMEOUT)

    def close(self) -> None:
        self.session.close()

    def _call(self, method: str, path: str, **kwargs) -> requests.Response:
        url = self.url + path
        try:
            response = self.session.request(method, url, timeout=REQUEST_TIMEOUT, **kwargs)
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema):
            raise inkex.AbortExtension(
                f"The backend URL {self.url!r} is not valid; it looks like "
                "http://127.0.0.1:8765 (Backend tab)."
            ) from None
        except requests.exceptions.Timeout:
            raise inkex.AbortExtension(
                f"The Sketchify backend at {self.url} did not answer within "
                f"{REQUEST_TIMEOUT[1]:.0f} s."
            ) from None
        except requests.exceptions.ConnectionError:
            raise inkex.AbortExtension(
                f"Cannot reach the Sketchify backend at {self.url}. Start it on this computer "
                "with `sketchify serve`, or fix the URL in the Backend tab."
            ) from None
        if response.status_code == 401:
            raise inkex.AbortExtension(
                f"The Sketchify backend at {self.url} refused the token (HTTP 401): enter the "
                "token it was started with in the Backend tab."
            )
        if response.status_code >= 400:
            kind = "failed" if response.status_code >= 500 else "refused the request"
            raise inkex.AbortExtension(
                f"The Sketchify backend {kind} (HTTP {response.status_code}): "
                f"{_error_sentence(response)}"
            )
        return response

    def _json(self, response: requests.Response) -> dict:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "id" not in body:
            raise inkex.AbortExtension(
                f"The server at {self.url} does not answer like a Sketchify backend."
            )
        return body


def _error_sentence(response: requests.Response) -> str:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if error:
        return str(error)
    text = response.text.strip().splitlines()
    return text[0][:200] if text else response.reason or "no details given."
