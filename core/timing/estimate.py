"""How long a sketch takes, from the measured cost of one sketch view in one step.

A step's work is nearly all CLIP forward and backward over the sketch views (every seed of
every stroke count, the clean view plus the augmented ones), so its time grows with that count.
The per-view cost still depends a little on the batch's shape (the photo's own augmented views
and batch efficiency are shared by all its sketch views), so it is measured on the shape of
the job a device runs by default.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

from sketchify.core.config import Execution, SketchConfig, preset
from sketchify.core.optimize import optimize

# A job of this many steps or more replaces a device's step cost; a shorter one (noisier, and
# more of it spent starting) moves the figure only part of the way.
FULL_WEIGHT_STEPS = 50
# Steps timed by measure_step_cost, after one step that pays for first-call allocations.
MEASURE_STEPS = 2


def views_per_step(config: SketchConfig, counts: Sequence[int]) -> int:
    """Sketch images CLIP encodes per step: runs x (the clean view + the augmentations)."""
    return len(counts) * config.seeds * (1 + config.augmentations)


def job_seconds(config: SketchConfig, counts: Sequence[int], step_cost_s: float) -> float:
    """Seconds for the whole optimization (an upper bound when a patience rule may stop it)."""
    return config.steps * views_per_step(config, counts) * step_cost_s


def measure_step_cost(
    sketcher: Any, counts: Sequence[int] = (16,), config: SketchConfig | None = None,
    execution: Execution = Execution(),
) -> float:
    """Seconds one sketch view costs per optimization step on ``sketcher``'s loaded models and
    device, timed on a few real steps of a synthetic target (the photo does not change it).

    The steps have the seeds and augmentations of ``config``, by default the preset ``auto``
    picks for the device (draft on a CPU, standard on a GPU), run as ``execution`` says (a
    job's estimate follows the precision it runs in), and only the time between steps counts: not
    the setup, the first step or the final evaluation.
    """
    device = torch.device(sketcher.device)
    shape = config or preset("auto", device)
    size = 224
    target = torch.ones(3, size, size, device=device)
    target[:, 60:160, 80:140] = 0.2
    generator = torch.Generator().manual_seed(0)
    starts = {n: 60 + 100 * torch.rand(shape.seeds, n, 4, 2, generator=generator)
              for n in counts}
    timed = replace(shape, steps=1 + MEASURE_STEPS, eval_every=1000, patience=None)
    marks: list[float] = []

    def mark(_progress) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        marks.append(time.perf_counter())

    optimize(sketcher.loss_model, target, starts, timed, progress=mark, execution=execution)
    step_s = statistics.median(b - a for a, b in itertools.pairwise(marks))
    return step_s / views_per_step(timed, counts)


def refreshed(old: float | None, measured: float, steps: int) -> float:
    """A device's step cost after a job that measured ``measured`` over ``steps`` steps."""
    if old is None:
        return measured
    weight = min(1.0, steps / FULL_WEIGHT_STEPS)
    return (1 - weight) * old + weight * measured
