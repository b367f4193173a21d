"""Start strokes for optimizer tests: no saliency model needed, the same shape as its output."""

from __future__ import annotations

import torch


def random_starts(counts, seeds, seed=0) -> dict[int, torch.Tensor]:
    """Short strokes scattered over the middle of the canvas, like the saliency init."""
    g = torch.Generator().manual_seed(seed)
    starts = {}
    for n in counts:
        first = 40 + torch.rand(seeds, n, 1, 2, generator=g) * 144
        walk = (torch.rand(seeds, n, 3, 2, generator=g) * 2 - 1) * 5.6
        starts[n] = torch.cat([first, first + walk.cumsum(2)], dim=2)
    return starts
