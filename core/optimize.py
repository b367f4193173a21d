"""The CLIPasso optimization: every seed and every stroke count as one batch on the device."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch

from sketchify.core.config import Execution, SketchConfig
from sketchify.core.device_policy import autocast_dtype, channels_last, chunk_size, loss_scale
from sketchify.core.errors import SketchifyError
from sketchify.core.method.augment import augment_pair, sample_warps
from sketchify.core.method.losses import ClipLoss, Features
from sketchify.core.method.render import _rasterize
from sketchify.core.method.strokes import Strokes

# Stroke radius and opacity stay in ranges that still draw a visible, sane line.
HALF_WIDTH_RANGE = (0.25, 8.0)
OPACITY_RANGE = (0.0, 1.0)


@dataclass
class Sketch:
    """The best strokes of one run and its evaluation loss (lower is better)."""

    strokes: Strokes
    loss: float
    seed: int


@dataclass
class Progress:
    step: int
    total: int
    fraction: float
    # Mean loss terms of the latest evaluation step (every eval_every steps): reading them
    # every step would make a GPU wait for the host each step.
    losses: dict[str, float]
    elapsed_s: float
    eta_s: float
    best: dict[int, Strokes]


@dataclass
class Outcome:
    """``sketches``: the best seed per stroke count; ``runs``: every seed, in seed order;
    ``history``: (step, {count: [eval loss per seed]}) at each evaluation."""

    sketches: dict[int, Sketch]
    runs: dict[int, list[Sketch]]
    canceled: bool
    steps: int
    history: list[tuple[int, dict[int, list[float]]]] = field(default_factory=list)


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class _Runs:
    """The bookkeeping of one batch: run b is seed row b % seeds of group b // seeds."""

    groups: int
    seeds: int

    def __len__(self) -> int:
        return self.groups * self.seeds

    def of(self, b: int) -> tuple[int, int]:
        """(group index, seed row) of run b."""
        return divmod(b, self.seeds)

    def span(self, i: int) -> range:
        """The runs of group i, in seed order."""
        return range(i * self.seeds, (i + 1) * self.seeds)


@dataclass
class _Group:
    """All seeds of one stroke count: the parameters Adam moves, [S, n, 4, 2] and [S, n]."""

    count: int
    points: torch.Tensor
    half_width: torch.Tensor
    opacity: torch.Tensor

    def strokes(self, s: int) -> Strokes:
        return Strokes(self.points[s], self.half_width[s], self.opacity[s]).detached()


def _groups(starts: dict[int, torch.Tensor], config: SketchConfig, like: torch.Tensor
            ) -> list[_Group]:
    device, dtype = like.device, like.dtype
    groups = []
    for count in sorted(starts):
        points = starts[count].to(device=device, dtype=dtype).clone()
        if points.shape[1:] != (count, 4, 2) or points.shape[0] != config.seeds:
            raise ValueError(f"starts[{count}] must be [{config.seeds}, {count}, 4, 2]")
        shape = points.shape[:2]
        groups.append(
            _Group(
                count,
                points.requires_grad_(),
                torch.full(shape, config.half_width, device=device, dtype=dtype)
                .requires_grad_(config.optimize_width),
                torch.ones(shape, device=device, dtype=dtype)
                .requires_grad_(config.optimize_opacity),
            )
        )
    return groups


def _adam(groups: list[_Group], config: SketchConfig) -> torch.optim.Adam:
    # Adam is elementwise, so one optimizer over the batched tensors moves every run exactly
    # as its own optimizer would.
    params = [{"params": [g.points for g in groups], "lr": config.lr}]
    if config.optimize_width:
        params.append({"params": [g.half_width for g in groups], "lr": config.width_lr})
    if config.optimize_opacity:
        params.append({"params": [g.opacity for g in groups], "lr": config.opacity_lr})
    return torch.optim.Adam(params)


