"""The one mapping between the square optimization canvas and the source image's pixels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for hints: `sketchify --help` and the HTTP front start without torch
    import torch


@dataclass(frozen=True)
class Placement:
    """An image of ``width`` x ``height`` pixels padded with white to a centred square of
    ``side = max(width, height)`` pixels, then scaled to a ``canvas`` x ``canvas`` square.

    Coordinates are continuous, x right and y down, with pixel centres at +0.5 in both
    spaces, so the map is a plain scale and offset and is exact both ways.
    """

    width: int
    height: int
    canvas: int = 224

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1 or self.canvas < 1:
            raise ValueError(f"invalid placement {self.width}x{self.height} on {self.canvas}")

    @property
    def side(self) -> int:
        return max(self.width, self.height)

    @property
    def pad(self) -> tuple[int, int]:
        """White pixels added on the left and on the top of the image."""
        return (self.side - self.width) // 2, (self.side - self.height) // 2

    @property
    def scale(self) -> float:
        """Canvas pixels per image pixel."""
        return self.canvas / self.side

    def to_canvas(self, points: torch.Tensor) -> torch.Tensor:
        """Image pixels [..., 2] -> canvas pixels [..., 2]."""
        offset = points.new_tensor(self.pad)
        return (points + offset) * self.scale

    def to_image(self, points: torch.Tensor) -> torch.Tensor:
        """Canvas pixels [..., 2] -> image pixels [..., 2]."""
        offset = points.new_tensor(self.pad)
        return points / self.scale - offset
