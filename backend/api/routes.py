"""The /v1 HTTP API. Views only validate, store, read state or flag a cancel: never wait on
the engine. The service state lives in ``current_app.extensions["sketchify"]`` (a Service).

Status codes (every error body is ``{"error": "<one sentence>", "field": name|null}``):
- POST /v1/sketches: 202 + Location for a new job; 200 with the same job when an
  Idempotency-Key (scoped to this server, hence to its token) is reused with the same body;
  422 (field "Idempotency-Key") when it is reused with a different body; 422 for a bad or
  unknown field; 415 for a body that is neither multipart nor JSON, or an image that is not an
  accepted format; 422 for a broken, empty or too large (pixels) image; 413 over the body limit;
  507 while the data folder's disk is (nearly) full.
- GET /v1/sketches/<id>: 200, or 404.
- GET /v1/sketches/<id>/svg?strokes=N[&preview=1]: 200 image/svg+xml; 404 for a count the job
  does not have; 422 for a missing or non-numeric count (it may be left out when the job has
  one); 409 while there is nothing to show (queued, failed, or running/canceled without
  preview=1 or before the first progress report).
- GET /v1/sketches/<id>/plot?strokes=N: 200 image/svg+xml, the plot-ready SVG made from the
  stored one with the job's `plot`; 404 for a job that asked none or a count it lacks; 422 as
  for /svg; 409 until the job is done (or when its strokes cannot be plotted).
- GET /v1/sketches?status=&limit=&cursor=: 200 {items (newest first, each as GET
  /v1/sketches/<id>), next_cursor (null on the last page)}; 422 for a bad status, limit or
  cursor, or an unknown parameter.
- GET /v1/sketches/<id>/zip: 200 application/zip of every SVG as `<photo stem>.<count>.svg`;
  409 until the job is done.
- GET /v1/sketches/<id>/image: 200, the photo exactly as submitted.
- DELETE /v1/sketches/<id>: 200 + canceled job when it was queued (it never runs) or already
  canceled (so retries are harmless); 202 while a running job is asked to stop at the engine's
  next step; 409 when it already finished (done or failed).
- 401 + WWW-Authenticate: Bearer without the right token; 403 for a foreign Origin, or a
  non-loopback Host on a loopback server; 404/405 JSON for unknown routes and methods.
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request, send_file, url_for

from sketchify.backend import joblog, limits
from sketchify.backend.api import downloads, listing
from sketchify.backend.api.errors import ApiError
from sketchify.backend.api.estimates import QueueSnapshot, default_step_costs, estimate_fields
from sketchify.backend.api.validation import parse_submission
from sketchify.backend.service import Service
from sketchify.backend.storage.jobs import (
    CANCELED,
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    IdempotencyConflict,
    Job,
)
from sketchify.core.errors import InputError
from sketchify.core.given.strokes import summary as start_summary
from sketchify.core.timing.durations import about

v1 = Blueprint("v1", __name__, url_prefix="/v1")
_JOB_ID = re.compile(r"[0-9a-f]{32}")
PREVIEW_VALUES = ("0", "1", "true", "false", "yes", "no")  # of GET .../svg?preview=
# Visible ASCII, as a header value should be.
_KEY = re.compile(rf"[\x21-\x7e]{{1,{limits.MAX_IDEMPOTENCY_KEY}}}")


def _service() -> Service:
    return current_app.extensions["sketchify"]


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="microseconds")


def _queue() -> QueueSnapshot:
    """One reading of the queue per request, however many jobs it shows."""
    if "sketchify_queue" not in g:
        service = _service()
        g.sketchify_queue = QueueSnapshot(service.store, service.executor.step_costs())
    return g.sketchify_queue


def _job_json(job: Job) -> dict[str, Any]:
    fraction = job.step / job.total if job.total else 0.0
    links: dict[str, Any] = {"self": url_for("v1.job", job_id=job.id)}
    if job.status == DONE:
        links["svg"] = {str(n): url_for("v1.svg", job_id=job.id, strokes=n) for n in job.strokes}
        if job.params.get("plot"):
            links["plot"] = {str(n): url_for("v1.plot", job_id=job.id, strokes=n)
                             for n in job.strokes}
    elif job.has_preview:
        links["preview"] = {
            str(n): url_for("v1.svg", job_id=job.id, strokes=n, preview=1) for n in job.strokes
        }
    return {
        "id": job.id,
        "status": job.status,
        "filename": job.filename,
        "strokes": job.strokes,
        # A job stored before `precision` was a field ran `auto`; one without `plot` asked
        # none; the given strokes show as their summary.
        "params": {"precision": "auto", "plot": None,
                   **{k: v for k, v in job.params.items() if k != "strokes"},
                   "start": start_summary(job.params.get("start"))},
        "queue_position": _queue().position(job),
        "progress": {
            "step": job.step, "total": job.total, "fraction": round(fraction, 4),
            "eta_s": job.eta_s, "eta_text": about(job.eta_s),
        },
        **estimate_fields(_queue().seconds(job)),
        "cancel_requested": job.cancel_requested,
        "attempts": job.attempts,
        "resolved_preset": job.resolved_preset,
        "device": job.device,
        "worker": job.worker,
        "error": job.error,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "links": links,
    }


def _job_response(job: Job, status: int) -> Response:
    response = jsonify(_job_json(job))
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _find(job_id: str) -> Job:
    job = _service().store.get(job_id) if _JOB_ID.fullmatch(job_id) else None
    if job is None:
        raise _not_found(job_id)
    return job


def _not_found(job_id: str) -> ApiError:
    return ApiError(404, f"No sketch job {job_id!r}.", None)


@v1.post("/sketches")
def submit() -> Response:
    service = _service()
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _KEY.fullmatch(key):
        raise ApiError(422, f"Idempotency-Key must be 1-{limits.MAX_IDEMPOTENCY_KEY} visible ASCII "
                            "characters.",
                       "Idempotency-Key")
    submission = parse_submission(
        request, max_pixels=service.max_pixels, formats=service.formats,
        mask_problem=service.mask_problem,
    )
    try:
        job, created = service.store.by_key(key, submission.fingerprint), False
        if job is None:
            # Only new work is refused (e.g. broker down): a retried request gets its job back.
            service.executor.check_accepting()
            job, created = service.store.add(
                submission.params, submission.image,
                idempotency_key=key, fingerprint=submission.fingerprint,
                filename=submission.filename,
                mask_image=submission.mask_image,
            )
    except IdempotencyConflict:
        raise ApiError(422, "This Idempotency-Key was already used for a different request.",
                       "Idempotency-Key") from None
    if created:
        joblog.received(job)
        service.executor.submit(job)
    response = _job_response(job, 202 if created else 200)
    response.headers["Location"] = url_for("v1.job", job_id=job.id)
    return response


@v1.get("/sketches")
def jobs() -> Response:
    query = listing.parse_query(request.args)
    # One job more than asked tells whether another page follows.
    found = _service().store.recent(
        statuses=query.statuses, limit=query.limit + 1, before_seq=query.before_seq
    )
    page = found[: query.limit]
    more = len(found) > query.limit
    response = jsonify({
        "items": [_job_json(job) for job in page],
        "next_cursor": listing.encode_cursor(page[-1].seq) if more else None,
    })
    response.headers["Cache-Control"] = "no-store"
    return response


@v1.get("/sketches/<job_id>")
def job(job_id: str) -> Response:
    return _job_response(_find(job_id), 200)


@v1.delete("/sketches/<job_id>")
def cancel(job_id: str) -> Response:
    service = _service()
    before = _find(job_id)
    job = service.store.cancel(job_id)
    if job is None:  # purged between the lookup and the cancel
        raise _not_found(job_id)
    if job.status == RUNNING:
        service.executor.cancel(job_id)
        return _job_response(job, 202)  # cooperative: it stops at the engine's next step
    if job.status in (DONE, FAILED):
        raise ApiError(409, f"The job already finished ({job.status}); nothing to cancel.", None)
    if before.status == QUEUED:
        joblog.ended(job)
    return _job_response(job, 200)


_NOT_READY = {
    QUEUED: "The job is still queued.",
    RUNNING: "The job is still running; add preview=1 for the best strokes so far.",
    FAILED: "The job failed, so it has no SVG.",
    CANCELED: "The job was canceled before it finished; add preview=1 for its last strokes.",
}


def _count(job: Job) -> int:
    """The stroke count the query asks for (``strokes``, which a one-count job may leave out)."""
    raw = request.args.get("strokes")
    if raw is None and len(job.strokes) == 1:
        return job.strokes[0]
    # ASCII only: str.isdigit() is also true for "²", which int() refuses; and never more
    # digits than a count has (int() refuses over 4300).
    if raw is None or not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise ApiError(422, f"strokes must be one of {job.strokes}.", "strokes")
    count = int(raw)
    if count not in job.strokes:
        raise ApiError(404, f"This job has no {count}-stroke sketch (it has {job.strokes}).",
                       "strokes")
    return count


@v1.get("/sketches/<job_id>/svg")
def svg(job_id: str) -> Response:
    job = _find(job_id)
    count = _count(job)
    flag = request.args.get("preview", "0")
    if flag not in PREVIEW_VALUES:  # `preview=maybe` must not quietly mean "no"
        raise ApiError(422, "preview must be 1 or 0 (or true/false, yes/no).", "preview")
    preview = flag in ("1", "true", "yes")
    if job.status != DONE and not (preview and job.has_preview):
        message = _NOT_READY[job.status]
        if preview and job.status == RUNNING:
            message = "The job has no preview yet; try again in a moment."
        raise ApiError(409, message, None)
    path = _service().store.svg_path(job.id, count, preview=job.status != DONE)
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        raise ApiError(404, "The SVG is gone (the job was removed).", None) from None
    response = Response(body, mimetype="image/svg+xml")
    if job.status != DONE:
        response.headers["Cache-Control"] = "no-store"
    return response


@v1.get("/sketches/<job_id>/plot")
def plot(job_id: str) -> Response:
    """The plot-ready SVG, made here from the stored one: the job ran as any other."""
    job = _find(job_id)
    count = _count(job)
    settings = job.params.get("plot")
    if not settings:
        raise ApiError(404, "This job asked for no plot-ready SVG (submit it with plot).", None)
    if job.status != DONE:
        raise ApiError(409, f"The job is {job.status}; its plot-ready SVG comes once it is "
                            "done.", None)
    try:
        body = _service().store.svg_path(job.id, count).read_bytes()
    except FileNotFoundError:
        raise ApiError(404, "The SVG is gone (the job was removed).", None) from None
    try:
        plotted = _service().plots.plotted(job.id, count, body, settings)
    except InputError as error:  # a stored stroke the plot cannot read
        raise ApiError(409, f"This sketch cannot be made plot-ready: {error}.", None) from None
    return Response(plotted, mimetype="image/svg+xml")


@v1.get("/sketches/<job_id>/zip")
def zip_file(job_id: str) -> Response:
    job = _find(job_id)
    if job.status in (QUEUED, RUNNING):
        raise ApiError(409, f"The job is still {job.status}; its zip is ready once it is done.",
                       None)
    if job.status != DONE:
        ended = "failed" if job.status == FAILED else "was canceled"
        raise ApiError(409, f"The job {ended}, so it has no zip.", None)
    try:
        body = downloads.svgs_zip(_service().store, job)
    except FileNotFoundError:
        raise ApiError(404, "The SVGs are gone (the job was removed).", None) from None
    return send_file(io.BytesIO(body), mimetype="application/zip", as_attachment=True,
                     download_name=downloads.zip_name(job))


@v1.get("/sketches/<job_id>/image")
def image(job_id: str) -> Response:
    job = _find(job_id)
    try:
        body = _service().store.read_input(job.id)
    except FileNotFoundError:
        raise ApiError(404, "The photo is gone (the job was removed).", None) from None
    response = Response(body, mimetype=downloads.image_mimetype(body))
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@v1.get("/health")
def health() -> Response:
    service = _service()
    costs = service.executor.step_costs()
    return jsonify({
        "status": "ok",
        "version": service.version,
        **service.executor.describe(),
        "queue_length": service.store.count(QUEUED),
        "step_cost": default_step_costs(costs),
        "step_cost_by_precision": costs,
        "disk": {"free_bytes": service.store.space.free_bytes(),
                 "accepting": service.store.space.accepting()},
        "limits": {
            "max_upload_bytes": current_app.config["MAX_CONTENT_LENGTH"],
            "max_pixels": service.max_pixels,
            "formats": list(service.formats),
        },
    })
