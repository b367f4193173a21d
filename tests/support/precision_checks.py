"""What precision comparisons share (tests/engine/test_speed_paths.py, benchmarks/precision.py):
a random-weight CLIP ResNet made readable, and one real step's loss and stroke gradient.

open_clip's random init zeroes every residual branch's last BatchNorm and leaves the features
of all images nearly equal, so a loss on them is a near-cancellation that no precision
comparison could read. Calibrated, every stage passes on a normalized signal.
"""

from __future__ import annotations

import torch

from sketchify.core.clip.models import normalize
from sketchify.core.method.augment import Warp, augment_pair
from sketchify.core.method.losses import ClipLoss
from sketchify.core.method.render import _rasterize
from sketchify.core.optimize import _view_terms


def calibrate_batchnorm(model: torch.nn.Module, images: torch.Tensor) -> torch.nn.Module:
    """Reset every BatchNorm of ``model.visual`` to unit scale, zero shift and the statistics
    of ``images`` ([N, 3, S, S] in [0, 1]); returns ``model`` in eval mode, frozen."""
    for bn in model.visual.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            bn.reset_running_stats()
            bn.momentum = None  # a plain average over the calibration batch
            torch.nn.init.ones_(bn.weight)
            torch.nn.init.zeros_(bn.bias)
    model.visual.train()
    with torch.no_grad():
        model.visual(normalize(images, model))
    return model.eval().requires_grad_(False)


def step_loss_and_gradient(loss_fn: ClipLoss, target: torch.Tensor, points: torch.Tensor,
                           warps: list[Warp], scale: float) -> tuple[float, torch.Tensor]:
    """The engine's step at ``points`` ([S, n, 4, 2]) under ``warps``: the sum over runs of the
    mean loss over views, and its gradient with respect to the points."""
    points = points.clone().requires_grad_()
    width = torch.full(points.shape[:2], 1.5, device=points.device)
    sketches = _rasterize([(points, width, torch.ones_like(width))], 224)
    views, photo = augment_pair(sketches, target, warps, loss_fn.size)
    terms = _view_terms(loss_fn, views, loss_fn.photo_views(photo), 16, True, scale)
    return terms["total"].mean(0).sum().item(), points.grad
