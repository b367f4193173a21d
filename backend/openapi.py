"""`GET /v1/openapi.json`: the service's contract as an OpenAPI 3.1 document.

Every limit in it is read from the constants and the running server's settings that the
validators use (limits.py, the listing's, the presets', the mask modes, the body and pixel
limits the server was started with), so the document cannot drift from what is enforced. It
holds no secret, so it is public like the web page; the Host and Origin checks still apply.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from sketchify.backend import filenames, limits, listing
from sketchify.backend.api import PREVIEW_VALUES
from sketchify.backend.downloads import format_mimetype
from sketchify.core.mask import MODES
from sketchify.core.presets import PRESET_NAMES, PRESETS

docs = Blueprint("openapi", __name__, url_prefix="/v1")

_ERROR_CODES = {
    400: "The body is not a JSON object (malformed JSON, or JSON of another kind).",
    401: "No valid `Authorization: Bearer <token>` header (only on a server with a token).",
    403: "A foreign `Origin` header, or a Host name that is not loopback on a loopback "
         "server (DNS rebinding).",
    404: "No such job (or route); `field` names `strokes` for a stroke count the job lacks.",
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


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _errors(*codes: int) -> dict[str, Any]:
    """The error responses of an operation: the shared ones plus ``codes``."""
    responses = {}
    for code in sorted({401, 403, *codes}):
        response: dict[str, Any] = {
            "description": _ERROR_CODES[code],
            "content": {"application/json": {"schema": _ref("Error")}},
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
                            ("svg", "getSketchSvg"), ("zip", "getSketchZip"),
                            ("image", "getSketchImage"))
}


def _job_response(description: str, *, location: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref("Job")}},
        "links": _JOB_LINKS,
    }
    if location:
        response["headers"] = {"Location": {"description": "The job's URL.", "required": True,
                                            "schema": {"type": "string"}}}
    return response


def _counts() -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": limits.MAX_STROKES}


# A whole number written as text, as multipart carries every field (JSON may too).
_INT_TEXT = {"type": "string", "pattern": r"^\s*[+-]?[0-9]+\s*$"}
_NUMBER_TEXT = {"type": "string",
                "pattern": r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"}


def _fields(*, as_json: bool = False) -> dict[str, dict[str, Any]]:
    """The optional fields of a submission. Multipart sends each value as text; JSON may send
    numbers as text too, and null for "the default"."""
    counts = _counts()
    fields: dict[str, dict[str, Any]] = {
        "strokes": {
            "description": f"Stroke counts, one sketch each: `16`, `\"4,8,16\"`, `[4, 8]` (in "
                           "multipart also repeated parts); duplicates count once. Default "
                           f"[16]. At most {limits.MAX_COUNTS} different counts.",
            "anyOf": [
                counts,
                {"type": "string", "pattern": r"^\s*[+-]?[0-9]+\s*(,\s*[+-]?[0-9]+\s*)*,?\s*$"},
                {"type": "array", "items": {"anyOf": [counts, _INT_TEXT]}, "minItems": 1},
            ],
        },
        "preset": {"description": "`auto` (the default) is `standard` on a GPU and `draft` on "
                                  "a CPU, decided where the job runs.",
                   "type": "string", "enum": list(PRESET_NAMES), "default": "auto"},
        "steps": {"description": "Optimization steps (default: the preset's).",
                  "type": "integer", "minimum": 1, "maximum": limits.MAX_STEPS},
        "seeds": {"description": "Runs from different starts; the best is kept (default: the "
                                 "preset's).",
                  "type": "integer", "minimum": 1, "maximum": limits.MAX_SEEDS},
        "seed": {"description": "The first random seed (default: the preset's).",
                 "type": "integer", "minimum": 0, "maximum": limits.MAX_SEED},
        "prompt": {"description": "Optional text the sketch should also match (CLIP text "
                                  "loss); blank means none.",
                   "type": "string", "maxLength": limits.MAX_PROMPT},
        "width": {"description": "SVG stroke width at the 224 px canvas.",
                  "type": "number", "minimum": limits.MIN_WIDTH, "maximum": limits.MAX_WIDTH,
                  "default": limits.DEFAULT_WIDTH},
        "mask": {"description": "Which part of the photo is the object: `none` (the whole "
                                "photo), `alpha` (its transparency), `file` (`mask_image`), "
                                "`auto` (a salient-object network on the server). Sending "
                                "`mask_image` implies `file`; another mode with it is a 422.",
                 "type": "string", "enum": list(MODES), "default": "none"},
    }
    if as_json:
        for name in ("steps", "seeds", "seed"):
            fields[name] = {"anyOf": [_bare(fields[name]), _INT_TEXT],
                            "description": fields[name]["description"]}
        fields["width"] = {"anyOf": [_bare(fields["width"]), _NUMBER_TEXT],
                           "description": fields["width"]["description"]}
        for name, field in fields.items():
            fields[name] = _nullable(_bare(field)) | {"description": field["description"]}
    return fields


def _bare(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key != "description"}


def _image_text(max_pixels: int, formats: tuple[str, ...]) -> str:
    return (f"The photo: {', '.join(formats)}, at most {max_pixels} pixels (after EXIF "
            "orientation). Not an image of these formats: 415; broken or too many pixels: 422.")


def _submission_bodies(max_upload_bytes: int, max_pixels: int,
                       formats: tuple[str, ...]) -> dict[str, Any]:
    image = _image_text(max_pixels, formats)
    mask = ("A mask image of the photo's size: its alpha channel if it has one, else its "
            "luminance (white = the object).")
    types = ", ".join(sorted({format_mimetype(kind) for kind in formats}))
    multipart = {
        "type": "object",
        "required": ["image"],
        "additionalProperties": False,
        "properties": {
            "image": {"description": f"{image} The part's file name is kept as `filename` "
                                     f"(at most {filenames.MAX_LENGTH} characters).",
                      "type": "string", "format": "binary"},
            "mask_image": {"description": mask, "type": "string", "format": "binary"},
            **_fields(),
        },
    }
    json_body = {
        "type": "object",
        "required": ["image"],
        "additionalProperties": False,
        "properties": {
            "image": {"description": f"{image} Base64, or a `data:` URI.",
                      "type": "string", "minLength": 1},
            "mask_image": _nullable({"type": "string", "minLength": 1})
            | {"description": f"{mask} Base64, or a `data:` URI."},
            "filename": _nullable({"type": "string", "maxLength": filenames.MAX_LENGTH})
            | {"description": "The photo's original file name."},
            **_fields(as_json=True),
        },
    }
    return {
        "required": True,
        "description": f"Either encoding; the whole body at most {max_upload_bytes} bytes "
                       "(larger: 413).",
        "content": {
            "multipart/form-data": {
                "schema": multipart,
                "encoding": {"image": {"contentType": types}, "mask_image": {"contentType": types}},
            },
            "application/json": {"schema": json_body},
        },
    }


def _job_schema() -> dict[str, Any]:
    links = {"type": "object", "propertyNames": {"pattern": "^[0-9]+$"},
             "additionalProperties": {"type": "string"}}
    time = {"type": "string", "format": "date-time"}
    presets = list(PRESETS)
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "status", "filename", "strokes", "params", "queue_position",
                     "progress", "estimate_s", "estimate_text", "cancel_requested", "attempts",
                     "resolved_preset", "device", "worker", "error", "created_at", "started_at",
                     "finished_at", "links"],
        "properties": {
            "id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
            "status": {"type": "string", "enum": list(listing.STATUSES)},
            "filename": _nullable({"type": "string", "maxLength": filenames.MAX_LENGTH}),
            "strokes": {"type": "array", "items": _counts(), "minItems": 1,
                        "maxItems": limits.MAX_COUNTS, "uniqueItems": True},
            "params": {
                "description": "What was asked (`preset` stays `auto`; null: the preset's).",
                "type": "object",
                "additionalProperties": False,
                "required": ["preset", "steps", "seeds", "seed", "prompt", "width", "mask"],
                "properties": {
                    name: field if name in ("preset", "width", "mask") else _nullable(field)
                    for name, field in _fields().items() if name != "strokes"
                },
            },
            "queue_position": _nullable({"type": "integer", "minimum": 0,
                                         "description": "Queued jobs ahead (null unless "
                                                        "queued)."}),
            "progress": {
                "type": "object",
                "additionalProperties": False,
                "required": ["step", "total", "fraction", "eta_s", "eta_text"],
                "properties": {
                    "step": {"type": "integer", "minimum": 0},
                    "total": _nullable({"type": "integer", "minimum": 1}),
                    "fraction": {"type": "number", "minimum": 0, "maximum": 1},
                    "eta_s": _nullable({"type": "number", "minimum": 0,
                                        "description": "The engine's running estimate."}),
                    "eta_text": {"type": "string", "minLength": 1},
                },
            },
            "estimate_s": _nullable({
                "type": "number", "minimum": 0,
                "description": "Seconds until the job is done from now, queue included, from "
                               "the measured step cost (an upper bound for `draft`); null "
                               "when nothing is measured yet or the job is finished."}),
            "estimate_text": {"type": "string", "minLength": 1,
                              "description": "`estimate_s` in words: `about 4 min`, "
                                             "`unknown`."},
            "cancel_requested": {"type": "boolean"},
            "attempts": {"type": "integer", "minimum": 0},
            "resolved_preset": _nullable({"type": "string", "enum": presets,
                                          "description": "What the preset became where the "
                                                         "job ran (null while queued)."}),
            "device": _nullable({"type": "string"}),
            "worker": _nullable({"type": "string"}),
            "error": _nullable({"type": "string", "minLength": 1}),
            "created_at": time,
            "started_at": _nullable(time),
            "finished_at": _nullable(time),
            "links": {
                "type": "object",
                "additionalProperties": False,
                "required": ["self"],
                "properties": {
                    "self": {"type": "string"},
                    "svg": {**links, "description": "Per stroke count, once done."},
                    "preview": {**links, "description": "Per stroke count: the best strokes "
                                                        "so far (running or canceled)."},
                },
            },
        },
    }


def _health_schema() -> dict[str, Any]:
    names = {"type": "array", "items": {"type": "string"}}
    return {
        "type": "object",
        "required": ["status", "version", "executor", "running", "queue_length", "step_cost",
                     "disk", "limits"],
        "additionalProperties": False,
        "properties": {
            "status": {"const": "ok"},
            "version": {"type": "string"},
            "executor": {"type": "string", "enum": ["in-process", "celery"]},
            "devices": {**names, "description": "In-process: one worker per device."},
            "models": {"type": "object", "description": "Model names and weights (file "
                                                        "names, never the server's paths)."},
            "models_loaded": {"type": "boolean"},
            "broker": {"type": "string", "description": "Celery: the broker, password hidden."},
            "broker_reachable": {"type": "boolean"},
            "workers_seen": names,
            "workers": {"type": "array", "items": {"type": "object"}},
            "running": {"type": "array", "items": {"type": "string", "pattern": "^[0-9a-f]{32}$"}},
            "queue_length": {"type": "integer", "minimum": 0},
            "step_cost": {"type": "object", "description": "Seconds one sketch view costs per "
                                                           "step, per device (or "
                                                           "`device@worker`).",
                          "additionalProperties": {"type": "number", "minimum": 0}},
            "disk": {"type": "object", "additionalProperties": False,
                     "required": ["free_bytes", "accepting"],
                     "properties": {"free_bytes": {"type": "integer", "minimum": 0},
                                    "accepting": {"type": "boolean"}}},
            "limits": {"type": "object", "additionalProperties": False,
                       "required": ["max_upload_bytes", "max_pixels", "formats"],
                       "properties": {"max_upload_bytes": {"type": "integer", "minimum": 1},
                                      "max_pixels": {"type": "integer", "minimum": 1},
                                      "formats": names}},
        },
    }


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
                "requestBody": _submission_bodies(max_upload_bytes, max_pixels, formats),
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
                            "content": {"application/json": {"schema": _ref("JobList")}}},
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
                     "schema": _counts()},
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
                            "content": {"application/json": {"schema": _ref("Health")}}},
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
            "schemas": {
                "Error": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["error", "field"],
                    "properties": {
                        "error": {"type": "string", "minLength": 1,
                                  "description": "One sentence for a person."},
                        "field": _nullable({"type": "string", "minLength": 1,
                                            "description": "The field, query parameter or "
                                                           "header at fault."}),
                    },
                },
                "Job": _job_schema(),
                "JobList": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["items", "next_cursor"],
                    "properties": {
                        "items": {"type": "array", "items": _ref("Job"),
                                  "maxItems": listing.MAX_LIMIT},
                        "next_cursor": _nullable({"type": "string", "minLength": 1}),
                    },
                },
                "Health": _health_schema(),
            },
        },
    }


@docs.get("/openapi.json")
def openapi_json() -> Response:
    service = current_app.extensions["sketchify"]
    return jsonify(document(
        version=service.version, max_upload_bytes=current_app.config["MAX_CONTENT_LENGTH"],
        max_pixels=service.max_pixels, formats=service.formats,
        token=current_app.config["TOKEN"] is not None,
    ))