def optimize(
    model: torch.nn.Module,
    target: torch.Tensor,
    starts: dict[int, torch.Tensor],
    config: SketchConfig,
    *,
    progress: Callable[[Progress], None] | None = None,
    cancel: CancelToken | None = None,
    execution: Execution = Execution(),
    background: torch.Tensor | None = None,
) -> Outcome:
    """Optimize strokes so that ``model`` (a CLIP ResNet) sees ``target`` ([3, canvas, canvas]
    in [0, 1], on the model's device) in them. The strokes take the target's dtype: float32,
    or float64 (with a float64 model) where tests compare code paths beyond float32 rounding.

    ``starts`` maps each stroke count to its initial control points, one row per seed
    ([config.seeds, count, 4, 2], canvas px); seed row i is reported as ``config.seed + i``.
    ``execution``: CLIP's precision, memory layout and batch bound on the target's device.
    ``background`` ([canvas, canvas], 1 = paper): fixed ink every sketch is drawn over (the
    locked strokes of a start). The rasterizer composites strokes as a product, so multiplying
    by it is exactly drawing them with the others; a count may then have no strokes to move.
    """
    device = target.device
    autocast = autocast_dtype(execution.precision, device)
    loss_fn = ClipLoss(
        model,
        target,
        geometric_weights=config.geometric_weights,
        semantic_weight=config.semantic_weight,
        prompt=config.prompt,
        prompt_weight=config.prompt_weight,
        autocast=autocast,
        channels_last=channels_last(execution.channels_last, device),
    )
    groups = _groups(starts, config, target)
    adam = _adam(groups, config)
    index = _Runs(len(groups), config.seeds)
    runs = len(index)
    chunk = execution.max_batch or chunk_size(loss_fn, runs * (1 + config.augmentations))
    scale = loss_scale(autocast)
    best_loss = [math.inf] * runs
    best: list[Strokes | None] = [None] * runs
    stalled = [0] * runs
    active = [True] * runs
    warp_rng = torch.Generator().manual_seed(config.seed)
    history: list[tuple[int, dict[int, list[float]]]] = []
    losses: dict[str, float] = {}
    rows = _LiveRows(groups, index)
    movable = any(g.points.numel() for g in groups)
    started = time.perf_counter()
    step = 0

    while True:
        # Checked before any work: a cancel waits at most for the step in flight. Before the
        # first step it still evaluates the start, so there always is a best to return.
        canceled = cancel is not None and cancel.is_set()
        if canceled and step > 0:
            break
        # Nothing to move (every stroke locked): the start is evaluated, not optimized.
        final = canceled or step >= config.steps or not movable
        live = [b for b in range(runs) if active[b]]
        adam.zero_grad(set_to_none=True)
        with torch.set_grad_enabled(not final):
            sketches = _rasterize(rows.batches(live), config.canvas)
            if background is not None:
                sketches = sketches * background
            warps = [] if final else sample_warps(
                config.augmentations, config.canvas, warp_rng, config.distortion, config.crop_scale
            )
            sketch_views, photo_views = augment_pair(sketches, target, warps, loss_fn.size)
        terms = _view_terms(loss_fn, sketch_views, loss_fn.photo_views(photo_views), chunk,
                            train=not final, loss_scale=scale)

        if final or step % config.eval_every == 0:
            # The clean view (row 0) is the evaluation: no extra forward needed. Its values, the
            # progress report's mean terms and the finiteness check come back in one host sync;
            # the rasterizer's two (its flattening's segment count, its cull) are the others.
            values, means, finite = _read_back(terms, groups)
            if not (finite and all(map(math.isfinite, values))):
                raise SketchifyError(
                    f"The optimization diverged at step {step} (non-finite strokes or loss); "
                    "try a lower learning rate."
                )
            losses = means
            current = list(best_loss)
            for b, value in zip(live, values, strict=True):
                i, s = index.of(b)
                current[b] = value
                improved = best[b] is None or (
                    value < best_loss[b] - config.min_delta * abs(best_loss[b])
                )
                if value < best_loss[b]:
                    best_loss[b], best[b] = value, groups[i].strokes(s)
                stalled[b] = 0 if improved else stalled[b] + 1
                if config.patience is not None and stalled[b] >= config.patience:
                    active[b] = False
                    _freeze(adam, groups[i], s)
            history.append(
                (step, {g.count: [current[b] for b in index.span(i)]
                        for i, g in enumerate(groups)})
            )

        if final or not any(active):
            break
        adam.step()
        with torch.no_grad():
            for g in groups:
                g.half_width.clamp_(*HALF_WIDTH_RANGE)
                g.opacity.clamp_(*OPACITY_RANGE)
        step += 1

        if progress is not None:
            elapsed = time.perf_counter() - started
            progress(
                Progress(
                    step=step,
                    total=config.steps,
                    fraction=step / config.steps,
                    losses=dict(losses),
                    elapsed_s=elapsed,
                    eta_s=elapsed / step * (config.steps - step),
                    best={g.count: best[b] for g, b in _best_runs(groups, best_loss, index)},
                )
            )

    per_seed = {
        g.count: [
            Sketch(best[b], best_loss[b], config.seed + s) for s, b in enumerate(index.span(i))
        ]
        for i, g in enumerate(groups)
    }
    chosen = _best_runs(groups, best_loss, index)
    sketches = {g.count: per_seed[g.count][index.of(b)[1]] for g, b in chosen}
    return Outcome(sketches, per_seed, canceled, step, history)


