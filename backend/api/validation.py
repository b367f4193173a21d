"""Parse and check a sketch submission (multipart form or JSON) before anything is stored.

Nothing that fails here reaches the engine: every problem becomes an ApiError naming its field.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import PIL.Image
from flask import Request

from sketchify.backend import limits
from sketchify.backend.api import filenames
from sketchify.backend.api.errors import ApiError
from sketchify.backend.api.mask_fields import check_mask, decode_file_field, mask_part
from sketchify.core.config import API_FORMATS, PRECISION_NAMES, PRESET_NAMES
from sketchify.core.errors import InputError
from sketchify.core.given.strokes import from_items
from sketchify.core.output.plot_settings import from_json as plot_from_json
from sketchify.core.photo.image import load_image

_INT = re.compile(r"[+-]?[0-9]+")  # ASCII digits, as the API document says


@dataclass(frozen=True)
class Submission:
    params: dict[str, Any]  # normalized: what the job store keeps and the executor runs
    image: bytes
    fingerprint: str  # same request -> same fingerprint (for Idempotency-Key reuse)
    mask_image: bytes | None = None  # stored beside the image as the job's `mask`
    filename: str | None = None  # the photo's original file name, if the client sent one


def _int(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        digits = value.strip().lstrip("+-").lstrip("0")
        # No field takes 20 digits, and int() refuses more than 4300.
        value = int(value) if len(digits) < 20 else None
        if value is None:
            raise ApiError(422, f"{field} must be between {low} and {high}.", field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApiError(422, f"{field} must be a whole number.", field)
    if not low <= value <= high:
        shown = f", got {value}" if abs(value) < 10**20 else ""  # not a page of digits
        raise ApiError(422, f"{field} must be between {low} and {high}{shown}.", field)
    return value


def _strokes(value: Any) -> list[int]:
    items: list[Any] = []
    for part in value if isinstance(value, list) else [value]:
        if isinstance(part, str) and part.strip().startswith("["):
            part = _json_text(part, "strokes", "a valid JSON list")
        if isinstance(part, str):
            items.extend(p for p in part.split(",") if p.strip())
        elif isinstance(part, list):
            items.extend(part)
        else:
            items.append(part)
    counts = sorted({_int(item, "strokes", 1, limits.MAX_STROKES) for item in items})
    if not counts:
        raise ApiError(422, "strokes must name at least one stroke count.", "strokes")
    if len(counts) > limits.MAX_COUNTS:
        raise ApiError(422, f"strokes may list at most {limits.MAX_COUNTS} counts.", "strokes")
    return counts


def _width(value: Any) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ApiError(422, "width must be a number.", "width") from None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ApiError(422, "width must be a number.", "width")
    # A JSON integer may be far beyond any float (math.isfinite() of it overflows); Python
    # compares it with the limits exactly.
    if isinstance(value, float) and not math.isfinite(value):
        raise ApiError(422, "width must be a number.", "width")
    if not limits.MIN_WIDTH <= value <= limits.MAX_WIDTH:
        shown = f", got {value}" if abs(value) < 10**20 else ""
        raise ApiError(422, f"width must be between {limits.MIN_WIDTH:g} and {limits.MAX_WIDTH:g}"
                            f"{shown}.", "width")
    return float(value)


def _preset(value: Any) -> str:
    if not isinstance(value, str) or value not in PRESET_NAMES:
        raise ApiError(422, f"preset must be one of {', '.join(PRESET_NAMES)}.", "preset")
    return value


def _precision(value: Any) -> str:
    if not isinstance(value, str) or value not in PRECISION_NAMES:
        raise ApiError(422, f"precision must be one of {', '.join(PRECISION_NAMES)}.",
                       "precision")
    return value


def _prompt(value: Any) -> str | None:
    if not isinstance(value, str):
        raise ApiError(422, "prompt must be text.", "prompt")
    if len(value) > limits.MAX_PROMPT:
        raise ApiError(422, f"prompt must be at most {limits.MAX_PROMPT} characters.", "prompt")
    return value.strip() or None


def _json_text(value: Any, field: str, what: str) -> Any:
    """A field multipart carries as one JSON text, read (a JSON body's value is as it is);
    ``what`` says what the text must be."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise ApiError(422, f"{field} is not {what}.", field) from None


def _plot(value: Any) -> dict[str, Any]:
    """The plot settings, as an object (JSON) or its JSON text (multipart); normalized so
    that the same plot asked two ways is the same job."""
    value = _json_text(value, "plot", "valid JSON (send an object such as "
                                      "{\"page\": \"A4\", \"pen_mm\": 0.5})")
    try:
        return plot_from_json(value).as_json()
    except InputError as error:
        raise ApiError(422, str(error), "plot") from None


def _start(value: Any) -> list[dict[str, Any]]:
    """The given strokes as stored: ``[{"d", "locked"}]``; checked against the photo and the
    counts once both are known (``_check_start``)."""
    value = _json_text(value, "start", "a valid JSON list")
    try:
        start = from_items(value, limits.MAX_START_ITEMS, limits.MAX_START_CHARS)
    except InputError as error:
        raise ApiError(422, f"{error}.", "start") from None
    return start.items()


def _check_start(items: list[dict[str, Any]], picture: PIL.Image.Image, counts: list[int]
                 ) -> None:
    try:
        from_items(items).check(picture.width, picture.height, counts)
    except InputError as error:
        raise ApiError(422, f"{error}.", "start") from None


_FIELDS: dict[str, Callable[[Any], Any]] = {
    "strokes": _strokes,
    "preset": _preset,
    "steps": lambda v: _int(v, "steps", 1, limits.MAX_STEPS),
    "seeds": lambda v: _int(v, "seeds", 1, limits.MAX_SEEDS),
    "seed": lambda v: _int(v, "seed", 0, limits.MAX_SEED),
    "prompt": _prompt,
    "width": _width,
    "precision": _precision,
    "mask": lambda v: v,  # checked with the image and mask image: see mask_fields
    "start": _start,
    "plot": _plot,
}
DEFAULTS: dict[str, Any] = {
    "strokes": [16], "preset": "auto", "steps": None, "seeds": None, "seed": None,
    "prompt": None, "width": limits.DEFAULT_WIDTH, "precision": "auto", "mask": None,
    "start": None,
}  # no `plot`: a job without one stores what it stored before (the same fingerprint)


def check_image(data: bytes, *, max_pixels: int, formats: tuple[str, ...]) -> PIL.Image.Image:
    """The photo as the engine will see it; 415 for bytes that are not an accepted image
    format, 422 for a broken or huge image."""
    if not data:
        raise ApiError(422, "image is empty.", "image")
    try:
        with PIL.Image.open(io.BytesIO(data)) as sniffed:
            kind = sniffed.format
    except PIL.Image.DecompressionBombError:
        raise ApiError(422, "image has too many pixels.", "image") from None
    except (PIL.UnidentifiedImageError, OSError):
        kind = None
    if kind not in formats:
        found = f"a {kind} file" if kind else "not an image Pillow can read"
        raise ApiError(415, f"image is {found}; send {', '.join(formats)}.", "image")
    try:
        return load_image(data, max_pixels=max_pixels, formats=formats)
    except InputError as error:
        raise ApiError(422, str(error), "image") from None
    except (PIL.Image.DecompressionBombError, OSError, ValueError) as error:
        raise ApiError(422, f"image could not be decoded ({error}).", "image") from None


def _raw_fields(request: Request) -> tuple[dict[str, Any], bytes]:
    """The submitted fields (unparsed) and the image bytes, from multipart or JSON."""
    if request.mimetype == "multipart/form-data":
        for name in request.files:
            if name not in ("image", "mask_image"):
                raise ApiError(422, f"Unknown field {name!r}.", name or None)  # a nameless part
        if "image" in request.form:
            raise ApiError(422, "image must be sent as a file part.", "image")
        upload = request.files.get("image")
        if upload is None:
            raise ApiError(422, "image is required.", "image")
        fields: dict[str, Any] = {}
        for name, values in request.form.lists():
            if name != "strokes" and len(values) > 1:
                raise ApiError(422, f"{name or 'A field without a name'} was given more than "
                                    "once.", name or None)
            fields[name] = values if name == "strokes" else values[0]
        return fields, upload.read()
    if request.mimetype == "application/json":
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ApiError(400, "The body must be a JSON object.", None)
        fields = dict(body)
        encoded = fields.pop("image", None)
        if encoded is None:
            raise ApiError(422, "image is required.", "image")
        return fields, decode_file_field(encoded, "image")
    raise ApiError(415, "Send multipart/form-data or application/json.", None)


def parse_submission(
    request: Request,
    *,
    max_pixels: int = limits.MAX_PIXELS,
    formats: tuple[str, ...] = API_FORMATS,
    mask_problem: Callable[[], str | None] | None = None,
) -> Submission:
    """``mask_problem`` says why an ``auto`` mask cannot run where jobs run (None: it can, or
    the front cannot tell)."""
    for name in request.args:  # a field in the URL would otherwise be silently ignored
        raise ApiError(422, f"Unknown query parameter {name!r}; send fields in the body.",
                       name or None)  # `?=1` names nothing
    fields, image = _raw_fields(request)
    filename = filenames.submitted(request, fields)
    mask_image = mask_part(request, fields)
    for name in fields:
        if name not in _FIELDS:
            raise ApiError(422, f"Unknown field {name!r}.", name or None)  # JSON's "" key
    params = dict(DEFAULTS)
    params.update(
        {name: _FIELDS[name](value) for name, value in fields.items() if value is not None}
    )
    picture = check_image(image, max_pixels=max_pixels, formats=formats)
    if params["start"] is not None:
        _check_start(params["start"], picture, params["strokes"])
    params["mask"] = check_mask(params["mask"], image, picture, mask_image, max_pixels=max_pixels,
                                formats=formats, auto_problem=mask_problem)
    digest = hashlib.sha256(image)
    digest.update(json.dumps(params, sort_keys=True).encode())
    if mask_image is not None:
        digest.update(hashlib.sha256(mask_image).digest())
    if filename is not None:
        digest.update(filename.encode())
    return Submission(params=params, image=image, fingerprint=digest.hexdigest(),
                      mask_image=mask_image, filename=filename)
