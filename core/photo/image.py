"""Reading user images safely: decoded once, EXIF applied, format and size checked."""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from sketchify.core.config import PHOTO_FORMATS
from sketchify.core.errors import InputError

# Enough for a 50-megapixel camera; below Pillow's own bomb limit so ours speaks first.
DEFAULT_MAX_PIXELS = 50_000_000

WHITE = (255, 255, 255)


def load_image(
    source: str | os.PathLike | bytes | Image.Image,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: frozenset[str] = PHOTO_FORMATS,
) -> Image.Image:
    """Open a photo from a path, raw bytes or a Pillow image and return it as RGB.

    The format and the pixel count are checked from the header, before any pixel is decoded.
    EXIF orientation is applied; transparency (alpha, LA, palette transparency) is composited
    on white; animated images give their first frame. Bad input raises ``InputError``.
    """
    img = open_image(source, max_pixels=max_pixels, formats=formats)
    try:
        return _to_rgb_on_white(img)
    except Exception as exc:  # Pillow's decoders raise many types for damaged data.
        raise _undecodable(exc) from exc


def open_image(
    source: str | os.PathLike | bytes | Image.Image,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: frozenset[str] = PHOTO_FORMATS,
) -> Image.Image:
    """The checked, decoded image with its EXIF orientation applied, in its own mode (an alpha
    channel is kept: ``alpha`` masks read it). ``InputError`` (field ``image``) as
    ``load_image``."""
    if isinstance(source, Image.Image):
        img = source
        _check_size(img, max_pixels)
    else:
        img = _open(source, max_pixels, formats)
    try:
        img.load()
        return ImageOps.exif_transpose(img)
    except Exception as exc:  # Pillow's decoders raise many types for damaged data.
        raise _undecodable(exc) from exc


def check_header(path: str | os.PathLike) -> None:
    """Whether the file is an image Sketchify reads, from its header alone (format, pixel
    count; nothing decoded): ``InputError`` as ``load_image``."""
    _open(path, DEFAULT_MAX_PIXELS, PHOTO_FORMATS).close()


def oriented_size(path: str | os.PathLike) -> tuple[int, int]:
    """The photo's width and height after its EXIF orientation, from its header alone."""
    with _open(path, DEFAULT_MAX_PIXELS, PHOTO_FORMATS) as img:
        turned = img.getexif().get(0x0112) in (5, 6, 7, 8)  # the quarter turns
        return (img.height, img.width) if turned else img.size


def _undecodable(exc: Exception) -> InputError:
    return InputError(
        f"The image could not be decoded; the file is truncated or damaged ({exc}).",
        field="image",
    )


def _open(source: str | os.PathLike | bytes, max_pixels: int, formats: frozenset[str]):
    if isinstance(source, bytes | bytearray | memoryview):
        if not source:
            raise InputError("The image is empty (0 bytes).", field="image")
        fp = io.BytesIO(source)
    else:
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise InputError(f"Image file not found: {path}.", field="image")
        fp = path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(fp)
    except UnidentifiedImageError as exc:
        raise InputError(
            "The data is not an image Sketchify can read "
            f"(supported formats: {_format_list(formats)}).",
            field="image",
        ) from exc
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise InputError(
            f"The image is too large to process safely ({exc}).", field="image"
        ) from exc
    except OSError as exc:
        raise InputError(f"The image could not be read ({exc}).", field="image") from exc
    if img.format not in formats:
        raise InputError(
            f"Unsupported image format {img.format}; use one of {_format_list(formats)}.",
            field="image",
        )
    _check_size(img, max_pixels)
    return img


def _check_size(img: Image.Image, max_pixels: int) -> None:
    width, height = img.size
    if width < 1 or height < 1:
        raise InputError(f"The image has no pixels ({width}x{height}).", field="image")
    if width * height > max_pixels:
        raise InputError(
            f"The image is {width}x{height} pixels, more than the limit of "
            f"{max_pixels / 1e6:g} megapixels.",
            field="image",
        )


def _format_list(formats: frozenset[str]) -> str:
    return ", ".join(sorted(formats))


def has_alpha(img: Image.Image) -> bool:
    """Whether the image has transparency: an alpha band, or palette/colour-key transparency."""
    return "A" in img.getbands() or "a" in img.getbands() or "transparency" in img.info


def _to_rgb_on_white(img: Image.Image) -> Image.Image:
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        # 16-bit grey: Pillow's RGB conversion would clip it instead of scaling it.
        grey = np.asarray(img, dtype=np.float64) * (255.0 / 65535.0)
        img = Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8), mode="L")
    if not has_alpha(img):
        return img.convert("RGB")
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (*WHITE, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")
