"""A start's strokes on the optimization canvas: the locked ones drawn once as a fixed
background, the free ones as start rows, and the pixels no given stroke covers (where new
strokes start)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from sketchify.core.given.strokes import GivenStroke, Start
from sketchify.core.method.render import rasterize
from sketchify.core.method.strokes import Strokes
from sketchify.core.paths import cubics
from sketchify.core.photo.geometry import Placement


@dataclass(frozen=True)
class GivenOnCanvas:
    """``background`` [canvas, canvas] (1 = paper): the locked strokes, None when none is;
    ``free`` [F, 4, 2] canvas px, float32, in the given order; ``uncovered`` [canvas, canvas]
    bool: the pixels no given stroke inks; ``given`` and ``locked``: how many strokes."""

    background: torch.Tensor | None
    free: torch.Tensor
    uncovered: torch.Tensor
    given: int
    locked: int


def with_widths(start: Start, placement: Placement, half_width: float) -> Start:
    """``start`` with every stroke's width said: the sketch's own (``half_width`` at the canvas)
    where none was given, in photo px."""
    width = 2 * half_width / placement.scale
    return Start(tuple(s if s.width is not None else replace(s, width=width)
                       for s in start.strokes))


def photo_strokes(strokes: Sequence[GivenStroke]) -> Strokes | None:
    """Given strokes (every width said) as rows of cubics in photo px, float64, opaque: one
    row per segment; None for none."""
    rows = [(c, s.width) for s in strokes for c in cubics(s.segments)]
    if not rows:
        return None
    return Strokes(torch.tensor([c for c, _ in rows], dtype=torch.float64),
                   torch.tensor([w for _, w in rows], dtype=torch.float64) / 2, 1.0)


def place(start: Start, placement: Placement) -> GivenOnCanvas:
    """``start`` (every width said, see ``with_widths``) on ``placement``'s canvas. Drawn in
    float64 and once, without autograd: nothing about them moves."""
    canvas = placement.canvas

    def draw(strokes: Sequence[GivenStroke]) -> torch.Tensor | None:
        in_photo = photo_strokes(strokes)
        if in_photo is None:
            return None
        points = placement.to_canvas(in_photo.points)
        with torch.no_grad():
            return rasterize(points, in_photo.half_width * placement.scale, 1.0, canvas)

    free = [torch.tensor(s.cubic(), dtype=torch.float64) for s in start.free]
    free_points = (placement.to_canvas(torch.stack(free)).float() if free
                   else torch.zeros(0, 4, 2))
    background = draw(start.locked)
    everything = draw(start.strokes)
    uncovered = (torch.ones(canvas, canvas, dtype=torch.bool) if everything is None
                 else everything >= 1)
    return GivenOnCanvas(background, free_points, uncovered, len(start), len(start.locked))
