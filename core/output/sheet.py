"""`--sheet`: one PNG to look at before opening Inkscape.

Top row: the photo, then each stroke count's strokes alone; bottom row: the faded photo, then
each count's strokes over it. The strokes are drawn by the engine's own rasterizer (the one the
optimizer saw, anti-aliased), from the SVGs just written, so the sheet shows exactly those files
and needs nothing beyond what sketching needs.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from sketchify.core.method.render import rasterize
from sketchify.core.method.strokes import Strokes
from sketchify.core.output.svg import parse_svg

CELL = 256  # px: the longer side of every picture on the sheet
GAP = 8  # px between pictures and around them
LABEL = 18  # px of caption under each picture
FADE = 0.35  # how much of the photo shows under the strokes
TEXT = (60, 60, 60)
FRAME = (215, 215, 215)  # a thin line in the gap, so that strokes alone on white have an edge


def cell_size(width: int, height: int) -> tuple[int, int]:
    """The size of every picture on the sheet for a ``width`` x ``height`` photo."""
    scale = CELL / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def sheet_size(width: int, height: int, counts: int) -> tuple[int, int]:
    """The sheet's size for a ``width`` x ``height`` photo and ``counts`` stroke counts."""
    w, h = cell_size(width, height)
    return GAP + (1 + counts) * (w + GAP), GAP + 2 * (h + LABEL + GAP)


def ink(svg: str | bytes, size: tuple[int, int]) -> np.ndarray:
    """An SVG's strokes rasterized to ``size`` (w, h): float [h, w], 1 = paper, 0 = ink."""
    strokes, width, height = parse_svg(svg)
    return photo_ink(strokes, (width, height), size)


def photo_ink(strokes: Strokes, photo: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Strokes in the pixels of a ``photo`` (w, h) rasterized to ``size`` (w, h), as ``ink``."""
    w, h = size
    scale = torch.tensor([w / photo[0], h / photo[1]], dtype=torch.float64)
    image = rasterize((strokes.points.double() * scale).float(),
                      (strokes.half_width.double() * (w / photo[0])).float(),
                      strokes.opacity.float(), (h, w))
    return image.numpy()


def fade(pixels: np.ndarray) -> np.ndarray:
    """A photo's pixels (float, 0..255) faded towards white paper, for strokes to show on."""
    return pixels * FADE + 255 * (1 - FADE)


def make_sheet(photo: Image.Image, svgs: Mapping[int, str | bytes]) -> Image.Image:
    """The sheet of ``photo`` (RGB, as load_image gives it) and its sketches, by count."""
    w, h = cell_size(photo.width, photo.height)
    sheet = Image.new("RGB", sheet_size(photo.width, photo.height, len(svgs)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    small = np.asarray(photo.convert("RGB").resize((w, h), Image.Resampling.LANCZOS),
                       dtype=np.float32)
    faded = fade(small)

    def put(pixels: np.ndarray, column: int, row: int, caption: str) -> None:
        x, y = GAP + column * (w + GAP), GAP + row * (h + LABEL + GAP)
        sheet.paste(Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8)), (x, y))
        draw.rectangle((x - 1, y - 1, x + w, y + h), outline=FRAME)
        draw.text((x, y + h + 3), caption, fill=TEXT, font=font)

    put(small, 0, 0, "photo")
    put(faded, 0, 1, "faded photo")
    for column, count in enumerate(sorted(svgs), start=1):
        strokes = ink(svgs[count], (w, h))[..., None]
        put(np.repeat(255 * strokes, 3, axis=2), column, 0, f"{count} strokes")
        put(faded * strokes, column, 1, f"{count} strokes over the photo")
    return sheet


def sheet_png(photo: Image.Image, svgs: Mapping[int, str | bytes]) -> bytes:
    """:func:`make_sheet` as PNG bytes."""
    out = io.BytesIO()
    make_sheet(photo, svgs).save(out, format="PNG")
    return out.getvalue()
