"""`GET /v1/openapi.json`: the service's contract as an OpenAPI 3.1 document.

Every limit in it is read from the constants and the running server's settings that the
validators use (limits.py, the listing's, the presets', the mask modes, the body and pixel
limits the server was started with), so the document cannot drift from what is enforced. It
holds no secret, so it is public like the web page; the Host and Origin checks still apply.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from sketchify.backend import limits
from sketchify.backend.api import listing
from sketchify.backend.api.downloads import format_mimetype
from sketchify.backend.api.routes import PREVIEW_VALUES
from sketchify.backend.api.schemas import ref, schemas, stroke_count, submission_bodies

docs = Blueprint("openapi", __name__, url_prefix="/v1")

_ERROR_CODES = {
    400: "The body is not a JSON object (malformed JSON, or JSON of another kind).",
    401: "No valid `Authorization: Bearer <token>` header (only on a server with a token).",
    403: "A foreign `Origin` header, or a Host name that is not loopback on a loopback "
         "server (DNS rebinding).",
    404: "No such job (or route), or no plot-ready SVG for a job that asked none; `field` "
         "names `strokes` for a stroke count the job lacks.",
    409: "The job is not in a state that has this (not done yet, failed, canceled, or "
         "already finished for a cancel).",
    413: "The request body is larger than the server's limit.",
    415: "The body is neither multipart/form-data nor JSON, or the image is not an accepted "
         "format.",
    422: "A field, query parameter or header is missing, unknown or out of range; `field` "
         "names it.",
    503: "The job queue (the Celery executor's Redis broker) is unreachable; retry later.",
    507: "The server's disk is (nearly) full; the message says how much is free and needed.",
}


def _errors(*codes: int) -> dict[str, Any]:
    """The error responses of an operation: the shared ones plus ``codes``."""
    responses = {}
    for code in sorted({401, 403, *codes}):
        response: dict[str, Any] = {
            "description": _ERROR_CODES[code],
            "content": {"application/json": {"schema": ref("Error")}},
        }
        if code == 401:
            response["headers"] = {"WWW-Authenticate": {
                "description": 'Always `Bearer realm="sketchify"`.',
                "schema": {"type": "string", "pattern": "^Bearer"},
            }}
        responses[str(code)] = response
    return responses


# Where a job's id leads: what clients (and a stateful fuzzer) do next with a job.
_JOB_LINKS = {
    name: {"operationId": operation, "parameters": {"id": "$response.body#/id"}}
    for name, operation in (("status", "getSketch"), ("cancel", "cancelSketch"),
                            ("svg", "getSketchSvg"), ("plot", "getSketchPlot"),
                            ("zip", "getSketchZip"),
                            ("image", "getSketchImage"))
}


def _job_response(description: str, *, location: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": ref("Job")}},
        "links": _JOB_LINKS,
    }
    if location:
        response["headers"] = {"Location": {"description": "The job's URL.", "required": True,
                                            "schema": {"type": "string"}}}
    return response


def _job_id() -> dict[str, Any]:
    return {"name": "id", "in": "path", "required": True, "description": "The job's id.",
            "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}


def _paths(max_upload_bytes: int, max_pixels: int, formats: tuple[str, ...]) -> dict[str, Any]:
    json_of = {"application/json": {"schema": {"type": "object"}}}
    photo_types = sorted({format_mimetype(kind) for kind in formats})
    return {
        "/v1/sketches": {
            "post": {
                "operationId": "submitSketch",
                "summary": "Submit a photo; the job runs in the background.",
                "parameters": [{
                    "name": "Idempotency-Key", "in": "header", "required": False,
                    "description": "Reused with the same body: 200 and the same job; with "
                                   "another body: 422.",
                    "schema": {"type": "string", "minLength": 1,
                               "maxLength": limits.MAX_IDEMPOTENCY_KEY,
                               "pattern": "^[\\x21-\\x7e]+$"},
                }],
                "requestBody": submission_bodies(max_upload_bytes, max_pixels, formats),
                "responses": {
                    "202": _job_response("A new job, queued.", location=True),
                    "200": _job_response("The job this Idempotency-Key made before.",
                                         location=True),
                    **_errors(400, 413, 415, 422, 503, 507),
                },
            },
            "get": {
                "operationId": "listSketches",
                "summary": "The jobs, newest first, a page at a time.",
                "parameters": [
                    {"name": "status", "in": "query", "required": False,
                     "description": "One or more of the statuses, comma-separated (default: "
                                    "all).",
                     "schema": {"type": "string",
                                "pattern": "^ *({0}) *(, *({0}) *)*$".format(
                                    "|".join(listing.STATUSES))}},
                    {"name": "limit", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": listing.MAX_LIMIT,
                                "default": listing.DEFAULT_LIMIT}},
                    {"name": "cursor", "in": "query", "required": False,
                     "description": "The last page's `next_cursor` (opaque).",
                     "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {"description": "One page.",
                            "content": {"application/json": {"schema": ref("JobList")}}},
                    **_errors(422),
                },
            },
        },
        "/v1/sketches/{id}": {
            "parameters": [_job_id()],
            "get": {
                "operationId": "getSketch",
                "summary": "A job's status, progress, estimate and links.",
                "responses": {"200": _job_response("The job."), **_errors(404)},
            },
            "delete": {
                "operationId": "cancelSketch",
                "summary": "Cancel a job.",
                "responses": {
                    "200": _job_response("Canceled: it was queued (it never runs) or already "
                                         "canceled."),
                    "202": _job_response("Running: it stops at the engine's next step."),
                    **_errors(404, 409),
                },
            },
        },
        "/v1/sketches/{id}/svg": {
            "parameters": [_job_id()],
            "get": {
                "operationId": "getSketchSvg",
                "summary": "One stroke count's SVG (or, with preview, the best so far).",
                "parameters": [
                    {"name": "strokes", "in": "query", "required": False,
                     "description": "One of the job's counts (may be left out when it has one).",
                     "schema": stroke_count()},
                    {"name": "preview", "in": "query", "required": False,
                     "description": "`1`: the best strokes so far of a running or canceled "
                                    "job.",
                     "schema": {"type": "string", "enum": list(PREVIEW_VALUES),
                                "default": "0"}},
                ],
                "responses": {
                    "200": {"description": "The SVG, one `<path>` per stroke.",
                            "content": {"image/svg+xml": {"schema": {"type": "string"}}}},
                    **_errors(404, 409, 422),
                },
            },
        },
        "/v1/sketches/{id}/plot": {
            "parameters": [_job_id()],
            "get": {
                "operationId": "getSketchPlot",
                "summary": "One stroke count's plot-ready SVG, made from its SVG with the "
                           "job's `plot`.",
                "parameters": [
                    {"name": "strokes", "in": "query", "required": False,
                     "description": "One of the job's counts (may be left out when it has one).",
                     "schema": stroke_count()},
                ],
                "responses": {
                    "200": {"description": "The SVG in millimetres (`width=\"150mm\"`, "
                                           "viewBox in mm), one `<path>` per stroke in the "
                                           "order drawn, every stroke the pen's width.",
                            "content": {"image/svg+xml": {"schema": {"type": "string"}}}},
                    **_errors(404, 409, 422),
                },
            },
        },
        "/v1/sketches/{id}/zip": {
            "parameters": [_job_id()],
            "get": {
                "operationId": "getSketchZip",
                "summary": "Every SVG of a done job as `<photo stem>.<count>.svg`.",
                "responses": {
                    "200": {"description": "The zip (an attachment).",
                            "content": {"application/zip": {
                                "schema": {"type": "string", "format": "binary"}}}},
                    **_errors(404, 409),
                },
            },
        },
        "/v1/sketches/{id}/image": {
            "parameters": [_job_id()],
            "get": {
                "operationId": "getSketchImage",
                "summary": "The photo exactly as submitted.",
                "responses": {
                    "200": {"description": "The photo, with its own media type.",
                            "content": {kind: {"schema": {"type": "string", "format": "binary"}}
                                        for kind in photo_types}},
                    **_errors(404),
                },
            },
        },
        "/v1/health": {
            "get": {
                "operationId": "health",
                "summary": "Devices, models, queue, measured step cost, disk, limits.",
                "responses": {
                    "200": {"description": "The server is up.",
                            "content": {"application/json": {"schema": ref("Health")}}},
                    **_errors(),
                },
            },
        },
        "/v1/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document (public: no token).",
                "security": [],
                "responses": {
                    "200": {"description": "OpenAPI 3.1.", "content": json_of},
                    "403": _errors()["403"],
                },
            },
        },
    }


def document(*, version: str, max_upload_bytes: int, max_pixels: int,
             formats: tuple[str, ...], token: bool) -> dict[str, Any]:
    """The OpenAPI document of a server with these settings."""
    security: list[dict[str, list[str]]] = [{"bearer": []}]
    if not token:
        security.append({})  # a loopback server without a token takes any request
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Sketchify job service",
            "version": version,
            "description": (
                "Photo in, abstract line sketches out (CLIPasso): one job per photo, one SVG "
                "per stroke count, each stroke one cubic Bézier `<path>`. Every error body is "
                "`{\"error\": \"<one sentence>\", \"field\": <name or null>}`. Besides /v1, "
                "the server serves a web page at `/` and its files under `/static/` (public, "
                "like this document). Requests with a foreign `Origin` are refused, and a "
                "loopback server refuses non-loopback Host names. Besides the statuses listed "
                "per operation, the HTTP server itself may answer any request with 400 (not "
                "valid HTTP), 413 (a body over the limit) or 431 (headers too large), and a "
                "method a path does not take gets 405 with `Allow`: all in the same error "
                "shape."
            ),
        },
        "servers": [{"url": "/"}],
        "security": security,
        "paths": _paths(max_upload_bytes, max_pixels, formats),
        "components": {
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "The server's `--token`; required off loopback.",
            }},
            "schemas": schemas(),
        },
    }


@docs.get("/openapi.json")
def openapi_json() -> Response:
    # Built once: it depends only on settings fixed when the app was made.
    built = current_app.extensions.get("sketchify_openapi")
    if built is None:
        service = current_app.extensions["sketchify"]
        built = current_app.extensions["sketchify_openapi"] = document(
            version=service.version, max_upload_bytes=current_app.config["MAX_CONTENT_LENGTH"],
            max_pixels=service.max_pixels, formats=service.formats,
            token=current_app.config["TOKEN"] is not None,
        )
    return jsonify(built)

