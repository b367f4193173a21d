"""A stand-in for the Sketchify backend at the HTTP level, for the extension's unit tests:
a real HTTP server on 127.0.0.1 that speaks the backend's API (docs/server.md: estimates,
`eta_text`, `mask_image`, `start` with the given strokes first, previews, provenance) and
answers with realistic sketch SVGs (random cubic strokes inside the uploaded image, in its
pixel coordinates)."""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import random
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from PIL import Image, ImageOps

from sketchify.core.errors import InputError
from sketchify.core.output.plot import plot_svg
from sketchify.core.output.plot_settings import from_json as plot_from_json
from sketchify.core.output.provenance import FORMAT
from sketchify.core.timing.durations import about  # the server's own wording

STEPS = 100  # the stand-in's jobs advance 40 steps per status poll


@dataclass
class Behaviour:
    """What the stand-in does; tests change it between runs. New jobs copy the per-job parts."""

    queued_polls: int = 0  # GET /v1/sketches/<id> answers "queued" this many times first,
    polls_until_done: int = 1  # then "running" this many times (from step 0, 40 a poll)
    submit_status: int = 202  # what submissions get once `accepted` of them were taken
    accepted: int = 0
    submit_error: str = ""
    job_error: str = ""  # the job ends "failed" with this message
    never_finishes: bool = False
    token: str = ""
    estimate_s: float | None = 12.0  # the whole job, from submission
    estimate_text: bool = True  # whether the server sends its own texts (0.1.0 did not)


@dataclass
class Job:
    id: str
    size: tuple[int, int]
    strokes: list[int]
    fields: dict[str, str]
    image: bytes
    queued_polls: int = 0
    polls_until_done: int = 1
    error: str = ""
    mask: bytes | None = None
    polls: int = 0
    canceled: bool = False
    svgs: dict[int, str] = field(default_factory=dict)


def xvfb_run() -> list[str]:
    """`xvfb-run` on a display number of its own: `-a` alone starts at :99 for everyone, and
    two test runs starting X servers at the same moment can race for the same number."""
    return ["xvfb-run", "-a", "-n", str(random.SystemRandom().randint(100, 30000)),
            "-s", "-screen 0 1280x1024x24"]


def sketch_svg(width: int, height: int, count: int, seed: int,
               start: list[dict] | None = None, settings: dict | None = None) -> str:
    """What the real backend returns: absolute cubic paths in image pixels, with provenance.
    The ``start`` strokes come first, in order: a locked one as given, a free one moved to a
    single cubic between its ends."""
    rng = random.Random(seed)
    side = max(width, height)
    paths = []
    for item in start or []:
        if item["locked"]:
            paths.append(f'<path d="{item["d"]}" />')
        else:
            values = [float(v) for v in re.findall(r"-?\d+(?:\.\d*)?(?:e-?\d+)?", item["d"])]
            (x0, y0), (x3, y3) = values[:2], values[-2:]
            paths.append(f'<path d="M {x0:.3f} {y0:.3f} C {x0 + 1:.3f} {y0 + 2:.3f} '
                         f'{x3 - 2:.3f} {y3 - 1:.3f} {x3:.3f} {y3:.3f}" />')
    for _ in range(count - len(paths)):
        points = [(rng.uniform(0, width), rng.uniform(0, height)) for _ in range(4)]
        (x0, y0), *rest = points
        curve = " ".join(f"{x:.3f} {y:.3f}" for x, y in rest)
        paths.append(f'<path d="M {x0:.3f} {y0:.3f} C {curve}" />')
    provenance = json.dumps({"format": FORMAT, "version": "stand-in", "preset": "draft",
                             "strokes": count, "seed": seed, **(settings or {})})
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">'
        f'<metadata id="sketchify">{provenance}</metadata>'
        f'<g fill="none" stroke="#000" stroke-linecap="round" stroke-linejoin="round" '
        f'stroke-width="{3.0 * side / 224:.4f}">' + "".join(paths) + "</g></svg>"
    )


