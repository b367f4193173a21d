"""The measured step cost and the job times computed from it (tiny models: the mechanics,
never a time; benchmarks/step.py compares the estimate with measured steps)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from sketchify.core.clip.models import load_clip
from sketchify.core.config import Execution, preset
from sketchify.core.timing.estimate import (
    MEASURE_STEPS,
    job_seconds,
    measure_step_cost,
    views_per_step,
)


def test_views_and_job_seconds():
    standard = preset("standard")
    assert views_per_step(standard, (16,)) == 3 * 5
    assert views_per_step(standard, (4, 8, 16, 32)) == 4 * 3 * 5
    assert views_per_step(preset("draft"), (16,)) == 1 * 2
    assert job_seconds(standard, (16,), 0.01) == pytest.approx(2000 * 15 * 0.01)


@pytest.fixture(scope="module")
def sketcher(tiny_models):
    model = load_clip(str(tiny_models.loss_config), str(tiny_models.loss_weights))
    return SimpleNamespace(device=torch.device("cpu"), loss_model=model)


def sketch_batches(model, run) -> list[int]:
    """Batch sizes of the sketch views CLIP encoded with gradients while ``run`` ran."""
    sizes = []
    hook = model.visual.conv1.register_forward_hook(
        lambda module, args, out: sizes.append(args[0].shape[0]) if out.requires_grad else None
    )
    try:
        run()
    finally:
        hook.remove()
    return sizes


def test_step_cost_is_measured_on_the_devices_default_job(sketcher):
    costs = []
    sizes = sketch_batches(sketcher.loss_model,
                           lambda: costs.append(measure_step_cost(sketcher)))
    draft = preset("auto", "cpu")  # what a CPU runs by default
    assert sizes == [views_per_step(draft, (16,))] * (1 + MEASURE_STEPS)
    assert costs[0] > 0 and math.isfinite(costs[0])


def test_step_cost_of_a_given_shape(sketcher):
    config = preset("standard", seeds=2, augmentations=1)
    sizes = sketch_batches(sketcher.loss_model,
                           lambda: measure_step_cost(sketcher, (4, 8), config))
    assert sizes == [views_per_step(config, (4, 8))] * (1 + MEASURE_STEPS)


@pytest.mark.parametrize(("precision", "dtype"), [("auto", torch.float32),
                                               ("fp32", torch.float32),
                                               ("fp16", torch.float16)])
def test_step_cost_is_measured_in_the_precision_the_job_runs(sketcher, precision, dtype):
    seen = set()
    hook = sketcher.loss_model.visual.layer3.register_forward_hook(
        lambda module, args, out: seen.add(out.dtype))
    try:
        measure_step_cost(sketcher, execution=Execution(precision=precision))
    finally:
        hook.remove()
    assert seen == {dtype}
