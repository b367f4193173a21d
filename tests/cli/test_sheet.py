"""The `--sheet` PNG: its layout, and ink exactly where the strokes are."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from sketchify.core.method.strokes import Strokes
from sketchify.core.output.sheet import (
    CELL,
    FADE,
    GAP,
    LABEL,
    cell_size,
    make_sheet,
    sheet_png,
    sheet_size,
)
from sketchify.core.output.svg import to_svg
from sketchify.core.photo.geometry import Placement

WIDTH, HEIGHT = 400, 200  # a photo twice as wide as high


def line(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    """A straight cubic from (x0, y0) to (x1, y1), in photo pixels."""
    return [[x0 + (x1 - x0) * t, y0 + (y1 - y0) * t] for t in (0, 1 / 3, 2 / 3, 1)]


def svg_of(curves: list, width: float = 6.0) -> str:
    """An SVG of ``curves`` over the photo, with SVG stroke ``width`` in photo pixels."""
    placement = Placement(WIDTH, HEIGHT)
    points = placement.to_canvas(torch.tensor(curves, dtype=torch.float64))
    return to_svg(Strokes(points, width / 2 * placement.scale, 1.0), placement)


@pytest.fixture
def photo() -> Image.Image:
    # Mid grey: the faded photo and the ink on it are both told apart from white paper.
    return Image.new("RGB", (WIDTH, HEIGHT), (100, 100, 100))


def cell(sheet: np.ndarray, column: int, row: int) -> np.ndarray:
    w, h = cell_size(WIDTH, HEIGHT)
    x, y = GAP + column * (w + GAP), GAP + row * (h + LABEL + GAP)
    return sheet[y:y + h, x:x + w]


def test_the_layout_is_two_rows_of_the_photo_and_each_count(photo):
    assert cell_size(WIDTH, HEIGHT) == (CELL, CELL // 2)
    assert cell_size(300, 451) == (170, CELL)
    svgs = {n: svg_of([line(50, 50, 350, 150)] * n) for n in (4, 8, 16)}
    image = Image.open(io.BytesIO(sheet_png(photo, svgs)))
    assert image.format == "PNG" and image.mode == "RGB"
    assert image.size == sheet_size(WIDTH, HEIGHT, 3) == (GAP + 4 * (CELL + GAP),
                                                         GAP + 2 * (CELL // 2 + LABEL + GAP))


def test_ink_lies_where_the_strokes_are(photo):
    # Count 1: a horizontal stroke across the middle; count 2: also a vertical one at x = 300.
    across = line(40, 100, 360, 100)
    svgs = {1: svg_of([across]), 2: svg_of([across, line(300, 20, 300, 180)])}
    sheet = np.asarray(make_sheet(photo, svgs), dtype=np.float32)
    scale = CELL / WIDTH  # sheet pixels per photo pixel

    def at(x: float, y: float) -> tuple[int, int]:
        return round(y * scale), round(x * scale)

    photo_cell, faded = cell(sheet, 0, 0), cell(sheet, 0, 1)
    assert np.allclose(photo_cell, 100)
    assert np.allclose(faded, 100 * FADE + 255 * (1 - FADE), atol=1)
    for column in (1, 2):
        alone, over = cell(sheet, column, 0), cell(sheet, column, 1)
        assert alone[at(200, 100)].max() < 40  # on the stroke: black
        assert over[at(200, 100)].max() < 40
        assert alone[at(200, 40)].min() == 255  # off every stroke: paper
        assert np.allclose(over[at(200, 40)], faded[at(200, 40)], atol=1)  # the faded photo
        # The stroke's end caps are round and 3 px in radius: nothing past them.
        assert alone[at(380, 100)].min() == 255
    assert cell(sheet, 1, 0)[at(300, 50)].min() == 255  # one stroke only
    assert cell(sheet, 2, 0)[at(300, 50)].max() < 40  # the vertical one too
    assert cell(sheet, 2, 0)[at(200, 100)].max() < 40
    # Ink covers a line 6 photo px wide: about (320 x 6) photo px of the strokes-alone cell.
    dark = (cell(sheet, 1, 0).mean(axis=2) < 128).sum()
    assert dark == pytest.approx(320 * 6 * scale * scale, rel=0.15)
