"""The engine's faster paths compute what the plain ones do: the folded loss network, channels
last, the batched warps and rasterizer calls, and float16 autocast (within the published bar;
docs/precision.md has bfloat16's figures).

Speed itself is measured by benchmarks/step.py, never asserted here.
"""

from __future__ import annotations

import copy
from pathlib import Path

import open_clip
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from devices import DEVICES
from open_clip.modified_resnet import AttentionPool2d
from precision_checks import calibrate_batchnorm, step_loss_and_gradient
from stroke_starts import random_starts

from sketchify.core.clip.fast_resnet import ClassTokenPool, fold_loss_model
from sketchify.core.config import STAGES, Execution, SketchConfig, resolved_precision
from sketchify.core.device_policy import FP16_LOSS_SCALE, autocast_dtype
from sketchify.core.method.augment import augment_pair, sample_warps
from sketchify.core.method.losses import EXACT_STAGES, ClipLoss
from sketchify.core.method.render import _rasterize, rasterize
from sketchify.core.optimize import optimize
from sketchify.core.photo.image import load_image
from sketchify.core.photo.target import make_target

CAT = Path(__file__).parents[2] / "examples" / "cat.jpg"



@pytest.fixture(scope="module")
def target() -> torch.Tensor:
    return make_target(load_image(CAT)).image


@pytest.fixture(scope="module")
def calibrated(tiny_models, target) -> torch.nn.Module:
    """The tiny loss model (unfolded) with BatchNorm statistics of real-looking inputs."""
    model = open_clip.create_model(tiny_models.loss_config.stem)
    model.load_state_dict(torch.load(tiny_models.loss_weights, weights_only=True))
    sketches = rasterize(random_starts((16,), 4, seed=5)[16], 1.5, 1.0, 224)
    images = torch.cat([target[None], sketches[:, None].expand(-1, 3, -1, -1),
                        torch.rand(3, 3, 224, 224, generator=torch.Generator().manual_seed(1))])
    return calibrate_batchnorm(model, images)


def stage_outputs(visual, x: torch.Tensor) -> list[torch.Tensor]:
    outs = []
    for name in STAGES:
        x = getattr(visual, name)(x)
        outs.append(x)
    return [*outs, visual.attnpool(x)]


def test_folding_keeps_the_function(calibrated):
    plain = copy.deepcopy(calibrated).double()
    folded = fold_loss_model(copy.deepcopy(calibrated).double())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.visual.modules())
    assert isinstance(folded.visual.attnpool, ClassTokenPool)
    x = torch.rand(2, 3, 224, 224, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    inputs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    outs = [stage_outputs(m.visual, i) for m, i in zip((plain, folded), inputs, strict=True)]
    for a, b in zip(*outs, strict=True):
        assert a.abs().max() > 0.1  # calibrated: nothing vanishes
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-9 * a.abs().max().item())
    for out in outs:
        sum((o * torch.linspace(-1, 1, o.numel(), dtype=o.dtype).view_as(o)).sum()
            for o in out).backward()
    torch.testing.assert_close(inputs[1].grad, inputs[0].grad, rtol=1e-9, atol=1e-12)
    # Folding twice changes nothing more.
    state = {k: v.clone() for k, v in folded.state_dict().items()}
    fold_loss_model(folded)
    assert all(torch.equal(v, folded.state_dict()[k]) for k, v in state.items())


def test_class_token_pool_is_the_attention_pool_output():
    torch.manual_seed(0)
    pool = AttentionPool2d(7, 64, 4, 32).double()
    x = torch.randn(3, 64, 7, 7, dtype=torch.float64)
    torch.testing.assert_close(ClassTokenPool(pool)(x), pool(x), rtol=1e-10, atol=1e-12)


def test_channels_last_is_the_same_loss_and_gradient(calibrated, target):
    model = fold_loss_model(copy.deepcopy(calibrated))
    views = rasterize(random_starts((8,), 3)[8], 1.5, 1.0, 224)[:, None]
    results = []
    for channels_last in (False, True):
        loss = ClipLoss(model, target, channels_last=channels_last)
        conv = model.visual.layer2[0].conv2.weight
        assert conv.is_contiguous(memory_format=torch.channels_last) == channels_last
        leaf = views.clone().requires_grad_()
        total = loss.terms(loss.encode(leaf), loss.clean)["total"]
        total.sum().backward()
        results.append((total.detach(), leaf.grad))
    (a, ga), (b, gb) = results
    # float32 with another summation order: the loss agrees to rounding.
    torch.testing.assert_close(b, a, rtol=1e-4, atol=0)
    assert F.cosine_similarity(ga.flatten(), gb.flatten(), dim=0) > 0.9999


def test_warps_are_torchvisions_perspective_and_crop():
    g = torch.Generator().manual_seed(0)
    sketches = torch.rand(2, 224, 224, generator=g)
    photo = torch.rand(3, 224, 224, generator=g)
    warps = sample_warps(4, 224, torch.Generator().manual_seed(0))
    sketch_views, photo_views = augment_pair(sketches, photo, warps, 224)
    corners = [[0, 0], [223, 0], [223, 223], [0, 223]]

    def reference(images, w):
        warped = TF.perspective(images, corners, w.endpoints)
        return TF.resized_crop(warped, w.top, w.left, w.side, w.side, [224, 224], antialias=True)

    expected = torch.cat([sketches[:, None]] + [reference(sketches[:, None], w) for w in warps])
    # torchvision rounds the homography to float32 before building the grid, we after: the
    # sampling points differ by ~1e-5 px, the pixels of this noise by up to ~1e-4.
    torch.testing.assert_close(sketch_views, expected, rtol=0, atol=2e-4)
    torch.testing.assert_close(photo_views, torch.stack([reference(photo, w) for w in warps]),
                               rtol=0, atol=2e-4)


