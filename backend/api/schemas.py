"""The JSON Schemas of the API document (backend/api/openapi.py): a submission's fields and
bodies, the job, the job list, health and the error body, each limit read from the constants the
validators use."""

from __future__ import annotations

from typing import Any

from sketchify.backend import limits
from sketchify.backend.api import filenames, listing
from sketchify.backend.api.downloads import format_mimetype
from sketchify.core.config import MASK_MODES, PRECISION_NAMES, PRESET_NAMES, PRESETS
from sketchify.core.output.plot_settings import MAX_LENGTH_MM, MAX_PEN_MM, MIN_PEN_MM, PAGES_MM


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def stroke_count() -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": limits.MAX_STROKES}


# A whole number written as text, as multipart carries every field (JSON may too).
_INT_TEXT = {"type": "string", "pattern": r"^\s*[+-]?[0-9]+\s*$"}
_NUMBER_TEXT = {"type": "string",
                "pattern": r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"}


def plot_schema() -> dict[str, Any]:
    """The plot settings object: a drawing width or a page, the pen and the margin (mm)."""
    length = {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_LENGTH_MM}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "size_mm": length | {"description": "The drawing's width (height from the photo's "
                                                "aspect); default 150 without a page."},
            "page": {"type": "string", "enum": list(PAGES_MM),
                     "description": "The paper instead: turned to fit, drawing centred."},
            "pen_mm": {"type": "number", "minimum": MIN_PEN_MM, "maximum": MAX_PEN_MM,
                       "description": "Every stroke's width (default 0.5)."},
            "margin_mm": {"type": "number", "minimum": 0, "maximum": MAX_LENGTH_MM,
                          "description": "Around the drawing (default 10 on a page, else 0)."},
        },
        "not": {"required": ["size_mm", "page"]},
    }


