"""Object masks, the reference's ``mask_object``: which pixels of the photo are the object.

A mask is decided in the photo's own pixels (after EXIF orientation) and applied before
saliency and loss: the background becomes white in the target, and no stroke starts on it.

- ``none``: no mask (the default, as in the reference);
- ``alpha``: the photo's own transparency, alpha >= 0.5 is the object;
- ``file``: a mask image of the photo's size; its alpha channel decides if it has one, else its
  luminance >= 0.5 (white) is the object;
- ``auto``: a salient-object network (U²-Net through rembg, in ``photo/mask_model.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from sketchify.core.config import MASK_HALF, MASK_MODES, NAMED_MASK_MODES, PHOTO_FORMATS
from sketchify.core.errors import InputError
from sketchify.core.photo.image import (
    DEFAULT_MAX_PIXELS,
    has_alpha,
    load_image,
    open_image,
)
from sketchify.core.photo.mask_model import SalientObjectModel

ImageSource = str | os.PathLike | bytes | Image.Image


@dataclass(frozen=True)
class ObjectMask:
    """``pixels``: bool [height, width] in the photo's pixels, True on the object; ``mode``
    says where it came from (``alpha``, ``file`` or ``auto``), for the SVG's provenance."""

    mode: str
    pixels: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as Pillow gives an image's size."""
        height, width = self.pixels.shape
        return width, height

    @property
    def field(self) -> str:
        """The request field a problem with this mask is reported on."""
        return "mask_image" if self.mode == "file" else "mask"


def mask_mode(mask: str | None, mask_image: object | None) -> str:
    """The mode a request asks for: a mask image implies ``file``; no mask at all is ``none``.
    ``InputError`` (field ``mask``) for an unknown mode or one that contradicts the image."""
    if mask is None:
        return "file" if mask_image is not None else "none"
    if mask not in MASK_MODES:
        raise InputError(f"mask must be one of {', '.join(MASK_MODES)}, got {mask!r}.",
                         field="mask")
    if mask_image is not None and mask != "file":
        raise InputError(
            f"mask is {mask!r} but a mask image was sent too; send mask_image alone (or with "
            "mask 'file').",
            field="mask",
        )
    if mask == "file" and mask_image is None:
        raise InputError("mask 'file' needs a mask image (mask_image).", field="mask_image")
    return mask


def alpha_mask(photo: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS,
               formats: frozenset[str] = PHOTO_FORMATS) -> ObjectMask:
    """The photo's own transparency as the mask; ``InputError`` (field ``mask``) when the
    photo has no alpha channel or nothing opaque enough."""
    img = open_image(photo, max_pixels=max_pixels, formats=formats)
    if not has_alpha(img):
        raise InputError("mask 'alpha' needs a photo with transparency, but this photo has no "
                         "alpha channel; send a mask image or use mask 'auto'.", field="mask")
    alpha = np.asarray(img.convert("RGBA").getchannel("A"))
    pixels = alpha >= MASK_HALF
    if not pixels.any():
        raise InputError("The photo is transparent everywhere: its alpha channel marks no "
                         "object pixel (alpha >= 0.5).", field="mask")
    return ObjectMask("alpha", pixels)


def file_mask(mask_image: ImageSource, size: tuple[int, int], *,
              max_pixels: int = DEFAULT_MAX_PIXELS,
              formats: frozenset[str] = PHOTO_FORMATS) -> ObjectMask:
    """A mask image for a photo of ``size`` (width, height, after EXIF orientation).
    ``InputError`` (field ``mask_image``) for anything that is not such a mask."""
    try:
        img = open_image(mask_image, max_pixels=max_pixels, formats=formats)
    except InputError as error:
        text = str(error)
        raise InputError(f"The mask image is unusable: {text[:1].lower()}{text[1:]}",
                         field="mask_image") from None
    if img.size != tuple(size):
        raise InputError(
            f"The mask image is {img.width}x{img.height} pixels but the photo is "
            f"{size[0]}x{size[1]} (after its EXIF orientation); they must be the same size.",
            field="mask_image",
        )
    if has_alpha(img):
        values = np.asarray(img.convert("RGBA").getchannel("A"))
    else:  # load_image scales 16-bit grey properly before the luminance is taken
        values = np.asarray(load_image(img).convert("L"))
    pixels = values >= MASK_HALF
    if not pixels.any():
        how = "its alpha channel" if has_alpha(img) else "no pixel is light enough; white"
        raise InputError(f"The mask image marks no object pixel ({how} >= 0.5 marks the "
                         "object).", field="mask_image")
    return ObjectMask("file", pixels)


def object_mask(
    mode: str | None,
    photo: ImageSource,
    mask_image: ImageSource | None = None,
    *,
    model: SalientObjectModel | None = None,
    picture: Image.Image | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: frozenset[str] = PHOTO_FORMATS,
) -> ObjectMask | None:
    """The mask a request asks for (None for ``none``). ``photo`` is the photo as given (an
    ``alpha`` mask needs its transparency); ``picture``, if the caller has it already, is
    ``load_image(photo)``; ``model`` runs ``auto``."""
    mode = mask_mode(mode, mask_image)
    if mode == "none":
        return None
    if mode == "alpha":
        return alpha_mask(photo, max_pixels=max_pixels, formats=formats)
    if picture is None:
        picture = load_image(photo, max_pixels=max_pixels, formats=formats)
    if mode == "file":
        return file_mask(mask_image, picture.size, max_pixels=max_pixels, formats=formats)
    if model is None:
        model = SalientObjectModel()
    return ObjectMask("auto", model.mask(picture))


def mask_option(value: str, photo: ImageSource, picture: Image.Image,
                model_file: str | os.PathLike | None = None) -> ObjectMask | None:
    """The CLI's ``--mask none|alpha|auto|FILE``, resolved (and ``auto`` run) before any CLIP
    model loads, so a bad mask fails at once."""
    if value in NAMED_MASK_MODES:
        mode, mask_file = value, None
    else:
        mode, mask_file = "file", value
        if not os.path.isfile(mask_file):
            raise InputError(f"Mask image not found: {mask_file} (--mask takes none, alpha, "
                             "auto or the path of a mask image).", field="mask_image")
    model = SalientObjectModel(model_file) if mode == "auto" else None
    return object_mask(mode, photo, mask_file, model=model, picture=picture)
