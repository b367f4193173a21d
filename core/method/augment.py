"""Paired augmentation: the sketch and the photo warped by the very same random parameters.

CLIPasso compares sketch and photo under random perspective + crop so the strokes cannot
fool CLIP with pixel-exact adversarial patterns. Every batch member is an independent
optimization, so one draw of K warps per step is shared by the whole batch: the photo needs
only K forwards per step however many seeds and stroke counts run together.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
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


def warp_grids(warps: list[Warp], size: int, like: torch.Tensor) -> torch.Tensor:
    """grid_sample grids [K, size, size, 2] of the warps' perspectives, as torchvision's
    perspective() builds them, but for all K at once: the K homographies travel to the device
    in one non-blocking copy, where torchvision makes three blocking copies per call (each a
    host sync on a GPU)."""
    corners = [[0, 0], [size - 1, 0], [size - 1, size - 1], [0, size - 1]]
    # Columns: x and y numerators (already scaled to grid_sample's [-1, 1] + 1) and the
    # common denominator, as functions of (x, y, 1) at the output pixel centres.
    scale = torch.tensor([2 / size, 2 / size, 1], dtype=torch.float64)
    homographies = torch.stack([
        _homography(corners, w.endpoints).T * scale for w in warps
    ]).to(like.dtype)
    if like.is_cuda:
        homographies = homographies.pin_memory()
    homographies = homographies.to(like.device, non_blocking=True)
    centres = _pixel_centres(size, like.device, like.dtype)  # [size * size, 3]
    projected = centres @ homographies  # [K, size * size, 3]
    grid = projected[..., :2] / projected[..., 2:] - 1
    return grid.view(len(warps), size, size, 2)


def _homography(start: list[list[int]], end: list[list[int]]) -> torch.Tensor:
    """The 3 x 3 map from output pixels to input pixels that takes ``end`` to ``start``: the
    coefficients torchvision's perspective() solves for (the same 8 x 8 system)."""
    rows, rhs = [], []
    for (sx, sy), (ex, ey) in zip(start, end, strict=True):
        rows.append([ex, ey, 1, 0, 0, 0, -sx * ex, -sx * ey])
        rows.append([0, 0, 0, ex, ey, 1, -sy * ex, -sy * ey])
        rhs += [sx, sy]
    coeffs = torch.linalg.solve(
        torch.tensor(rows, dtype=torch.float64), torch.tensor(rhs, dtype=torch.float64)
    )
    return torch.cat([coeffs, coeffs.new_ones(1)]).view(3, 3)


@functools.lru_cache(maxsize=8)
def _pixel_centres(size: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(x, y, 1) at every pixel centre, row-major: the same for every step, so made once."""
    axis = torch.arange(size, dtype=dtype, device=device) + 0.5
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xs, ys, torch.ones_like(xs)], -1).view(-1, 3)


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

    Each warp is a perspective (bilinear; what comes from outside the canvas is black, 0, in
    the sketch and the photo alike, as the reference's RandomPerspective(fill=0): both views
    get the same dark border, so it adds nothing to the loss but the shape), then a square
    crop resized to ``out_size`` (antialiased), as torchvision's resized_crop.
    """
    batch, size = sketches.shape[0], sketches.shape[-1]
    clean = resize(sketches[:, None], out_size)
    if not warps:
        return clean, image.new_empty(0, 3, out_size, out_size)
    # The sketches and the photo are channels of one image, so each warp samples them in one
    # pass; grid_sample's zero padding is the black fill.
    both = torch.cat([sketches, image]).expand(len(warps), -1, -1, -1)
    warped = F.grid_sample(both, warp_grids(warps, size, sketches), mode="bilinear",
                           padding_mode="zeros", align_corners=False)
    views = [
        resize(warped[k:k + 1, :, w.top:w.top + w.side, w.left:w.left + w.side], out_size)[0]
        for k, w in enumerate(warps)
    ]  # [B + 3, S, S] each
    sketch_views = torch.cat([clean] + [v[:batch, None] for v in views])
    return sketch_views, torch.stack([v[batch:] for v in views])
