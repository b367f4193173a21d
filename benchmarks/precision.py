"""How close CLIP under bfloat16 autocast comes to float32, for each number of leading ResNet
stages kept in float32, over 3 real optimization steps on several photos and batch shapes.

The bar (the one float16 autocast was accepted under, tests/engine/test_speed_paths.py): at
every step, the loss within 1 % of float32's and
the stroke gradient's cosine to float32's >= 0.99. The steps follow float32's own trajectory
(Adam on its gradient), so each step compares both precisions at the same strokes.

Without --weights: the REAL RN101 architecture with RANDOM weights whose BatchNorm statistics
are measured on the photos and their sketches (tests/support/precision_checks.py): the same
compute as the released weights, their numerics only approximately; a proxy. Float16 and
float64 are compared too, to show how sensitive to rounding the model at hand is.

    python benchmarks/precision.py           # RN101: every photo x shape x variant
    python benchmarks/precision.py --weights openai   # the released weights, where they exist
    python benchmarks/precision.py --shapes draft 8x2x3 --photos cat   # a subset
    python benchmarks/precision.py --speed --shapes paper draft --photos astronaut
                                             # instead: seconds per step, fp32 vs bfloat16
    python benchmarks/precision.py --tiny    # the suite's tiny models: a check of this script
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from PIL import Image
from skimage import data

from sketchify.core.clip.models import load_clip
from sketchify.core.config import STAGES
from sketchify.core.device_policy import FP16_LOSS_SCALE
from sketchify.core.method.augment import sample_warps
from sketchify.core.method.losses import ClipLoss
from sketchify.core.photo.image import load_image
from sketchify.core.photo.target import make_target

sys.path.insert(0, str(Path(__file__).parent.parent / "tests" / "support"))
from precision_checks import step_loss_and_gradient
from step import EXAMPLES, calibrated, cpu_flags, cpu_name, starts_for
from tiny_models import make_tiny_models

# name: (strokes, seeds, augmentations)
SHAPES = {"paper": (16, 3, 4), "draft": (16, 1, 1), "8x2x3": (8, 2, 2), "32x1x2": (32, 1, 1)}
STEPS = 3
LOSS_BAR, COSINE_BAR = 0.01, 0.99


def photos(directory: Path) -> dict[str, torch.Tensor]:
    """The examples and two scikit-image photos as the engine's 224 px targets."""
    paths = sorted(EXAMPLES.glob("*.jpg"))
    for name in ("coffee", "rocket"):
        path = directory / f"{name}.png"
        Image.fromarray(getattr(data, name)()).save(path)
        paths.append(path)
    return {p.stem: make_target(load_image(p)).image for p in paths}


def loss_model(args: argparse.Namespace, targets: list[torch.Tensor], directory: Path
               ) -> torch.nn.Module:
    """RN101 with ``--weights`` as the engine loads it, or RN101 (the tiny ResNet) with random
    weights, calibrated on the targets and sketches, then folded as the engine loads it."""
    if args.weights:
        return load_clip("RN101", args.weights, role="loss")
    if args.tiny:
        made = make_tiny_models(directory)
        model = open_clip.create_model(made.loss_config.stem)
        model.load_state_dict(torch.load(made.loss_weights, weights_only=True))
    else:
        torch.manual_seed(0)  # the same random weights every run
        model = open_clip.create_model("RN101")
    return calibrated(model, torch.stack(targets))


def label(kept: int) -> str:
    return "bf16 everywhere" if kept == 0 else f"bf16, fp32 to {STAGES[kept - 1]}"


def variants(model: torch.nn.Module, target: torch.Tensor
             ) -> dict[str, tuple[ClipLoss, torch.dtype, float]]:
    """Label: the loss, the dtype of its strokes and target, its loss scale. Besides bfloat16
    with 0 to 4 leading stages in float32: float16 as CUDA runs it, and float64 (float32's own
    rounding seen from above: the floor under any comparison with float32)."""
    out = {}
    for k in range(len(STAGES)):
        out[label(k)] = (ClipLoss(model, target, autocast=torch.bfloat16, exact_stages=k,
                               channels_last=True), torch.float32, 1.0)
    out["fp16, fp32 stem (CUDA's)"] = (ClipLoss(model, target, autocast=torch.float16,
                                               channels_last=True), torch.float32, FP16_LOSS_SCALE)
    wide = copy.deepcopy(model).double()
    out["fp64"] = (ClipLoss(wide, target.double()), torch.float64, 1.0)
    return out


def compare(model: torch.nn.Module, target: torch.Tensor, shape: tuple[int, int, int]
            ) -> dict[str, tuple[float, float]]:
    """Per variant: the worst loss difference (relative) and the lowest stroke-gradient cosine
    to float32 over the steps."""
    strokes, seeds, augmentations = shape
    exact = ClipLoss(model, target, channels_last=True)
    others = variants(model, target)
    points = starts_for((strokes,), seeds, torch.Generator().manual_seed(strokes))[strokes]
    points.requires_grad_()
    adam = torch.optim.Adam([points], lr=1.0)
    rng = torch.Generator().manual_seed(0)
    worst = {label: (0.0, 1.0) for label in others}
    for _ in range(STEPS):
        warps = sample_warps(augmentations, 224, rng)
        loss, grad = step_loss_and_gradient(exact, target, points.detach(), warps, 1.0)
        for label, (loss_fn, dtype, scale) in others.items():
            low, low_grad = step_loss_and_gradient(loss_fn, target.to(dtype),
                                                   points.detach().to(dtype), warps, scale)
            cosine = F.cosine_similarity(grad.flatten(), low_grad.flatten().float(), dim=0)
            difference = abs(low - loss) / abs(loss)
            worst[label] = (max(worst[label][0], difference), min(worst[label][1], cosine.item()))
        points.grad = grad
        adam.step()
    return worst


