"""Paired augmentation: the sketch and the photo warped by the very same random parameters.

CLIPasso compares sketch and photo under random perspective + crop so the strokes cannot
fool CLIP with pixel-exact adversarial patterns. Every batch member is an independent
optimization, so one draw of K warps per step is shared by the whole batch: the photo needs
only K forwards per step however many seeds and stroke counts run together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torchvision.transforms.v2.functional as TF


@dataclass(frozen=True)
class Warp:
    """One RandomPerspective (corner displacement) followed by one square RandomResizedCrop."""

    endpoints: list[list[int]]
    top: int
    left: int
    side: int


def sample_warps(
    k: int,
    size: int,
    generator: torch.Generator,
    distortion: float = 0.5,
    scale: tuple[float, float] = (0.8, 0.8),
) -> list[Warp]:
    """Draw ``k`` warps for a ``size`` x ``size`` canvas, with the distributions of torchvision's
    RandomPerspective(distortion, p=1) and RandomResizedCrop(scale, ratio=(1, 1)), but from
    ``generator`` so runs are reproducible without touching the global RNG."""

    def randint(low: int, high: int) -> int:
        return int(torch.randint(low, high, (1,), generator=generator))

    bound = int(distortion * (size // 2)) + 1
    far = size - bound
    warps = []
    for _ in range(k):
        endpoints = [
            [randint(0, bound), randint(0, bound)],
            [randint(far, size), randint(0, bound)],
            [randint(far, size), randint(far, size)],
            [randint(0, bound), randint(far, size)],
        ]
        area = float(torch.empty(()).uniform_(scale[0], scale[1], generator=generator))
        side = min(size, round(math.sqrt(area) * size))
        top, left = randint(0, size - side + 1), randint(0, size - side + 1)
        warps.append(Warp(endpoints, top, left, side))
    return warps


def apply_warp(images: torch.Tensor, warp: Warp, out_size: int) -> torch.Tensor:
    """Warp [..., C, H, W] images (differentiably). Areas pulled in from outside the canvas are
    black (0), in the sketch and the photo alike, as the reference's RandomPerspective(fill=0)
    does: both views get the same dark border, so it adds nothing to the loss but the shape."""
    size = images.shape[-1]
    corners = [[0, 0], [size - 1, 0], [size - 1, size - 1], [0, size - 1]]
    # No fill argument: torchvision's fill path works in place and breaks autograd, while its
    # default zero padding is the black fill itself.
    warped = TF.perspective(images, corners, warp.endpoints)
    return TF.resized_crop(
        warped, warp.top, warp.left, warp.side, warp.side, [out_size, out_size], antialias=True
    )


def resize(images: torch.Tensor, out_size: int) -> torch.Tensor:
    """Canvas -> model input size (a no-op when they agree, as for the real models)."""
    if images.shape[-1] == out_size:
        return images
    return TF.resize(images, [out_size, out_size], antialias=True)


def augment_pair(
    sketches: torch.Tensor,
    image: torch.Tensor,
    warps: list[Warp],
    out_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Views for one step: the clean pair first, then one pair per warp.

    ``sketches`` [B, H, W] (grayscale canvases), ``image`` [3, H, W], both in [0, 1].
    Returns sketch views [(1 + K) * B, 1, S, S] (view-major) and photo views [K, 3, S, S] for
    the warps only (the clean photo view does not change between steps), still in [0, 1].
    """
    gray = sketches[:, None]
    sketch_views = [resize(gray, out_size)] + [apply_warp(gray, w, out_size) for w in warps]
    if not warps:
        return torch.cat(sketch_views), image.new_empty(0, 3, out_size, out_size)
    return torch.cat(sketch_views), torch.stack([apply_warp(image, w, out_size) for w in warps])
