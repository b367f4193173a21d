"""The Sketchify backend's HTTP API, as the extension uses it: submit, poll, fetch, preview,
cancel. Every failure becomes one ``inkex.AbortExtension`` sentence a user can act on."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings

import inkex

# install.py puts requests beside the entry scripts (this package's parent folder) when
# Inkscape's own Python lacks it.
_VENDOR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "sketchify_vendor")
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
PREVIEW_TIMEOUT = 5.0  # a slow preview must not hold up the progress window
FINISHED = ("done", "failed", "canceled")


def normalized(url: str) -> str:
    """A backend URL as it is compared and recorded: no surrounding spaces or trailing /."""
    return url.strip().rstrip("/")


class Backend:
    def __init__(self, url: str, token: str = "") -> None:
        if requests is None:
            raise inkex.AbortExtension(
                "The Python package 'requests' is missing from Inkscape's Python: "
                "run `python install.py` from the Sketchify folder to add it."
            )
        self.url = normalized(url)
        self.session = requests.Session()
        if token.strip():
            self.session.headers["Authorization"] = f"Bearer {token.strip()}"

    def submit(self, data: bytes, filename: str, fields: dict[str, str],
               mask: bytes | None = None) -> dict:
        """A new job; ``mask`` is a PNG of the photo's size (white = the object)."""
        files = {"image": (filename, data)}
        if mask is not None:
            files["mask_image"] = ("mask.png", mask, "image/png")
        response = self._call("POST", "/v1/sketches", files=files, data=fields)
        return self._json(response)

    def job(self, job_id: str) -> dict:
        return self._json(self._call("GET", f"/v1/sketches/{job_id}"))

    def known_job(self, job_id: str) -> dict | None:
        """The job, or None once the backend no longer knows it (past its retention time)."""
        response = self._call("GET", f"/v1/sketches/{job_id}", missing_ok=True)
        return None if response is None else self._json(response)

    def check(self) -> None:
        """That a Sketchify backend answers here, before anything is concluded from a 404."""
        response = self._call("GET", "/v1/health", missing_ok=True)
        try:
            body = None if response is None else response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("status") != "ok":
            raise inkex.AbortExtension(
                f"The server at {self.url} does not answer like a Sketchify backend."
            )

    def svg(self, job_id: str, count: int, kind: str = "svg") -> bytes:
        """The SVG as bytes: XML declares its own encoding, so no charset guessing. ``kind``
        "plot": the plot-ready one."""
        response = self._call("GET", f"/v1/sketches/{job_id}/{kind}", params={"strokes": count})
        return response.content

    def svg_or_none(self, job_id: str, count: int, kind: str = "svg") -> bytes | None:
        """The SVG of a finished job, or None when the backend no longer has it."""
        response = self._call("GET", f"/v1/sketches/{job_id}/{kind}", params={"strokes": count},
                              missing_ok=True)
        return None if response is None else response.content

    def preview(self, job_id: str, count: int) -> bytes | None:
        """The best strokes so far, or None: a preview is a nicety and never an error."""
        try:
            response = self.session.get(
                f"{self.url}/v1/sketches/{job_id}/svg",
                params={"strokes": count, "preview": 1}, timeout=PREVIEW_TIMEOUT,
            )
        except requests.RequestException:
            return None
        return response.content if response.status_code == 200 else None

    def cancel(self, job_id: str) -> None:
        """Best effort: the job may have finished, or the backend gone, in the meantime."""
        with contextlib.suppress(requests.RequestException):
            self.session.delete(f"{self.url}/v1/sketches/{job_id}", timeout=CANCEL_TIMEOUT)

    def close(self) -> None:
        self.session.close()

    def _call(self, method: str, path: str, missing_ok: bool = False,
              **kwargs) -> requests.Response | None:
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
        if missing_ok and response.status_code == 404:
            return None
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
