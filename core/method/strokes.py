"""Strokes: the thing the engine optimizes and every output is made from."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Strokes:
    """N cubic Bézier strokes on the square canvas, in canvas pixels (x right, y down).

    ``points`` is [N, 4, 2]; ``half_width`` (the stroke radius, px) and ``opacity`` are [N].
    """

    points: torch.Tensor
    half_width: torch.Tensor
    opacity: torch.Tensor

    def __post_init__(self) -> None:
        n = self.points.shape[0]
        if self.points.shape != (n, 4, 2):
            raise ValueError(f"points must be [N, 4, 2], got {list(self.points.shape)}")
        self.half_width = torch.as_tensor(self.half_width, dtype=self.points.dtype).expand(n)
        self.opacity = torch.as_tensor(self.opacity, dtype=self.points.dtype).expand(n)

    def __len__(self) -> int:
        return self.points.shape[0]

    def detached(self) -> Strokes:
        """A CPU copy with no autograd history: safe to keep as a 'best so far' snapshot."""
        return Strokes(
            self.points.detach().cpu().clone(),
            self.half_width.detach().cpu().clone(),
            self.opacity.detach().cpu().clone(),
        )
