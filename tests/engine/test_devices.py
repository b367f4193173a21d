"""The engine on every device this machine has (tests/support/devices.py): on a GPU,
`pytest tests/engine -k cuda` runs the CUDA cases (the GPU call in docs/development.md)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from devices import DEVICES
from stroke_starts import random_starts

from sketchify.core.config import preset, resolved_precision
from sketchify.core.engine import Sketcher
from sketchify.core.method.render import rasterize
from sketchify.core.output.svg import parse_svg

CAT = Path(__file__).parents[2] / "examples" / "cat.jpg"


def drawn(points: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The image of ``points`` and the gradient of a fixed weighting of its pixels."""
    points = points.clone().requires_grad_()
    image = rasterize(points, 1.5, 1.0, 224)
    (image * weights.to(image)).sum().backward()
    return image.detach().cpu().double(), points.grad.cpu().double()


@pytest.mark.parametrize("device", DEVICES)
def test_the_rasterizer_on_the_device_matches_float64_on_the_cpu(device):
    points = random_starts((16,), 3, seed=5)[16]
    weights = torch.rand(3, 224, 224, generator=torch.Generator().manual_seed(6))
    exact_image, exact_grad = drawn(points.double(), weights.double())
    image, grad = drawn(points.to(device), weights)
    assert (image - exact_image).abs().max() < 1e-5
    assert (grad - exact_grad).norm() / exact_grad.norm() < 1e-4


@pytest.mark.parametrize("device", DEVICES)
def test_a_sketch_runs_on_the_device(device, tiny_models):
    sketcher = Sketcher(device, str(tiny_models.loss_config), str(tiny_models.loss_weights),
                        str(tiny_models.saliency_config), str(tiny_models.saliency_weights))
    result = sketcher.sketch(CAT, (4, 8), preset("standard", steps=3, seeds=2))
    assert result.settings["precision"] == resolved_precision("auto", device)
    for count in (4, 8):
        strokes, _, _ = parse_svg(result.svg(count))
        assert len(strokes) == count
        assert torch.isfinite(strokes.points).all()
        assert math.isfinite(result.sketches[count].loss)
