"""The ``mask`` and ``mask_image`` fields of a submission, checked before anything is stored.

``mask_image`` is a multipart file part or base64 (a data: URI too) in JSON; sending it
implies ``mask`` 'file'. Every refusal is a 422 naming ``mask`` or ``mask_image``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from flask import Request
from PIL import Image

from sketchify.backend.api.errors import ApiError
from sketchify.core.config import MASK_MODES
from sketchify.core.errors import InputError
from sketchify.core.photo.mask import mask_mode, object_mask
from sketchify.core.photo.target import check_fits


def mask_part(request: Request, fields: dict[str, Any]) -> bytes | None:
    """The mask image's bytes, taken out of ``fields`` (JSON) or the file parts (multipart)."""
    if request.mimetype == "multipart/form-data":
        if "mask_image" in request.form:
            raise ApiError(422, "mask_image must be sent as a file part.", "mask_image")
        upload = request.files.get("mask_image")
        return None if upload is None else upload.read()
    encoded = fields.pop("mask_image", None)
    return None if encoded is None else decode_file_field(encoded, "mask_image")


def decode_file_field(encoded: Any, field: str) -> bytes:
    """A file sent in a JSON body: base64, or a data: URI as it comes out of an SVG."""
    if not isinstance(encoded, str):
        raise ApiError(422, f"{field} must be a base64 string.", field)
    if encoded.startswith("data:"):
        encoded = encoded.partition(",")[2]
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, f"{field} is not valid base64.", field) from None


def check_mask(
    mask: Any,
    image: bytes,
    picture: Image.Image,
    mask_image: bytes | None,
    *,
    max_pixels: int,
    formats: tuple[str, ...],
    auto_problem: Callable[[], str | None] | None = None,
) -> str:
    """The mask mode the job runs with; ApiError 422 for anything the engine would refuse.
    ``picture`` is ``image`` as ``check_image`` loaded it."""
    if mask is not None and (not isinstance(mask, str) or mask not in MASK_MODES):
        raise ApiError(422, f"mask must be one of {', '.join(MASK_MODES)}.", "mask")
    kinds = frozenset(formats)
    try:
        mode = mask_mode(mask, mask_image)
        if mode in ("alpha", "file"):  # `auto` is run where the job runs
            check_fits(object_mask(mode, image, mask_image, picture=picture,
                                   max_pixels=max_pixels, formats=kinds), picture.size)
    except InputError as error:
        raise ApiError(422, str(error), error.field or "mask") from None
    if mode == "auto" and auto_problem is not None:
        problem = auto_problem()
        if problem is not None:
            raise ApiError(422, problem, "mask")
    return mode