def test_one_rasterize_call_draws_each_batch_as_alone():
    starts = random_starts((3, 8), 2, seed=4)
    batches = [(p, torch.full(p.shape[:2], 1.5), torch.full(p.shape[:2], 0.8))
               for p in starts.values()]
    together = _rasterize(batches, 64)
    alone = torch.cat([_rasterize([b], 64) for b in batches])
    assert together.shape == (4, 64, 64) and together.min() < 0.5
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("strokes", "seeds", "augmentations"), [(16, 3, 4), (16, 1, 1), (8, 2, 2)],
                         ids=["paper", "draft", "small"])
def test_fp16_autocast_matches_fp32_over_three_steps(calibrated, target, device, strokes, seeds,
                                                     augmentations):
    model = fold_loss_model(copy.deepcopy(calibrated)).to(device)
    target = target.to(device)
    dtype = autocast_dtype("fp16", torch.device(device))
    exact = ClipLoss(model, target)
    mixed = ClipLoss(model, target, autocast=dtype)
    # Along float32's own trajectory, the paper's batch and the draft preset's.
    points = random_starts((strokes,), seeds)[strokes].to(device).requires_grad_()
    adam = torch.optim.Adam([points], lr=1.0)
    rng = torch.Generator().manual_seed(0)
    for _ in range(3):
        warps = sample_warps(augmentations, 224, rng)
        loss, grad = step_loss_and_gradient(exact, target, points.detach(), warps, 1.0)
        loss16, grad16 = step_loss_and_gradient(mixed, target, points.detach(), warps,
                                                FP16_LOSS_SCALE)
        assert loss16 == pytest.approx(loss, rel=0.01)
        assert F.cosine_similarity(grad.flatten(), grad16.flatten(), dim=0) >= 0.99
        assert grad16.norm() == pytest.approx(grad.norm().item(), rel=0.05)  # scale undone
        points.grad = grad
        adam.step()


@pytest.mark.parametrize("kept", [0, EXACT_STAGES, 3])
def test_autocast_keeps_the_first_stages_in_fp32(calibrated, target, kept):
    model = fold_loss_model(copy.deepcopy(calibrated))
    loss = ClipLoss(model, target, autocast=torch.bfloat16, exact_stages=kept)
    seen = {}

    def record(name):
        def hook(module, args, out) -> None:
            seen.setdefault(name, out.dtype)
        return hook

    # The stem is a method; its last module is the average pool.
    modules = [model.visual.avgpool, *(getattr(model.visual, name) for name in STAGES[1:])]
    hooks = [module.register_forward_hook(record(name))
             for name, module in zip(STAGES, modules, strict=True)]
    try:
        features = loss.encode(torch.rand(2, 1, 224, 224))
    finally:
        for hook in hooks:
            hook.remove()
    assert seen == {name: torch.float32 if i < kept else torch.bfloat16
                    for i, name in enumerate(STAGES)}
    # The losses are reduced in float32 whatever the network ran in.
    assert {s.dtype for s in features.stages} == {features.embedding.dtype} == {torch.float32}


def test_fp16_optimization_ends_where_fp32_does(calibrated, target):
    model = fold_loss_model(copy.deepcopy(calibrated))
    config = SketchConfig(steps=3, seeds=2, augmentations=1, eval_every=1)
    starts = random_starts((8,), 2)
    exact = optimize(model, target, starts, config)
    mixed = optimize(model, target, starts, config, execution=Execution(precision="fp16"))
    for a, b in zip(exact.runs[8], mixed.runs[8], strict=True):
        assert b.loss == pytest.approx(a.loss, rel=0.01)
    assert [s for s, _ in mixed.history] == [0, 1, 2, 3]


def test_auto_precision_and_layout_follow_the_device():
    assert autocast_dtype("auto", torch.device("cpu")) is None  # the CPU keeps IEEE float32
    assert autocast_dtype("auto", torch.device("cuda")) is torch.float16
    assert autocast_dtype("auto", torch.device("mps")) is None
    assert autocast_dtype("fp16", torch.device("cpu")) is torch.float16
    assert [resolved_precision(p, d) for p, d in [("auto", "cpu"), ("auto", "cuda:1"),
                                                 ("fp32", "cuda"), ("fp16", "cpu")]] == [
        "fp32", "fp16", "fp32", "fp16"]


def test_progress_reads_the_losses_back_at_evaluations_only(tiny_models, target):
    from sketchify.core.clip.models import load_clip

    model = load_clip(str(tiny_models.loss_config), str(tiny_models.loss_weights))
    reports = []
    config = SketchConfig(steps=5, seeds=1, augmentations=1, eval_every=2)
    optimize(model, target, random_starts((4,), 1), config, progress=reports.append)
    losses = [r.losses for r in reports]  # after steps 1..5; evaluations at steps 0, 2, 4
    assert losses[0] == losses[1] and losses[2] == losses[3] and losses[4] != losses[3]
    assert losses[0] != losses[2] and set(losses[0]) == {"geometric", "semantic", "total"}