def speed(model: torch.nn.Module, target: torch.Tensor, rounds: int, shapes: list[str]
          ) -> None:
    """Seconds of one step (rasterize, augment, photo views, CLIP forward and backward) of
    ``shapes``, float32 against bfloat16 everywhere, with the stem and
    layer1, and with everything up to layer3 kept in float32; the variants interleaved round
    by round, so a machine shared with other work slows each alike."""
    variants = {"fp32": ClipLoss(model, target, channels_last=True)}
    for k in (0, 2, 4):
        variants[label(k)] = ClipLoss(
            model, target, autocast=torch.bfloat16, exact_stages=k, channels_last=True)
    for name in shapes:
        strokes, seeds, augmentations = SHAPES[name]
        points = starts_for((strokes,), seeds, torch.Generator().manual_seed(1))[strokes]
        warps = sample_warps(augmentations, 224, torch.Generator().manual_seed(0))
        times: dict[str, list[float]] = {variant: [] for variant in variants}
        for round_ in range(rounds + 1):
            for variant, loss_fn in variants.items():
                began = time.perf_counter()
                step_loss_and_gradient(loss_fn, target, points, warps, 1.0)
                if round_:  # the first round pays for first-call allocations
                    times[variant].append(time.perf_counter() - began)
        print(f"{name} step ({strokes} strokes x {seeds} seeds x {1 + augmentations} views), "
              f"median of {rounds} interleaved rounds; per round fp32 / variant:")
        for variant, values in times.items():
            ratios = [a / b for a, b in zip(times["fp32"], values, strict=True)]
            print(f"    {variant:24s} {statistics.median(values):7.3f} s  x"
                  f"{statistics.median(ratios):.2f} (" + ", ".join(f"{r:.2f}" for r in ratios)
                  + ")", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny models: a smoke test")
    parser.add_argument("--weights", metavar="TAG|FILE",
                        help="RN101's real weights (a pretrained tag such as openai, or a "
                             "checkpoint file) instead of the random-weight proxy")
    parser.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES),
                        help="strokes x seeds x views per case (default: all)")
    parser.add_argument("--photos", nargs="+", help="photo names (default: all)")
    parser.add_argument("--speed", action="store_true",
                        help="time steps instead (the first photo given); RANDOM weights have "
                             "the same compute as real ones")
    parser.add_argument("--rounds", type=int, default=5, help="--speed's rounds")
    args = parser.parse_args()
    print((f"REAL RN101 weights ({args.weights})." if args.weights else
           "TINY random models: a check of this script, no figure means anything."
           if args.tiny else "REAL RN101 architecture, RANDOM calibrated weights (a proxy).")
          + f"\n{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; torch {torch.__version__}; "
          f"CPU: {cpu_name()}; flags: {cpu_flags()}; "
          f"load average {os.getloadavg()[0]:.1f}")
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        targets = photos(Path(tmp))
        unknown = sorted(set(args.photos or ()) - set(targets))
        if unknown:
            parser.error(f"unknown photo {', '.join(unknown)}; choose from "
                         f"{', '.join(targets)}")
        model = loss_model(args, list(targets.values()), Path(tmp))
    chosen = {p: t for p, t in targets.items() if not args.photos or p in args.photos}
    if args.speed:
        speed(model, next(iter(chosen.values())), args.rounds, args.shapes)
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
        return
    print(f"against float32, {STEPS} steps; per case the worst step: loss difference % / "
          f"stroke-gradient cosine; shapes are strokes x seeds x views (clean + augmented)")
    worst: dict[str, tuple[float, float]] = {}
    for photo, target in chosen.items():
        for name in args.shapes:
            strokes, seeds, augmentations = SHAPES[name]
            result = compare(model, target, SHAPES[name])
            print(f"  {photo} {strokes}x{seeds}x{1 + augmentations}:", flush=True)
            for label, (d, c) in result.items():
                print(f"    {label:28s} {100 * d:8.3f} % {c:8.4f}", flush=True)
                old = worst.get(label, (0.0, 1.0))
                worst[label] = (max(old[0], d), min(old[1], c))
    print("all cases, worst:")
    for label, (d, c) in worst.items():
        print(f"    {label:28s} {100 * d:8.3f} % {c:8.4f}")
    passing = [label for label, (d, c) in worst.items()
               if d <= LOSS_BAR and c >= COSINE_BAR]
    print(f"meets the bar (loss within {100 * LOSS_BAR:g} %, cosine >= {COSINE_BAR}) on every "
          f"case: {', '.join(passing) or 'none'}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}; took "
          f"{time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