def submission_fields(*, as_json: bool = False) -> dict[str, dict[str, Any]]:
    """The optional fields of a submission. Multipart sends each value as text; JSON may send
    numbers as text too, and null for "the default"."""
    count = stroke_count()
    described: dict[str, dict[str, Any]] = {
        "strokes": {
            "description": f"Stroke counts, one sketch each: `16`, `\"4,8,16\"`, `[4, 8]` (in "
                           "multipart also repeated parts); duplicates count once. Default "
                           f"[16]. At most {limits.MAX_COUNTS} different counts.",
            "anyOf": [
                count,
                {"type": "string", "pattern": r"^\s*[+-]?[0-9]+\s*(,\s*[+-]?[0-9]+\s*)*,?\s*$"},
                {"type": "array", "items": {"anyOf": [count, _INT_TEXT]}, "minItems": 1},
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
        "precision": {"description": "The precision CLIP runs in: `auto` (the default) is "
                                     "`fp16` on CUDA and `fp32` elsewhere, decided where the "
                                     "job runs; `fp32` is float32 throughout. Jobs stored before "
                                     "this field existed ran `auto`.",
                      "type": "string", "enum": list(PRECISION_NAMES), "default": "auto"},
        "start": {"description": "The user's own strokes, part of every count (each count at "
                                 "least their number): SVG path data in the photo's pixels "
                                 "(after EXIF orientation; x right, y down), one item per "
                                 "stroke. `locked` ones are kept exactly as given and drawn "
                                 "into every view the optimizer sees; free ones (the default) "
                                 "are where every seed starts (several segments fitted to one "
                                 "cubic). The result lists them first, in this order. Every "
                                 "point within one photo size of the photo; at most "
                                 f"{limits.MAX_START_ITEMS} items and {limits.MAX_START_CHARS} "
                                 "characters of path data. Multipart: this list as one JSON "
                                 "text.",
                  "anyOf": [_start_list(), {"type": "string", "minLength": 1}]},
        "mask": {"description": "Which part of the photo is the object: `none` (the whole "
                                "photo), `alpha` (its transparency), `file` (`mask_image`), "
                                "`auto` (a salient-object network on the server). Sending "
                                "`mask_image` implies `file`; another mode with it is a 422.",
                 "type": "string", "enum": list(MASK_MODES), "default": "none"},
        "plot": {"description": "Also offer a plot-ready SVG per count (`links.plot`, made "
                                "from the sketch when asked for): millimetres, every stroke "
                                "the pen's width, strokes ordered to shorten the pen-up "
                                "travel. An object: `size_mm` (the drawing's width, default "
                                "150) or `page` (A3, A4, A5, A6, Letter), `pen_mm` (default "
                                f"0.5, from {MIN_PEN_MM:g} to {MAX_PEN_MM:g}), `margin_mm`; "
                                "in multipart (and as text in JSON) its JSON text. A bad one "
                                "is a 422 naming `plot`. Page names are matched ignoring "
                                "case.",
                 "type": "string", "minLength": 2},
    }
    if as_json:
        described["plot"] = {"anyOf": [plot_schema(), _bare(described["plot"])],
                             "description": described["plot"]["description"]}
        for name in ("steps", "seeds", "seed"):
            described[name] = {"anyOf": [_bare(described[name]), _INT_TEXT],
                               "description": described[name]["description"]}
        described["width"] = {"anyOf": [_bare(described["width"]), _NUMBER_TEXT],
                              "description": described["width"]["description"]}
        for name, field in described.items():
            described[name] = nullable(_bare(field)) | {"description": field["description"]}
    return described


def _start_list() -> dict[str, Any]:
    return {"type": "array", "minItems": 1, "maxItems": limits.MAX_START_ITEMS,
            "items": {"type": "object", "additionalProperties": False, "required": ["d"],
                      "properties": {"d": {"type": "string", "minLength": 1,
                                           "maxLength": limits.MAX_START_CHARS},
                                     "locked": {"type": "boolean", "default": False}}}}


def start_summary() -> dict[str, Any]:
    """How a job shows its start: the counts and the SHA-256 of the list's canonical JSON."""
    return nullable({
        "type": "object", "additionalProperties": False,
        "required": ["given", "locked", "sha256"],
        "description": "The given strokes: how many, how many locked, and the SHA-256 of the "
                       "list as stored (`[{\"d\", \"locked\"}]`, keys sorted, no spaces).",
        "properties": {"given": {"type": "integer", "minimum": 1,
                                 "maximum": limits.MAX_START_ITEMS},
                       "locked": {"type": "integer", "minimum": 0,
                                  "maximum": limits.MAX_START_ITEMS},
                       "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}})


def _bare(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key != "description"}


def _image_text(max_pixels: int, formats: tuple[str, ...]) -> str:
    return (f"The photo: {', '.join(formats)}, at most {max_pixels} pixels (after EXIF "
            "orientation). Not an image of these formats: 415; broken or too many pixels: 422.")


def submission_bodies(max_upload_bytes: int, max_pixels: int,
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
            **submission_fields(),
        },
    }
    json_body = {
        "type": "object",
        "required": ["image"],
        "additionalProperties": False,
        "properties": {
            "image": {"description": f"{image} Base64, or a `data:` URI.",
                      "type": "string", "minLength": 1},
            "mask_image": nullable({"type": "string", "minLength": 1})
            | {"description": f"{mask} Base64, or a `data:` URI."},
            "filename": nullable({"type": "string", "maxLength": filenames.MAX_LENGTH})
            | {"description": "The photo's original file name."},
            **submission_fields(as_json=True),
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
            "filename": nullable({"type": "string", "maxLength": filenames.MAX_LENGTH}),
            "strokes": {"type": "array", "items": stroke_count(), "minItems": 1,
                        "maxItems": limits.MAX_COUNTS, "uniqueItems": True},
            "params": {
                "description": "What was asked (`preset` stays `auto`; null: the preset's).",
                "type": "object",
                "additionalProperties": False,
                "required": ["preset", "steps", "seeds", "seed", "prompt", "width", "mask",
                             "precision", "start", "plot"],
                "properties": {
                    **{name: field if name in ("preset", "width", "precision", "mask")
                       else nullable(field)
                       for name, field in submission_fields().items()
                       if name not in ("strokes", "start", "plot")},
                    "start": start_summary(),
                    "plot": nullable(plot_schema()) | {
                        "description": "The plot settings, normalized (defaults filled); "
                                       "null: none asked."},
                },
            },
            "queue_position": nullable({"type": "integer", "minimum": 0,
                                         "description": "Queued jobs ahead (null unless "
                                                        "queued)."}),
            "progress": {
                "type": "object",
                "additionalProperties": False,
                "required": ["step", "total", "fraction", "eta_s", "eta_text"],
                "properties": {
                    "step": {"type": "integer", "minimum": 0},
                    "total": nullable({"type": "integer", "minimum": 1}),
                    "fraction": {"type": "number", "minimum": 0, "maximum": 1},
                    "eta_s": nullable({"type": "number", "minimum": 0,
                                        "description": "The engine's running estimate."}),
                    "eta_text": {"type": "string", "minLength": 1},
                },
            },
            "estimate_s": nullable({
                "type": "number", "minimum": 0,
                "description": "Seconds until the job is done from now, queue included, from "
                               "the measured step cost (an upper bound for `draft`); null "
                               "when nothing is measured yet or the job is finished."}),
            "estimate_text": {"type": "string", "minLength": 1,
                              "description": "`estimate_s` in words: `about 4 min`, "
                                             "`unknown`."},
            "cancel_requested": {"type": "boolean"},
            "attempts": {"type": "integer", "minimum": 0},
            "resolved_preset": nullable({"type": "string", "enum": presets,
                                          "description": "What the preset became where the "
                                                         "job ran (null while queued)."}),
            "device": nullable({"type": "string"}),
            "worker": nullable({"type": "string"}),
            "error": nullable({"type": "string", "minLength": 1}),
            "created_at": time,
            "started_at": nullable(time),
            "finished_at": nullable(time),
            "links": {
                "type": "object",
                "additionalProperties": False,
                "required": ["self"],
                "properties": {
                    "self": {"type": "string"},
                    "svg": {**links, "description": "Per stroke count, once done."},
                    "preview": {**links, "description": "Per stroke count: the best strokes "
                                                        "so far (running or canceled)."},
                    "plot": {**links, "description": "Per stroke count, once done, when "
                                                     "`plot` was asked: the plot-ready SVG."},
                },
            },
        },
    }


def _health_schema() -> dict[str, Any]:
    names = {"type": "array", "items": {"type": "string"}}
    return {
        "type": "object",
        "required": ["status", "version", "executor", "running", "queue_length", "step_cost",
                     "step_cost_by_precision", "disk", "limits"],
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
                                                           "`device@worker`), in its default "
                                                           "precision.",
                          "additionalProperties": {"type": "number", "minimum": 0}},
            "step_cost_by_precision": {
                "type": "object",
                "description": "The same per precision measured (`fp32`, `fp16`): a job's "
                               "estimate uses the cost of the precision it runs in.",
                "additionalProperties": {"type": "object", "additionalProperties": {
                    "type": "number", "minimum": 0}}},
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


def schemas() -> dict[str, Any]:
    """The document's named schemas: the error body, the job, the list, health."""
    return {
        "Error": {
            "type": "object",
            "additionalProperties": False,
            "required": ["error", "field"],
            "properties": {
                "error": {"type": "string", "minLength": 1,
                          "description": "One sentence for a person."},
                "field": nullable({"type": "string", "minLength": 1,
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
                "items": {"type": "array", "items": ref("Job"),
                          "maxItems": listing.MAX_LIMIT},
                "next_cursor": nullable({"type": "string", "minLength": 1}),
            },
        },
        "Health": _health_schema(),
    }
