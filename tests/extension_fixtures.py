"""A stand-in for the Sketchify backend at the HTTP level, for the extension's unit tests:
a real HTTP server on 127.0.0.1 that speaks the agreed contract and answers with realistic
sketch SVGs (random cubic strokes inside the uploaded image, in its pixel coordinates)."""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import random
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from PIL import Image


@dataclass
class Behaviour:
    """What the stand-in does; tests change it between runs."""

    polls_until_done: int = 1  # GET /v1/sketches/<id> answers "running" this many times
    submit_status: int = 202
    submit_error: str = ""
    job_error: str = ""  # the job ends "failed" with this message
    never_finishes: bool = False
    token: str = ""


@dataclass
class Job:
    id: str
    size: tuple[int, int]
    strokes: list[int]
    fields: dict[str, str]
    image: bytes
    polls: int = 0
    canceled: bool = False
    svgs: dict[int, str] = field(default_factory=dict)


def xvfb_run() -> list[str]:
    """`xvfb-run` on a display number of its own: `-a` alone starts at :99 for everyone, and
    two test runs starting X servers at the same moment can race for the same number."""
    return ["xvfb-run", "-a", "-n", str(random.SystemRandom().randint(100, 30000)),
            "-s", "-screen 0 1280x1024x24"]


def sketch_svg(width: int, height: int, count: int, seed: int) -> str:
    """What the real backend returns: absolute cubic paths in image pixels."""
    rng = random.Random(seed)
    side = max(width, height)
    paths = []
    for _ in range(count):
        points = [(rng.uniform(0, width), rng.uniform(0, height)) for _ in range(4)]
        (x0, y0), *rest = points
        curve = " ".join(f"{x:.3f} {y:.3f}" for x, y in rest)
        paths.append(f'<path d="M {x0:.3f} {y0:.3f} C {curve}" />')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">'
        f'<g fill="none" stroke="#000" stroke-linecap="round" stroke-linejoin="round" '
        f'stroke-width="{3.0 * side / 224:.4f}">' + "".join(paths) + "</g></svg>"
    )


class StandInBackend:
    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.jobs: dict[str, Job] = {}
        self.requests: list[tuple[str, str]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        self.behaviour = Behaviour()
        self.jobs.clear()
        self.requests.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def job_json(self, job: Job) -> dict:
        behaviour = self.behaviour
        if job.canceled:
            status = "canceled"
        elif behaviour.never_finishes or job.polls <= behaviour.polls_until_done:
            status = "running" if job.polls else "queued"
        else:
            status = "failed" if behaviour.job_error else "done"
        total = 100
        step = min(total, 40 * job.polls)
        return {
            "id": job.id, "status": status, "strokes": job.strokes,
            "queue_position": 0 if job.polls else 1,
            "progress": {"step": step, "total": total, "fraction": step / total,
                         "eta_s": 3.0},
            "error": behaviour.job_error if status == "failed" else None,
            "created_at": "2026-01-01T00:00:00Z",
            "links": {"self": f"/v1/sketches/{job.id}",
                      "svg": {str(n): f"/v1/sketches/{job.id}/svg?strokes={n}"
                              for n in job.strokes}},
        }


def _handler(backend: StandInBackend):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def _send(self, status: int, body, content_type="application/json", headers=()):
            data = json.dumps(body).encode() if content_type == "application/json" else body
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            token = backend.behaviour.token
            if token and self.headers.get("Authorization") != f"Bearer {token}":
                self._send(401, {"error": "A valid bearer token is required.", "field": None})
                return False
            return True

        def do_POST(self):
            backend.requests.append(("POST", self.path))
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if not self._authorized():
                return
            behaviour = backend.behaviour
            if behaviour.submit_status != 202:
                self._send(behaviour.submit_status,
                           {"error": behaviour.submit_error, "field": "image"})
                return
            fields, image = _multipart(self.headers["Content-Type"], body)
            size = Image.open(io.BytesIO(image)).size
            strokes = [int(s) for s in fields["strokes"].split(",")]
            job = Job(uuid.uuid4().hex, size, strokes, fields, image)
            job.svgs = {n: sketch_svg(*size, n, seed=n) for n in strokes}
            backend.jobs[job.id] = job
            self._send(202, backend.job_json(job),
                       headers=[("Location", f"/v1/sketches/{job.id}")])

        def do_GET(self):
            backend.requests.append(("GET", self.path))
            if not self._authorized():
                return
            url = urlparse(self.path)
            if url.path == "/v1/health":
                self._send(200, {"status": "ok", "version": "stand-in",
                                 "devices": ["cpu", "cuda:0"]})
                return
            parts = url.path.strip("/").split("/")
            job = backend.jobs.get(parts[2]) if len(parts) >= 3 else None
            if job is None:
                self._send(404, {"error": "No such sketch job.", "field": None})
            elif len(parts) == 3:
                job.polls += 1
                self._send(200, backend.job_json(job))
            else:
                count = int(parse_qs(url.query)["strokes"][0])
                self._send(200, job.svgs[count].encode(), "image/svg+xml")

        def do_DELETE(self):
            backend.requests.append(("DELETE", self.path))
            job = backend.jobs.get(self.path.strip("/").split("/")[2])
            if job is not None:
                job.canceled = True
                self._send(200, backend.job_json(job))
            else:
                self._send(404, {"error": "No such sketch job.", "field": None})

    return Handler


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, str], bytes]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields, image = {}, b""
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name == "image":
            image = part.get_payload(decode=True)
        else:
            fields[name] = part.get_content().strip()
    return fields, image
