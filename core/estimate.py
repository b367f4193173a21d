"""How long a sketch takes, from the measured cost of one sketch view in one step.

A step's work is nearly all CLIP forward and backward over the sketch views (every seed of
every stroke count, the clean view plus the augmented ones), so its time grows with that count.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

from sketchify.core.optimize import SketchConfig, optimize

# Steps timed by measure_step_cost after one warm-up step (first calls pay for allocation).
MEASURE_STEPS = 2


def views_per_step(config: SketchConfig, counts: Sequence[int]) -> int:
    """Sketch images CLIP encodes per step: runs x (the clean view + the augmentations)."""
    return len(counts) * config.seeds * (1 + config.augmentations)


def job_seconds(config: SketchConfig, counts: Sequence[int], step_cost_s: float) -> float:
    """Seconds for the whole optimization (an upper bound when a patience rule may stop it)."""
    return config.steps * views_per_step(config, counts) * step_cost_s


def measure_step_cost(sketcher: Any, counts: Sequence[int] = (16,)) -> float:
    """Seconds one sketch view costs per optimization step on ``sketcher``'s loaded models and
    device, timed on a few real steps of a synthetic target (the photo does not change it)."""
    size = 224
    target = torch.ones(3, size, size, device=sketcher.device)
    target[:, 60:160, 80:140] = 0.2
    generator = torch.Generator().manual_seed(0)
    starts = {n: 60 + 100 * torch.rand(1, n, 4, 2, generator=generator) for n in counts}
    config = SketchConfig(steps=1, seeds=1, augmentations=1, eval_every=1000)
    optimize(sketcher.loss_model, target, starts, config)  # warm-up
    timed = replace(config, steps=MEASURE_STEPS)
    begin = time.perf_counter()
    optimize(sketcher.loss_model, target, starts, timed)
    elapsed = time.perf_counter() - begin
    return elapsed / (MEASURE_STEPS * views_per_step(timed, counts))
