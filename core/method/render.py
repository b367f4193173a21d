"""Differentiable rasterizer for black cubic Bézier strokes on white paper, in pure PyTorch.

Each cubic is flattened into a polyline. A pixel's ink coverage comes from the distance of its
centre to that polyline (so caps and joins are round), box-filtered over the pixel, and strokes
composite as ``prod_i (1 - opacity_i * coverage_i)``.

Culling: the canvas is cut into small tiles and only (stroke, tile) pairs whose tile lies near
the stroke are evaluated. ``rasterize_dense`` runs the very same code on one canvas-sized tile
paired with every stroke; it is the reference for tests and benchmarks.

Speed trick: the nearest polyline segment of each pixel is searched without autograd, then the
distance to that one segment is recomputed with autograd. The gradient of a minimum is the
gradient of its minimizer, and the position along the segment can stay fixed (the distance is
stationary in it), so the result and its gradient are those of the full computation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from sketchify.core.errors import InputError

TILE = 8  # px; tile side of the culled path
FLATNESS = 0.05  # px; largest allowed gap between a cubic and its polyline
MAX_SEGMENTS = 64  # per cubic, whatever the flatness asks for
SEARCH_CHUNK = 1 << 20  # elements of the [pairs, pixels, segments] search tensor at once


def rasterize(
    points: Tensor, half_width: Tensor | float, opacity: Tensor | float, size: int | Sequence[int]
) -> Tensor:
    """Render strokes to a grayscale image [..., H, W] (1 = white paper, 0 = black ink).

    ``points`` [..., N, 4, 2] are control points in canvas pixels (x right, y down, pixel
    centres at +0.5); ``half_width`` (stroke radius, px) and ``opacity`` (in [0, 1]) are
    [..., N] or broadcast to it; ``size`` is ``H`` (square) or ``(H, W)``. Differentiable
    with respect to points, half_width and opacity.
    """
    return _render(*_checked(points, half_width, opacity, size), cull=True)


def _rasterize(
    batches: Sequence[tuple[Tensor, Tensor, Tensor]], size: int
) -> Tensor:
    """:func:`rasterize` of several batches at once, without input validation (whose host syncs
    would stall every step): for callers that own their inputs.

    Each batch is (points [B_i, N_i, 4, 2], half_width [B_i, N_i], opacity [B_i, N_i]); the
    stroke counts N_i may differ. Returns the images of every batch in order,
    [sum B_i, size, size]. One call draws them all: on a GPU that is one host sync (the cull's
    pair count) and one set of kernel launches per step, not one per stroke count.
    """
    ctrl = torch.cat([p.reshape(-1, 4, 2) for p, _, _ in batches])
    radius = torch.cat([w.reshape(-1) for _, w, _ in batches])
    alpha = torch.cat([o.reshape(-1) for _, _, o in batches])
    item_of = _item_of([p.shape[:2] for p, _, _ in batches], ctrl.device)
    items = sum(p.shape[0] for p, _, _ in batches)
    return _draw(ctrl, radius, alpha, item_of, items, (size, size), cull=True)


def rasterize_dense(
    points: Tensor, half_width: Tensor | float, opacity: Tensor | float, size: int | Sequence[int]
) -> Tensor:
    """Same as :func:`rasterize`, evaluating every pixel against every segment (the reference)."""
    return _render(*_checked(points, half_width, opacity, size), cull=False)


def _render(points, half_width, opacity, size: tuple[int, int], cull: bool) -> Tensor:
    batch, n = points.shape[:-3], points.shape[-3]
    items = math.prod(batch)
    ctrl = points.reshape(-1, 4, 2)  # [S, 4, 2], one row per stroke of every batch item
    item_of = _item_of([(items, n)], ctrl.device)
    image = _draw(ctrl, half_width.reshape(-1), opacity.reshape(-1), item_of, items, size, cull)
    return image.reshape(*batch, *size)


def _item_of(shapes: Sequence[tuple[int, int]], device: torch.device) -> Tensor:
    """The image each stroke belongs to, for consecutive batches of (items, strokes each).
    Built on the device (a host-made tensor would cost a host sync on a GPU)."""
    parts, first = [], 0
    for items, n in shapes:
        parts.append(torch.arange(first, first + items, device=device).repeat_interleave(n))
        first += items
    return torch.cat(parts)


def _draw(ctrl, radius, alpha, item_of, items: int, size: tuple[int, int], cull: bool) -> Tensor:
    """Strokes ``ctrl`` [S, 4, 2] with ``radius`` and ``alpha`` [S], stroke s drawn on image
    ``item_of[s]`` of ``items``; returns [items, H, W]."""
    height, width = size
    basis = _basis(ctrl.detach())  # [S, K + 1, 4]
    tile = (TILE, TILE) if cull else (height, width)
    tiles = (math.ceil(height / tile[0]), math.ceil(width / tile[1]))

    with torch.no_grad():
        if cull:
            stroke, ty, tx = _pairs(ctrl, radius, basis, tile, tiles)
        else:
            stroke = torch.arange(ctrl.shape[0], device=ctrl.device)
            ty = tx = torch.zeros_like(stroke)
        # Everything is measured from the centre of the pair's tile: small numbers keep the
        # expanded-square distance search accurate in float32.
        centre = _tile_centres(tx, ty, tile, ctrl)
        offsets = _pixel_offsets(tile, ctrl)  # [M, 2]
        local = ctrl.detach()[stroke] - centre[:, None]
        seg, t, _ = _nearest(offsets, basis[stroke] @ local)
        own = stroke[:, None]
        weights = torch.lerp(basis[own, seg], basis[own, seg + 1], t[..., None])  # [P, M, 4]
        rows = (ty * tile[0])[:, None] + torch.arange(tile[0], device=ctrl.device)  # [P, th]
        cols = (tx * tile[1])[:, None] + torch.arange(tile[1], device=ctrl.device)  # [P, tw]
        padded = (tiles[0] * tile[0], tiles[1] * tile[1])
        item = item_of[stroke]
        index = (item[:, None, None] * padded[0] + rows[:, :, None]) * padded[1] + cols[:, None]

    nearest = weights @ (ctrl[stroke] - centre[:, None])  # [P, M, 2], differentiable
    dist = (offsets - nearest).square().sum(-1).clamp_min(1e-12).sqrt()
    factor = 1 - alpha[stroke, None] * _coverage(dist, radius[stroke, None])
    image = _Product.apply(factor.reshape(-1), index.reshape(-1), items * padded[0] * padded[1])
    return image.view(items, *padded)[:, :height, :width]


def _coverage(dist: Tensor, radius: Tensor) -> Tensor:
    """Fraction of a pixel inked by a stroke edge ``dist`` px away: the ink interval
    [dist - radius, dist + radius] box-filtered over the pixel [-0.5, 0.5]."""
    return ((dist + radius).clamp(max=0.5) - (dist - radius).clamp(min=-0.5)).clamp(min=0)


def _basis(ctrl: Tensor) -> Tensor:
    """Cubic Bernstein weights [S, K + 1, 4] flattening each stroke into its own number of
    segments, so that no polyline strays more than FLATNESS from its curve.

    |B''| <= 6 * max second difference of the control points, and a chord over a parameter
    step h deviates at most |B''| h^2 / 8 from the curve. Each stroke's count depends on that
    stroke alone (a batch never changes how a stroke is drawn); K is the largest, and a stroke
    that needs fewer repeats its end point, as zero-length segments.
    """
    second = (ctrl[:, :2] - 2 * ctrl[:, 1:3] + ctrl[:, 2:]).norm(dim=-1).amax(1)
    need = (0.75 * second / FLATNESS).sqrt().ceil()
    # Non-finite strokes come only from unchecked callers, which report them themselves.
    segments = torch.where(need.isfinite(), need, MAX_SEGMENTS).clamp(1, MAX_SEGMENTS)
    # The one value the host needs (a shape); on a GPU this is a sync.
    most = int(segments.max().item()) if len(ctrl) else 1
    steps = torch.arange(most + 1, dtype=ctrl.dtype, device=ctrl.device)
    u = (steps / segments[:, None]).clamp(max=1)[..., None]  # [S, K + 1, 1]
    v = 1 - u
    return torch.cat([v**3, 3 * u * v**2, 3 * u**2 * v, u**3], -1)


def _tile_centres(tx: Tensor, ty: Tensor, tile: tuple[int, int], like: Tensor) -> Tensor:
    """Canvas (x, y) of the centres of tiles (ty, tx), [P, 2]."""
    th, tw = tile
    return torch.stack([tx * tw + tw / 2, ty * th + th / 2], -1).to(like)


def _pixel_offsets(tile: tuple[int, int], like: Tensor) -> Tensor:
    """Pixel centres of a tile relative to the tile's centre, row-major, [th * tw, 2] (x, y)."""
    ys, xs = (torch.arange(s, dtype=like.dtype, device=like.device) + (0.5 - s / 2) for s in tile)
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)


