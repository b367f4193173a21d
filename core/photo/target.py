"""The photo on the optimizer's canvas: placed on a white square (``Placement`` keeps the way
back to the photo's pixels) and resampled; with an object mask, its background turned white
first and the mask carried onto the canvas, where it says where strokes may start."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from PIL import Image

from sketchify.core.errors import InputError
from sketchify.core.photo.geometry import Placement
from sketchify.core.photo.image import WHITE
from sketchify.core.photo.mask import ObjectMask


@dataclass(frozen=True)
class Target:
    """The photo as the optimizer sees it.

    ``image`` is float32 [3, canvas, canvas] in [0, 1], RGB on white; ``placement`` maps canvas
    pixels back to the photo's own pixels. ``mask``, when an object mask was given, is float32
    [canvas, canvas], 1 where the canvas pixel's centre lies on the object (its background is
    already white in ``image``).
    """

    image: torch.Tensor
    placement: Placement
    mask: torch.Tensor | None = None


def make_target(picture: Image.Image, canvas: int = 224, *,
                mask: ObjectMask | None = None) -> Target:
    """The picture (RGB, from ``load_image``) on the canvas: with a ``mask``, its background
    turned white first and the mask carried onto the canvas (``InputError`` when the object is
    too small to hold a single canvas pixel)."""
    if mask is None:
        return _placed(picture, canvas)
    target = _placed(on_white(picture, mask), canvas)
    grid = canvas_mask(mask, target.placement)
    if not grid.any():
        raise _too_small(mask, canvas)
    return replace(target, mask=grid)


def _placed(img: Image.Image, canvas: int) -> Target:
    """Pad ``img`` to a white centred square exactly as ``Placement`` defines it and resample
    it to ``canvas`` x ``canvas`` pixels with an antialiasing filter."""
    placement = Placement(img.width, img.height, canvas)
    side = placement.side
    # Shrink huge photos by an integer factor first so the padded square stays small in memory.
    # Shifting the photo by the remainder of its pad makes the reduction grid start at the padded
    # square's corner, so reduced pixel i covers square pixels [i*f, (i+1)*f): an exact 1/f scale.
    factor = max(1, side // (4 * canvas))
    (left, shift_x), (top, shift_y) = (divmod(p, factor) for p in placement.pad)
    shifted = Image.new(
        "RGB",
        (_round_up(shift_x + img.width, factor), _round_up(shift_y + img.height, factor)),
        WHITE,
    )
    shifted.paste(img.convert("RGB"), (shift_x, shift_y))
    square = Image.new("RGB", (math.ceil(side / factor),) * 2, WHITE)
    square.paste(shifted.reduce(factor), (left, top))
    box = (0.0, 0.0, side / factor, side / factor)
    resized = square.resize((canvas, canvas), Image.Resampling.LANCZOS, box=box)
    pixels = np.asarray(resized, dtype=np.float32) / 255.0
    image = torch.from_numpy(pixels).permute(2, 0, 1).contiguous()
    return Target(image=image, placement=placement)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def on_white(picture: Image.Image, mask: ObjectMask) -> Image.Image:
    """The RGB picture with every background pixel white, as the reference does."""
    _check_size(mask, picture.size)
    keep = Image.fromarray(mask.pixels.astype(np.uint8) * 255, mode="L")
    return Image.composite(picture.convert("RGB"), Image.new("RGB", picture.size, WHITE), keep)


def canvas_mask(mask: ObjectMask, placement: Placement) -> torch.Tensor:
    """float32 [canvas, canvas]: 1 where the canvas pixel's centre falls on an object pixel of
    the photo. Exactly the test a stroke's first point (a canvas pixel centre) must pass when it
    is mapped back to the photo with ``placement``; the white padding is never the object."""
    c = placement.canvas
    centres = np.arange(c, dtype=np.float64) + 0.5
    pad_x, pad_y = placement.pad
    cols = np.floor(centres / placement.scale - pad_x).astype(np.int64)
    rows = np.floor(centres / placement.scale - pad_y).astype(np.int64)
    in_x = (cols >= 0) & (cols < placement.width)
    in_y = (rows >= 0) & (rows < placement.height)
    grid = np.zeros((c, c), dtype=bool)
    grid[np.ix_(in_y, in_x)] = mask.pixels[np.ix_(rows[in_y], cols[in_x])]
    return torch.from_numpy(grid.astype(np.float32))


def check_fits(mask: ObjectMask, size: tuple[int, int], canvas: int = 224) -> None:
    """Everything ``make_target`` would refuse of a mask, without building the target (for servers
    that check a request before storing it)."""
    _check_size(mask, size)
    if not canvas_mask(mask, Placement(size[0], size[1], canvas)).any():
        raise _too_small(mask, canvas)


def _too_small(mask: ObjectMask, canvas: int) -> InputError:
    return InputError(f"The object in the mask is too small to sketch: it covers no pixel of "
                      f"the {canvas} px canvas the photo is scaled to.", field=mask.field)


def _check_size(mask: ObjectMask, size: tuple[int, int]) -> None:
    if mask.size != tuple(size):
        width, height = mask.size
        raise InputError(f"The mask is {width}x{height} pixels but the photo is "
                         f"{size[0]}x{size[1]}.", field=mask.field)