class StandInBackend:
    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.jobs: dict[str, Job] = {}
        self.requests: list[tuple[str, str]] = []
        self.authorizations: list[str | None] = []  # the Authorization header of each request
        self._serve(0)

    def _serve(self, port: int) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self) -> None:
        self.behaviour = Behaviour()
        self.jobs.clear()
        self.requests.clear()
        self.authorizations.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def restart(self) -> None:
        """A new server process on the same port: the jobs survive, as on the real backend."""
        port = self.server.server_address[1]
        self.close()
        self._serve(port)

    def job_json(self, job: Job) -> dict:
        behaviour = self.behaviour
        running_polls = job.polls - job.queued_polls
        if job.canceled:
            status = "canceled"
        elif running_polls <= 0:
            status = "queued"
        elif behaviour.never_finishes or running_polls <= job.polls_until_done:
            status = "running"
        else:
            status = "failed" if job.error else "done"
        step = min(STEPS - 1, 40 * (running_polls - 1)) if status == "running" else 0
        finished = status in ("done", "failed", "canceled")
        estimate = behaviour.estimate_s
        if estimate is not None:
            estimate = None if finished else estimate * (1 - step / STEPS)
        eta = None if finished or not step else estimate
        body = {
            "id": job.id, "status": status, "strokes": job.strokes,
            "params": {"preset": job.fields.get("preset", "auto"),
                       "mask": "file" if job.mask else "none"},
            "resolved_preset": None if status == "queued" else "draft",
            "device": None if status == "queued" else "cpu",
            "queue_position": 1 if status == "queued" else 0,
            "progress": {"step": step, "total": STEPS, "fraction": step / STEPS,
                         "eta_s": eta},
            "estimate_s": estimate,
            "error": job.error if status == "failed" else None,
            "created_at": "2026-01-01T00:00:00Z",
            "links": {"self": f"/v1/sketches/{job.id}",
                      "svg": {str(n): f"/v1/sketches/{job.id}/svg?strokes={n}"
                              for n in job.strokes}},
        }
        if behaviour.estimate_text:
            body["estimate_text"] = about(estimate)
            body["progress"]["eta_text"] = about(eta)
        return body


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

        def _error(self, status: int, message: str, name: str | None = None) -> None:
            self._send(status, {"error": message, "field": name})

        def _log(self, method: str) -> bool:
            backend.requests.append((method, self.path))
            backend.authorizations.append(self.headers.get("Authorization"))
            token = backend.behaviour.token
            if token and self.headers.get("Authorization") != f"Bearer {token}":
                self._error(401, "A valid bearer token is required.")
                return False
            return True

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if not self._log("POST"):
                return
            behaviour = backend.behaviour
            if behaviour.submit_status != 202 and len(backend.jobs) >= behaviour.accepted:
                self._error(behaviour.submit_status, behaviour.submit_error, "image")
                return
            fields, files = _multipart(self.headers["Content-Type"], body)
            image = files["image"]
            size = ImageOps.exif_transpose(Image.open(io.BytesIO(image))).size
            mask = files.get("mask_image")
            problem = _mask_problem(fields, mask, size)
            if problem:
                self._error(422, *problem)
                return
            strokes = [int(s) for s in fields["strokes"].split(",")]
            start = json.loads(fields.get("start", "[]"))
            if any(set(item) != {"d", "locked"} for item in start) or len(start) > min(strokes):
                self._error(422, "start does not fit the contract.", "start")
                return
            try:  # the backend's own check of a new job's plot
                if "plot" in fields:
                    plot_from_json(json.loads(fields["plot"]))
            except (ValueError, InputError) as error:
                self._error(422, str(error), "plot")
                return
            job = Job(uuid.uuid4().hex, size, strokes, fields, image,
                      queued_polls=behaviour.queued_polls,
                      polls_until_done=behaviour.polls_until_done, error=behaviour.job_error,
                      mask=mask)
            settings = recorded_settings(fields, mask)
            job.svgs = {n: sketch_svg(*size, n, seed=n, start=start, settings=settings)
                        for n in strokes}
            backend.jobs[job.id] = job
            self._send(202, backend.job_json(job),
                       headers=[("Location", f"/v1/sketches/{job.id}")])

        def do_GET(self):
            if not self._log("GET"):
                return
            url = urlparse(self.path)
            if url.path == "/v1/health":
                self._send(200, {"status": "ok", "version": "stand-in",
                                 "devices": ["cpu", "cuda:0"]})
                return
            parts = url.path.strip("/").split("/")
            job = backend.jobs.get(parts[2]) if len(parts) >= 3 else None
            if job is None:
                self._error(404, "No such sketch job.")
                return
            if len(parts) == 3:
                job.polls += 1
                self._send(200, backend.job_json(job))
                return
            query = parse_qs(url.query)
            count = int(query["strokes"][0])
            status = backend.job_json(job)["status"]
            preview = query.get("preview") == ["1"] and status in ("running", "canceled")
            if count not in job.svgs:
                self._error(404, f"This job has no {count}-stroke sketch.", "strokes")
            elif status != "done" and not preview:
                self._error(409, f"The job is {status}.")
            elif parts[3] == "plot":  # made from the sketch by the backend's own code
                settings = plot_from_json(json.loads(job.fields["plot"]), stored=True)
                self._send(200, plot_svg(job.svgs[count], settings).svg.encode(), "image/svg+xml")
            else:
                self._send(200, job.svgs[count].encode(), "image/svg+xml")

        def do_DELETE(self):
            if not self._log("DELETE"):
                return
            job = backend.jobs.get(self.path.strip("/").split("/")[2])
            if job is not None:
                job.canceled = True
                self._send(200, backend.job_json(job))
            else:
                self._error(404, "No such sketch job.")

    return Handler


def recorded_settings(fields: dict[str, str], mask: bytes | None) -> dict:
    """The settings a real sketch's provenance records, from the fields sent."""
    return {"preset": fields.get("preset", "auto"), "first_seed": int(fields.get("seed", 0)),
            "seeds": int(fields.get("seeds", 1)), "steps": int(fields.get("steps", 150)),
            "mask": fields.get("mask") or ("file" if mask else "none"),
            "prompt": fields.get("prompt"), "width": float(fields.get("width", 3.0)),
            "precision": fields.get("precision", "fp32")}


def _mask_problem(fields: dict[str, str], mask: bytes | None,
                  size: tuple[int, int]) -> tuple[str, str] | None:
    """The contract's refusals of a mask image (422 naming the field), or None."""
    if mask is None:
        return None
    if fields.get("mask", "file") != "file":
        return "mask_image implies mask=file.", "mask"
    try:
        picture = Image.open(io.BytesIO(mask))
        picture.load()
    except OSError:
        return "mask_image is not an image.", "mask_image"
    if picture.size != size:
        return f"mask_image is {picture.size}, the image {size}.", "mask_image"
    if picture.convert("L").getextrema()[1] < 128:
        return "mask_image has no object pixel.", "mask_image"
    return None


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields, files = {}, {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_filename() is not None:
            files[name] = part.get_payload(decode=True)
        else:
            fields[name] = part.get_content().strip()
    return fields, files
