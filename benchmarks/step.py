"""Time of one CLIPasso optimization step, and batched runs against sequential ones.

Uses the REAL model sizes (RN101 loss model, ViT-B-32 saliency model) with RANDOM weights,
created by open_clip, saved to a file and loaded through the engine's own loader: the compute
is that of the real models, the sketches are meaningless.

    python benchmarks/step.py                 # per-step split + batched vs sequential
    python benchmarks/step.py --draft         # also: the draft preset end to end (~3 min CPU)
    python benchmarks/step.py --device cuda   # one device only (default: cpu, and cuda if any)
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import open_clip
import torch

from sketchify.core.augment import augment_pair, sample_warps
from sketchify.core.engine import Sketcher
from sketchify.core.image import load_image, make_target
from sketchify.core.losses import ClipLoss
from sketchify.core.models import load_clip
from sketchify.core.optimize import SketchConfig, optimize
from sketchify.core.presets import preset
from sketchify.core.render import rasterize

EXAMPLES = Path(__file__).parent.parent / "examples"
COUNTS = (4, 8, 16, 32)
SEEDS = 3


def random_weights(directory: Path, name: str) -> Path:
    path = directory / f"{name}-random.pt"
    torch.save(open_clip.create_model(name).state_dict(), path)
    return path


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def starts_for(counts, seeds, generator) -> dict[int, torch.Tensor]:
    """Short strokes spread over the canvas, shaped like the saliency initialization."""
    out = {}
    for n in counts:
        first = 20 + torch.rand(seeds, n, 1, 2, generator=generator) * 184
        walk = (torch.rand(seeds, n, 3, 2, generator=generator) * 2 - 1) * 5.6
        out[n] = torch.cat([first, first + walk.cumsum(2)], dim=2)
    return out


def step_split(model, target, starts, config: SketchConfig, device, repeats: int) -> dict:
    """Seconds per step spent in each stage (median over ``repeats`` after one warm-up)."""
    loss = ClipLoss(model, target, geometric_weights=config.geometric_weights,
                    semantic_weight=config.semantic_weight)
    rng = torch.Generator().manual_seed(0)
    params = [s.to(device).requires_grad_() for s in starts.values()]
    times: dict[str, list[float]] = {"rasterize": [], "augment": [], "loss forward": [],
                                     "backward": []}
    marks: list[float] = []

    def mark() -> None:
        sync(device)
        marks.append(time.perf_counter())

    for _ in range(repeats + 1):
        marks.clear()
        mark()
        sketches = torch.cat([
            rasterize(p, torch.full(p.shape[:2], config.half_width, device=device),
                      torch.ones(p.shape[:2], device=device), config.canvas)
            for p in params
        ])
        mark()
        warps = sample_warps(config.augmentations, config.canvas, rng)
        sketch_views, photo_views = augment_pair(sketches, target, warps, loss.size)
        mark()
        terms = loss.terms(loss.encode(sketch_views), loss.photo_views(photo_views))
        mark()
        terms["total"].mean(0).sum().backward()
        mark()
        for key, a, b in zip(times, marks, marks[1:], strict=False):
            times[key].append(b - a)
    return {k: sorted(v[1:])[len(v[1:]) // 2] for k, v in times.items()}


def timed_optimize(model, target, starts, config) -> float:
    sync(target.device)
    began = time.perf_counter()
    optimize(model, target, starts, config)
    sync(target.device)
    return time.perf_counter() - began


def bench_device(device: torch.device, rn101: Path, steps: int) -> None:
    print(f"\n== {device} ==")
    model = load_clip("RN101", str(rn101), device)
    target = make_target(load_image(EXAMPLES / "astronaut.jpg")).image.to(device)
    rng = torch.Generator().manual_seed(0)
    standard = SketchConfig()
    for label, starts in (
        ("1 run x 16 strokes", starts_for((16,), 1, rng)),
        (f"{SEEDS} seeds x {len(COUNTS)} counts {COUNTS}", starts_for(COUNTS, SEEDS, rng)),
    ):
        runs = sum(s.shape[0] for s in starts.values())
        flat = {n: s.reshape(-1, n, 4, 2) for n, s in starts.items()}
        split = step_split(model, target, flat, standard, device, repeats=steps)
        total = sum(split.values())
        parts = ", ".join(f"{k} {v:.3f}" for k, v in split.items())
        print(f"step, {label} ({runs} runs, {standard.augmentations} augmentations): "
              f"{total:.3f} s  [{parts}]")

    # Same work both ways: steps fixed, no early stop.
    config = replace(standard, steps=steps, seeds=SEEDS, eval_every=steps, patience=steps + 1)
    starts = starts_for(COUNTS, SEEDS, rng)
    timed_optimize(model, target, {4: starts[4][:1]}, replace(config, seeds=1))  # warm-up
    batched = timed_optimize(model, target, starts, config)
    sequential = sum(
        timed_optimize(model, target, {n: starts[n][s:s + 1]},
                       replace(config, seeds=1, seed=config.seed + s))
        for n in COUNTS
        for s in range(SEEDS)
    )
    print(f"{SEEDS} seeds x {COUNTS} strokes, {steps} steps: batched {batched:.1f} s, "
          f"12 sequential runs {sequential:.1f} s, speed-up x{sequential / batched:.2f}")


def bench_draft(rn101: Path, vit: Path) -> None:
    photo = EXAMPLES / "astronaut.jpg"
    config = preset("draft")
    print(f"\n== draft preset, CPU, 16 strokes, {photo.name} "
          f"({'x'.join(map(str, load_image(photo).size))}) ==")
    print(f"draft = steps {config.steps}, seeds {config.seeds}, "
          f"augmentations {config.augmentations}")
    began = time.perf_counter()
    sketcher = Sketcher("cpu", "RN101", str(rn101), "ViT-B-32", str(vit))
    loaded = time.perf_counter()
    result = sketcher.sketch(photo, (16,), config)
    svg = result.svg(16)
    done = time.perf_counter()
    print(f"load models {loaded - began:.1f} s, sketch {done - loaded:.1f} s "
          f"({result.steps} steps), total {done - began:.1f} s; {svg.count('<path')} paths")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2, help="timed steps per measurement")
    parser.add_argument("--device", choices=("cpu", "cuda"), action="append")
    parser.add_argument("--draft", action="store_true", help="time the draft preset end to end")
    args = parser.parse_args()
    devices = args.device or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

    print("RANDOM weights, REAL sizes (RN101 loss, ViT-B-32 saliency): timings only.")
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads, "
          f"load average {os.getloadavg()[0]:.1f}")
    if "cuda" in devices:
        print(f"cuda: {torch.cuda.get_device_name()}")
    with tempfile.TemporaryDirectory() as tmp:
        rn101 = random_weights(Path(tmp), "RN101")
        vit = random_weights(Path(tmp), "ViT-B-32") if args.draft else None
        for device in devices:
            bench_device(torch.device(device), rn101, args.steps)
        if args.draft:
            bench_draft(rn101, vit)


if __name__ == "__main__":
    main()