def _nearest(offsets: Tensor, poly: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """For points ``offsets`` [M, 2] and polylines ``poly`` [P, K + 1, 2]: the index of the
    nearest segment, the position on it in [0, 1] and the squared distance, each [P, M]."""
    poly = poly.transpose(0, 1)  # segments first: reductions over them run along whole rows
    a, e = poly[:-1], poly.diff(dim=0)  # segment starts and directions, [K, P, 2]
    ee = e.square().sum(-1)
    inv_ee = 1 / ee.clamp_min(1e-20)  # a zero-length segment is its start point
    # |p - a|^2 and the unclamped position (p - a).e / |e|^2 for all pairs as one matmul:
    # coefficients @ [x, y, 1, x^2 + y^2].
    one, zero = torch.ones_like(ee), torch.zeros_like(ee)
    coef = torch.cat(
        [
            torch.stack([-2 * a[..., 0], -2 * a[..., 1], a.square().sum(-1), one], -1),
            torch.stack([e[..., 0], e[..., 1], -(a * e).sum(-1), zero], -1) * inv_ee[..., None],
        ]
    )  # [2K, P, 4]
    feats = torch.cat([offsets, torch.ones_like(offsets[:, :1]), offsets.square().sum(-1, True)], 1)
    k, pairs = ee.shape
    step = max(1, SEARCH_CHUNK // max(1, offsets.shape[0] * k))
    found, nearest = [], []
    for lo in range(0, max(1, pairs), step):
        part = coef[:, lo : lo + step]
        vv, tau = (part.reshape(-1, 4) @ feats.T).view(2 * k, part.shape[1], len(feats)).split(k)
        t = tau.clamp(0, 1)  # [K, p, M]
        # |p - a - t e|^2 = |p - a|^2 + |e|^2 t (t - 2 tau)
        d2 = vv.addcmul_(tau.mul_(-2).add_(t).mul_(t), ee[:, lo : lo + step, None])
        # The polyline parameter (segment + t) of the nearest point; amin/amax over the
        # leading dimension are far faster than argmin.
        at = t.add_(torch.arange(k, dtype=t.dtype, device=t.device)[:, None, None])
        nearest.append(d2.amin(0))
        found.append(at.masked_fill_(d2 != nearest[-1], -1).amax(0))
    at = torch.cat(found)
    seg = at.long().clamp_(max=k - 1)
    return seg, at - seg, torch.cat(nearest)


def _pairs(ctrl, radius, basis, tile, tiles) -> tuple[Tensor, Tensor, Tensor]:
    """(stroke, tile row, tile column) of every tile that the stroke may ink."""
    th, tw = tile
    reach = radius.clamp(min=0) + 1  # coverage vanishes beyond radius + 0.5 from the curve
    span = torch.stack([ctrl.amin(1), ctrl.amax(1)], 1)  # [S, 2 (lo/hi), 2 (x/y)]
    span = span + torch.stack([-reach, reach], 1)[..., None]
    span = torch.stack([span[..., 0] / tw, span[..., 1] / th], -1)  # in tiles
    first = span[:, 0].floor().clamp(-1, max(tiles) + 1).long()
    last = span[:, 1].floor().clamp(-1, max(tiles) + 1).long()
    ty = torch.arange(tiles[0], device=ctrl.device)[:, None]
    tx = torch.arange(tiles[1], device=ctrl.device)
    hit = (
        (tx >= first[:, None, None, 0])
        & (tx <= last[:, None, None, 0])
        & (ty >= first[:, None, None, 1])
        & (ty <= last[:, None, None, 1])
    )  # [S, tiles_y, tiles_x] from bounding boxes
    stroke, ty, tx = hit.nonzero(as_tuple=True)
    # Keep the tiles whose centre is near the polyline, not merely near the bounding box.
    centre = _tile_centres(tx, ty, tile, ctrl)
    *_, gap = _nearest(centre.new_zeros(1, 2), basis[stroke] @ (ctrl[stroke] - centre[:, None]))
    # (reach has half a pixel to spare for the rounding of the expanded-square search)
    near = gap[:, 0].clamp(min=0).sqrt() <= reach[stroke] + math.hypot(th - 1, tw - 1) / 2
    return stroke[near], ty[near], tx[near]


class _Product(torch.autograd.Function):
    """``out[j] = prod of factors[i] over index[i] == j``, summed in log space, with exact zeros
    and finite gradients: a zero factor contributes through a zero count, not ``log(0)``."""

    @staticmethod
    def forward(ctx, factors: Tensor, index: Tensor, numel: int) -> Tensor:
        zero = factors == 0
        logs = torch.where(zero, 1, factors).log()
        log_sum = _sum_at(index, logs, numel)
        zeros = _sum_at(index, zero.to(factors.dtype), numel)
        ctx.save_for_backward(index, logs, zero, log_sum, zeros)
        return log_sum.exp() * (zeros == 0)

    @staticmethod
    def backward(ctx, grad: Tensor):
        index, logs, zero, log_sum, zeros = ctx.saved_tensors
        # d out / d factor_i = product of the other factors at the same pixel
        others = (log_sum[index] - logs).exp() * (zeros[index] == zero)
        return grad[index] * others, None, None


def _sum_at(index: Tensor, values: Tensor, numel: int) -> Tensor:
    """``out[j] = sum of values[i] over index[i] == j``, in the same order on every run."""
    out = values.new_zeros(numel)
    if values.is_cuda:  # CUDA's index_add_ adds in a racy order; this path sorts first
        return out.index_put_((index,), values, accumulate=True)
    return out.index_add_(0, index, values)


def _checked(points, half_width, opacity, size):
    """Validate and broadcast the inputs; one clear InputError per problem."""
    if not isinstance(points, Tensor) or not points.is_floating_point():
        raise InputError("points must be a floating-point tensor", field="points")
    if points.ndim < 3 or points.shape[-2:] != (4, 2):
        raise InputError(
            f"points must have shape [..., N, 4, 2], got {list(points.shape)}", field="points"
        )
    if isinstance(size, int):
        size = (size, size)
    if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise InputError(f"size must be a positive int or (height, width), got {size}", "size")
    shape = points.shape[:-2]
    named = {"points": points}
    for name, value in (("half_width", half_width), ("opacity", opacity)):
        value = torch.as_tensor(value, dtype=points.dtype, device=points.device)
        try:
            named[name] = value.broadcast_to(shape)
        except RuntimeError:
            raise InputError(
                f"{name} of shape {list(value.shape)} does not broadcast to {list(shape)}", name
            ) from None
    for name, value in named.items():
        if not torch.isfinite(value).all():
            raise InputError(f"{name} contains NaN or infinite values", field=name)
    if (named["half_width"] < 0).any():
        raise InputError("half_width must not be negative", field="half_width")
    if ((named["opacity"] < 0) | (named["opacity"] > 1)).any():
        raise InputError("opacity must lie in [0, 1]", field="opacity")
    return named["points"], named["half_width"], named["opacity"], tuple(size)