def _view_terms(
    loss_fn: ClipLoss, views: torch.Tensor, photo: Features, chunk: int, train: bool,
    loss_scale: float = 1.0,
) -> dict[str, torch.Tensor]:
    """Loss terms [V, B] of the V * B view-major sketch views against the V photo views.

    With ``train``, also backpropagates sum over runs of the mean over views into whatever
    ``views`` came from. CLIP sees ``chunk`` images at a time and keeps only that chunk's
    activations: the gradients reach ``views`` through a detached copy, then flow on in one go.
    Each photo view's features are broadcast to its B sketch rows, never copied per row.
    """
    total_views = photo.rows
    runs = views.shape[0] // total_views
    leaf = views.detach().requires_grad_(train)
    parts = []
    for start in range(0, views.shape[0], chunk):
        stop = min(start + chunk, views.shape[0])
        with torch.set_grad_enabled(train):
            sketch = loss_fn.encode(leaf[start:stop])
            # The chunk's rows view by view, each against its one photo row.
            pieces = [
                loss_fn.terms(sketch.slice(max(start, v * runs) - start,
                                           min(stop, (v + 1) * runs) - start),
                              photo.row(v))
                for v in range(start // runs, (stop - 1) // runs + 1)
            ]
            terms = {k: torch.cat([p[k] for p in pieces]) for k in pieces[0]}
        if train:
            (terms["total"].sum() * (loss_scale / total_views)).backward()
        parts.append({k: v.detach() for k, v in terms.items()})
    if train:
        views.backward(leaf.grad / loss_scale if loss_scale != 1 else leaf.grad)
    return {k: torch.cat([p[k] for p in parts]).reshape(total_views, runs) for k in parts[0]}


def _read_back(
    terms: dict[str, torch.Tensor], groups: list[_Group]
) -> tuple[list[float], dict[str, float], bool]:
    """The clean view's total per live run, every term's mean over views and runs, and whether
    every stroke parameter is finite: one device-to-host copy."""
    finite = torch.stack([
        torch.isfinite(t).all() for g in groups for t in (g.points, g.half_width, g.opacity)
    ]).all()
    packed = torch.cat([terms["total"][0]] + [v.mean()[None] for v in terms.values()]
                       + [finite.to(terms["total"].dtype)[None]]).tolist()
    runs = terms["total"].shape[1]
    means = dict(zip(terms, packed[runs:-1], strict=True))
    return packed[:runs], means, bool(packed[-1])


def _freeze(adam: torch.optim.Adam, group: _Group, row: int) -> None:
    """Keep a stopped run where it is. It is rasterized no more, so its gradient stays zero
    from the next step on; clearing this step's gradient and its first moments makes Adam's
    update for it exactly zero instead of coasting on momentum."""
    for tensor in (group.points, group.half_width, group.opacity):
        if tensor.grad is not None:
            tensor.grad[row] = 0
        state = adam.state.get(tensor)
        if state:
            state["exp_avg"][row] = 0


class _LiveRows:
    """The live runs' parameters as rasterizer batches. The seed-row index of a group is built
    once per change of its live set (a host-to-device copy is a host sync on a GPU); a group
    whose seeds all run is passed whole, without indexing."""

    def __init__(self, groups: list[_Group], index: _Runs) -> None:
        self.groups, self.runs = groups, index
        self.index: dict[tuple[int, tuple[int, ...]], torch.Tensor] = {}

    def batches(self, live: list[int]) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        out = []
        for i, g in enumerate(self.groups):
            rows = tuple(s for group, s in map(self.runs.of, live) if group == i)
            if len(rows) == self.runs.seeds:
                out.append((g.points, g.half_width, g.opacity))
            elif rows:
                key = (i, rows)
                if key not in self.index:
                    self.index[key] = torch.tensor(rows, device=g.points.device)
                index = self.index[key]
                out.append((g.points[index], g.half_width[index], g.opacity[index]))
        return out


def _best_runs(groups: list[_Group], best_loss: list[float], index: _Runs):
    """(group, run index) of the lowest-loss seed of every stroke count."""
    for i, g in enumerate(groups):
        yield g, min(index.span(i), key=best_loss.__getitem__)
