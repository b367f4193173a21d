"""Time of one CLIPasso optimization step with each speed technique switched off and on, in
one run, and the paper's sketch end to end against a reference-like loop.

Uses the REAL model sizes (RN101 loss model, ViT-B-32 saliency model) with RANDOM weights,
created by open_clip (no pretrained weights), saved to a file and loaded through the engine's
own loader: the compute is that of the real models, the sketches are meaningless.

    python benchmarks/step.py                   # CPU: technique table, split, ladder, reference
    python benchmarks/step.py --quick           # the same with fewer repetitions
    python benchmarks/step.py --device cuda --quick   # the whole GPU table in under 5 minutes
    python benchmarks/step.py --draft           # also the draft preset end to end (CPU)
    python benchmarks/step.py --draft-only      # only that
    python benchmarks/step.py --tiny --draft    # tiny random models: every section in seconds
                                                # (a smoke test of this script, no timing)
    python benchmarks/step.py --device cuda --gpu-call --deadline 270 --json step.json
        # the one prepared GPU call (docs/development.md, "The GPU call"): correctness checks,
        # the paper's sketch through the Sketcher, the ladder and best, the reference-like
        # loop, the step split and host syncs, and a job through `sketchify serve`; every
        # section's figures in the JSON as soon as it ends, sections that would overrun the
        # deadline skipped and said so. `--device cpu --tiny` runs the same code in seconds.

Repetitions of the variants are interleaved (A B C A B C ...) and medians taken, so a machine
shared with other work slows every variant alike; the load average is printed.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import SimpleNamespace

import open_clip
import requests
import torch
import torch.nn.functional as F
import torchvision.transforms as T

from sketchify.core.clip.fast_resnet import ClassTokenPool, fold_batchnorm, fold_loss_model
from sketchify.core.clip.models import load_clip
from sketchify.core.config import Execution, Models, SketchConfig, preset
from sketchify.core.device_policy import FP16_LOSS_SCALE, autocast_dtype, loss_scale
from sketchify.core.engine import Sketcher
from sketchify.core.method.augment import augment_pair, sample_warps
from sketchify.core.method.losses import ClipLoss
from sketchify.core.method.render import _rasterize, rasterize
from sketchify.core.optimize import _view_terms, optimize
from sketchify.core.output.svg import parse_svg
from sketchify.core.photo.image import load_image
from sketchify.core.photo.target import make_target
from sketchify.core.timing.estimate import measure_step_cost, views_per_step

sys.path.insert(0, str(Path(__file__).parent.parent / "tests" / "support"))
from precision_checks import calibrate_batchnorm, step_loss_and_gradient
from tiny_models import make_tiny_models

EXAMPLES = Path(__file__).parent.parent / "examples"
LADDER = (4, 8, 16, 32)
SEEDS = 3
PAPER = preset("standard")  # 2000 steps, 3 seeds, 4 augmentations
# Wall time by default; `--clock cpu` (this process's CPU seconds) with `--threads 1` stays
# close to a dedicated core's time even while other work shares the machine.
clock = time.perf_counter


def random_models(directory: Path, tiny: bool) -> Models:
    """Random weights for the real RN101 / ViT-B-32, or for the suite's tiny models (their
    open_clip names, registered in this process, and the weight files)."""
    if tiny:
        made = make_tiny_models(directory)
        return Models(made.loss_config.stem, str(made.loss_weights),
                      made.saliency_config.stem, str(made.saliency_weights))
    real = Models()
    files = []
    for name in (real.loss_model, real.saliency_model):
        path = directory / f"{name}-random.pt"
        torch.save(open_clip.create_model(name).state_dict(), path)
        files.append(str(path))
    return replace(real, loss_weights=files[0], saliency_weights=files[1])


class Visual(torch.nn.Module):
    """A loss model made of a CLIP visual tower only (all the loss uses, at a quarter of the
    memory of a whole CLIP copy)."""

    def __init__(self, visual: torch.nn.Module) -> None:
        super().__init__()
        self.visual = visual


@dataclass(frozen=True)
class Variant:
    name: str
    batchnorm: bool  # BatchNorm folded into the convolutions
    pool: bool  # attention pool for the class token only
    channels_last: bool
    precision: str = "fp32"
    compiled: bool = False  # torch.compile of the four residual stages (benchmark only)
    cudnn_benchmark: bool = False  # cuDNN's algorithm search for these shapes (not default)


def variants(device: torch.device, quick: bool, compiled: bool) -> list[Variant]:
    """Everything off (today's main), each technique alone, each one left out, all on (last);
    with ``compiled``, also all on under torch.compile (which the engine does not use)."""
    off = Variant("all off (main)", False, False, False)
    if device.type == "cuda":  # GPU steps are short: every variant even when quick
        on = Variant("all on (the default)", True, True, True, "fp16")
        out = [off, replace(on, name="all on but fp16 autocast", precision="fp32"),
               replace(on, name="all on but channels-last", channels_last=False),
               replace(on, name="all on but the folds", batchnorm=False, pool=False),
               replace(on, name="all on + cudnn.benchmark", cudnn_benchmark=True)]
    else:
        on = Variant("all on (the default)", True, True, True)
        alone = [replace(off, name="BatchNorm folded only", batchnorm=True),
                 replace(off, name="class-token pool only", pool=True),
                 replace(off, name="channels-last only", channels_last=True)]
        left_out = [replace(on, name="all on but BatchNorm folding", batchnorm=False),
                    replace(on, name="all on but the class-token pool", pool=False),
                    replace(on, name="all on but channels-last", channels_last=False)]
        out = [off, *alone] if quick else [off, *alone, *left_out]
    if compiled:
        out.append(replace(on, name="all on + torch.compile", compiled=True))
    return [*out, on]


def build(plain: torch.nn.Module, variant: Variant) -> torch.nn.Module:
    visual = copy.deepcopy(plain.visual)
    if variant.batchnorm:
        fold_batchnorm(visual)
    if variant.pool:
        visual.attnpool = ClassTokenPool(visual.attnpool)
    if variant.compiled:
        # CUDA graphs too on a GPU (launch overhead is what they remove).
        mode = "reduce-overhead" if torch.cuda.is_available() else None
        for name in ("layer1", "layer2", "layer3", "layer4"):
            setattr(visual, name, torch.compile(getattr(visual, name), mode=mode))
    return Visual(visual)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def starts_for(counts, seeds, generator) -> dict[int, torch.Tensor]:
    """Short strokes spread over the canvas, shaped like the saliency initialization."""
    out = {}
    for n in counts:
        first = 20 + torch.rand(seeds, n, 1, 2, generator=generator) * 184
        walk = (torch.rand(seeds, n, 3, 2, generator=generator) * 2 - 1) * 5.6
        out[n] = torch.cat([first, first + walk.cumsum(2)], dim=2)
    return out


def step_times(model, target, starts, config: SketchConfig,
               execution: Execution = Execution(), background=None) -> list[float]:
    """Seconds of each optimization step after the first (which pays for first-call
    allocations), from the engine's own loop (``background``: locked strokes drawn)."""
    device = target.device
    marks: list[float] = []

    def mark(_progress) -> None:
        sync(device)
        marks.append(clock())

    optimize(model, target, starts, config, progress=mark, execution=execution,
             background=background)
    return [b - a for a, b in itertools.pairwise(marks)]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def technique_table(plain, target, device, chosen: list[Variant], quick: bool
                    ) -> dict[str, float]:
    """Per-step seconds of the paper's step (3 seeds x 16 strokes x 5 views) per variant:
    first all off against all on in strict alternation (A B A B ...), then every variant in
    interleaved rounds. Many short runs rather than a few long ones: a burst of other work
    then lands on both sides of a comparison alike."""
    rng = torch.Generator().manual_seed(0)
    starts = starts_for((16,), SEEDS, rng)
    models = {v: build(plain, v).to(device) for v in chosen}
    steps = (30 if quick else 60) if device.type == "cuda" else 3
    peaks: dict[Variant, float] = {}

    def run(v: Variant) -> list[float]:
        config = replace(PAPER, steps=steps, eval_every=10)
        execution = Execution(precision=v.precision, channels_last=v.channels_last)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
            torch.backends.cudnn.benchmark = v.cudnn_benchmark
        times = step_times(models[v], target, starts, config, execution)
        if device.type == "cuda":
            peaks[v] = torch.cuda.max_memory_allocated(device) / 2**30
        return times

    off, on = chosen[0], chosen[-1]
    pairs = [(run(off), run(on)) for _ in range(3 if quick else 8)]
    ratios = [median(a) / median(b) for a, b in pairs]
    print(f"\nstep of the paper's settings ({SEEDS} seeds x 16 strokes x "
          f"{1 + PAPER.augmentations} views = {views_per_step(PAPER, (16,))} sketch views), "
          f"'{off.name}' against '{on.name}', {len(pairs)} alternating pairs of runs of "
          f"{steps - 1} timed steps:")
    print(f"  per pair: {', '.join(f'{r:.2f}x' for r in ratios)}; median x{median(ratios):.2f}; "
          f"medians {median([t for a, _ in pairs for t in a]):.3f} s -> "
          f"{median([t for _, b in pairs for t in b]):.3f} s per step")

    rounds = 1 if quick else 3
    times: dict[Variant, list[list[float]]] = {v: [] for v in chosen}
    for _ in range(rounds):
        for v in chosen:
            times[v].append(run(v))
    models.clear()
    torch.backends.cudnn.benchmark = False
    print(f"each technique: {rounds} interleaved round(s) of every variant; 'paired' is the "
          f"median over rounds of each round's ratio to '{off.name}'; contention only adds "
          f"time, so the minimum is shown too:")
    print(f"  {'variant':40s} {'median s':>9s} {'min s':>7s} {'paired':>7s} {'by min':>7s}"
          + ("  peak GiB" if peaks else ""))
    result = {}
    for v in chosen:
        flat = [t for run_times in times[v] for t in run_times]
        paired = median([median(a) / median(b)
                         for a, b in zip(times[off], times[v], strict=True)])
        by_min = min(t for run_times in times[off] for t in run_times) / min(flat)
        print(f"  {v.name:40s} {median(flat):9.3f} {min(flat):7.3f} {paired:6.2f}x "
              f"{by_min:6.2f}x" + (f"  {peaks[v]:8.2f}" if peaks else ""))
        result[v.name] = median(flat)
    result[on.name] = median([t for _, b in pairs for t in b] + [t for r in times[on] for t in r])
    return result


def step_split(model, target, device, config: SketchConfig, repeats: int
               ) -> dict[str, float]:
    """Where one step of the default path spends its time (median over repeats)."""
    loss = ClipLoss(model, target, autocast=autocast_dtype(Execution().precision, device),
                    channels_last=True)
    points = starts_for((16,), SEEDS, torch.Generator().manual_seed(1))[16].to(device)
    points.requires_grad_()
    width = torch.full(points.shape[:2], config.half_width, device=device)
    opacity = torch.ones_like(width)
    adam = torch.optim.Adam([points], lr=config.lr)
    rng = torch.Generator().manual_seed(0)
    parts = ("rasterize", "augment", "photo views forward", "CLIP forward+backward", "Adam")
    times: dict[str, list[float]] = {k: [] for k in parts}

    def now() -> float:
        sync(device)
        return clock()

    for i in range(repeats + 1):
        split = []
        began = now()
        sketches = _rasterize([(points, width, opacity)], config.canvas)
        split.append(now())
        warps = sample_warps(config.augmentations, config.canvas, rng)
        views, photo_views = augment_pair(sketches, target, warps, loss.size)
        split.append(now())
        photo = loss.photo_views(photo_views)
        split.append(now())
        _view_terms(loss, views, photo, 64 if device.type == "cuda" else 16, train=True,
                    loss_scale=loss_scale(loss.autocast))
        split.append(now())
        adam.step()
        adam.zero_grad()
        split.append(now())
        if i:  # the first pays for first-call allocations
            for key, a, b in zip(parts, [began, *split], split, strict=False):
                times[key].append(b - a)
    medians = {k: median(v) for k, v in times.items()}
    total = sum(medians.values())
    print(f"\nper-step split, default path, {SEEDS} seeds x 16 strokes "
          f"(median of {repeats}): {total:.3f} s")
    for key, value in medians.items():
        print(f"  {key:24s} {value:8.4f} s  {100 * value / total:5.1f} %")
    return medians


def reference_like_step(plain, target, device, steps: int) -> float:
    """Seconds per run-step of a loop shaped like the reference implementation: seeds one
    after another, float32, the plain network, one Adam each, torchvision's perspective and
    crop applied to each sketch-and-photo pair one augmentation at a time, the photo views
    encoded with the sketch's every step (its clean view too), an extra clean forward every
    10 steps."""
    model = Visual(copy.deepcopy(plain.visual)).to(device)
    loss = ClipLoss(model, target)
    augment = T.Compose([
        T.RandomPerspective(distortion_scale=PAPER.distortion, p=1.0, fill=0),
        T.RandomResizedCrop(loss.size, scale=PAPER.crop_scale, ratio=(1.0, 1.0)),
    ])
    starts = starts_for((16,), SEEDS, torch.Generator().manual_seed(2))[16]
    elapsed = []
    for seed in range(SEEDS):
        points = starts[seed:seed + 1].clone().to(device).requires_grad_()
        width = torch.full(points.shape[:2], PAPER.half_width, device=device)
        opacity = torch.ones_like(width)
        adam = torch.optim.Adam([points], lr=PAPER.lr)
        torch.manual_seed(seed)  # torchvision's transforms draw from the global generator
        for step in range(steps + 1):
            if step == 1:  # step 0 pays for first-call allocations
                sync(device)
                began = clock()
            adam.zero_grad()
            sketch = _rasterize([(points, width, opacity)], PAPER.canvas)[:, None]
            pair = torch.cat([sketch.expand(-1, 3, -1, -1), target[None]])
            augmented = [augment(pair) for _ in range(PAPER.augmentations)]
            views = torch.cat([sketch] + [a[:1, :1] for a in augmented])
            with torch.no_grad():
                photo = loss.encode(torch.cat([target[None]] + [a[1:] for a in augmented]))
            terms = loss.terms(loss.encode(views), photo)
            terms["total"].mean().backward()
            if step % PAPER.eval_every == 0:
                with torch.no_grad():
                    loss.terms(loss.encode(sketch), loss.encode(target[None]))
            adam.step()
        sync(device)
        elapsed.append((clock() - began) / steps)
    return median(elapsed)


def end_to_end(model, target, counts, config, device) -> tuple[float, float]:
    """Wall seconds and peak GiB (CUDA) of a whole optimization of ``counts`` x 3 seeds."""
    starts = starts_for(counts, config.seeds, torch.Generator().manual_seed(3))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    began = time.perf_counter()
    optimize(model, target, starts, config)
    sync(device)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
    return time.perf_counter() - began, peak


def host_syncs_per_step(model, target, device) -> float:
    """CUDA only: synchronizing calls per step of the default path (torch's sync debug mode),
    counted over 10 steps that include one evaluation."""
    starts = starts_for((16,), SEEDS, torch.Generator().manual_seed(4))
    config = replace(PAPER, steps=10, eval_every=10)
    optimize(model, target, starts, replace(config, steps=1))  # allocations, chunk size
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            optimize(model, target, starts, config)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught) / config.steps


def bench_device(device: torch.device, models: Models, args) -> None:
    print(f"\n== {device} ==")
    fast = load_clip(models.loss_model, models.loss_weights, device)  # the engine's: folded
    plain = open_clip.create_model(models.loss_model)
    plain.load_state_dict(torch.load(models.loss_weights, weights_only=True))
    plain = Visual(plain.visual).eval().requires_grad_(False)
    target = make_target(load_image(EXAMPLES / "astronaut.jpg")).image.to(device)
    cuda = device.type == "cuda"

    chosen = variants(device, args.quick, args.compile)
    default_step = technique_table(plain, target, device, chosen, args.quick)[chosen[-1].name]
    step_split(fast, target, device, PAPER, repeats=5 if cuda else (1 if args.quick else 3))

    ref_steps = 200 if cuda else (2 if args.quick else 3)
    ref = reference_like_step(plain, target, device, ref_steps)
    print(f"\nreference-like loop ({SEEDS} seeds one after another, fp32, plain network, photo "
          f"encoded every step): {ref:.3f} s per seed-step, timed over {ref_steps} steps per "
          f"seed; {SEEDS} x {PAPER.steps} steps EXTRAPOLATED: {SEEDS * PAPER.steps * ref:.0f} s")
    print(f"  batched default path: {default_step:.3f} s per step for all {SEEDS} seeds -> "
          f"{PAPER.steps * default_step:.0f} s extrapolated; speed-up "
          f"x{SEEDS * ref / default_step:.2f}")

    if cuda:
        for counts in ((16,), LADDER):
            # --quick runs all 2000 steps only if 50 of them say that takes under 90 s.
            probe, _ = end_to_end(fast, target, counts, replace(PAPER, steps=50), device)
            full = not args.quick or probe * PAPER.steps / 50 < 90
            steps = PAPER.steps if full else 200
            seconds, peak = end_to_end(fast, target, counts, replace(PAPER, steps=steps), device)
            label = "measured" if full else f"EXTRAPOLATED from {steps} steps"
            total = seconds * PAPER.steps / steps
            print(f"standard, {'/'.join(map(str, counts))} strokes x {SEEDS} seeds, "
                  f"{PAPER.steps} steps: {total:.1f} s ({label}), peak {peak:.2f} GiB")
            if counts == (16,):
                print(f"  reference-like loop EXTRAPOLATED / this: "
                      f"x{SEEDS * PAPER.steps * ref / total:.2f}")
        syncs = host_syncs_per_step(fast, target, device)
        print(f"host syncs per step (default path, 10 steps with one evaluation): {syncs:.1f}")
    else:
        ladder = step_times(fast, target,
                            starts_for(LADDER, SEEDS, torch.Generator().manual_seed(5)),
                            replace(PAPER, steps=2 if args.quick else 3))
        print(f"\nladder {'/'.join(map(str, LADDER))} x {SEEDS} seeds, default path: "
              f"{median(ladder):.2f} s per step -> {PAPER.steps} steps EXTRAPOLATED: "
              f"{PAPER.steps * median(ladder) / 3600:.2f} h")
        print(f"standard, 16 strokes x {SEEDS} seeds, {PAPER.steps} steps EXTRAPOLATED: "
              f"{PAPER.steps * default_step / 3600:.2f} h")
        best = preset("best")
        best_step = median(step_times(
            fast, target, starts_for((16,), best.seeds, torch.Generator().manual_seed(6)),
            replace(best, steps=2 if args.quick else 3)))
        print(f"best, 16 strokes x {best.seeds} seeds: {best_step:.2f} s per step -> "
              f"{best.steps} steps EXTRAPOLATED: {best.steps * best_step / 3600:.2f} h")

    # measure_step_cost reads only these two of a Sketcher.
    cost = measure_step_cost(SimpleNamespace(device=device, loss_model=fast))
    print(f"measure_step_cost: {cost:.4f} s per sketch view per step; the paper's step "
          f"predicted {cost * views_per_step(PAPER, (16,)):.3f} s, measured {default_step:.3f} s")


def bench_draft(models: Models) -> None:
    photo = EXAMPLES / "astronaut.jpg"
    config = preset("draft")
    print(f"\n== draft preset, CPU, 16 strokes, {photo.name} "
          f"({'x'.join(map(str, load_image(photo).size))}) ==")
    print(f"draft = steps {config.steps}, seeds {config.seeds}, "
          f"augmentations {config.augmentations}")
    began, cpu_began = time.perf_counter(), time.process_time()
    sketcher = Sketcher("cpu", **asdict(models))
    loaded = time.perf_counter()
    result = sketcher.sketch(photo, (16,), config)
    svg = result.svg(16)
    done, cpu = time.perf_counter(), time.process_time() - cpu_began
    print(f"load models {loaded - began:.1f} s, sketch {done - loaded:.1f} s "
          f"({result.steps} steps), total {done - began:.1f} s wall, {cpu:.1f} s CPU time; "
          f"{svg.count('<path')} paths")


# --gpu-call ---------------------------------------------------------------------------------
# One prepared call on a lent GPU: every section writes its figures to the JSON as soon as it
# ends, so a call cut short still returns what it measured.
CHECK_IMAGE_BAR, CHECK_GRADIENT_BAR = 1e-4, 1e-3  # the rasterizer on the device vs the CPU
LOSS_BAR, COSINE_BAR = 0.01, 0.99  # reduced precision vs float32 (docs/precision.md's bar)
PROBE_STEPS, FALLBACK_STEPS, PROBED_LIMIT_S = 50, 200, 40.0
SERVE_RESERVE_S = 45.0  # what the last section (serve, tiny models) is kept


class Report:
    """The call's findings by section, rewritten to ``path`` (atomically) after each section;
    ``deadline``: seconds from now after which no section starts."""

    def __init__(self, path: Path | None, deadline: float | None, facts: dict) -> None:
        self.path = path
        self.ends = math.inf if deadline is None else time.perf_counter() + deadline
        self.data: dict = {"machine": facts, "sections": {}}
        self.write()

    def left(self) -> float:
        return self.ends - time.perf_counter()

    def section(self, name: str, run, needs: float = 0.0) -> dict:
        """``run()`` -> its figures, unless fewer than ``needs`` seconds are left."""
        if self.left() < needs:
            return self.skip(name, f"{max(self.left(), 0):.0f} s left before the deadline, "
                                   f"the section needs about {needs:.0f} s")
        began = time.perf_counter()
        try:
            entry = {"status": "done", **run()}
        except Exception as error:  # a broken section must not lose the others' figures
            traceback.print_exc()
            entry = {"status": "failed", "error": f"{type(error).__name__}: {error}"}
        entry["section_s"] = round(time.perf_counter() - began, 2)
        return self.record(name, entry)

    def skip(self, name: str, why: str) -> dict:
        return self.record(name, {"status": "skipped", "why": why})

    def record(self, name: str, entry: dict) -> dict:
        self.data["sections"][name] = entry
        print(f"[{name}] " + json.dumps(entry), flush=True)
        self.write()
        return entry

    def write(self) -> None:
        if self.path is None:
            return
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(self.data, indent=1) + "\n", encoding="utf-8")
        os.replace(partial, self.path)


def peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def calibrated(model: torch.nn.Module, targets: torch.Tensor) -> torch.nn.Module:
    """A random-weight CLIP ResNet (CPU) made readable for precision comparisons on
    ``targets`` [N, 3, 224, 224] and 16-stroke sketches, then folded as the engine loads it
    (tests/support/precision_checks.py says why)."""
    sketches = rasterize(starts_for((16,), 4, torch.Generator().manual_seed(9))[16],
                         1.5, 1.0, 224)[:, None].expand(-1, 3, -1, -1)
    calibrate_batchnorm(model, torch.cat([targets, sketches]))
    return fold_loss_model(model)


def check_rasterizer(device: torch.device) -> dict:
    """The paper's batch drawn on ``device`` and on the CPU: image and stroke gradients
    (of a fixed random weighting of the pixels)."""
    points = starts_for((16,), SEEDS, torch.Generator().manual_seed(7))[16]
    weights = None
    drawn = {}
    for where in (torch.device("cpu"), device):
        p = points.to(where).requires_grad_()
        width = torch.full(p.shape[:2], PAPER.half_width, device=where)
        image = _rasterize([(p, width, torch.ones_like(width))], PAPER.canvas)
        if weights is None:
            weights = torch.rand(image.shape, generator=torch.Generator().manual_seed(8))
        (image * weights.to(where)).sum().backward()
        drawn[where.type] = (image.detach().cpu(), p.grad.cpu())
    (cpu_image, cpu_grad), (image, grad) = drawn["cpu"], drawn[device.type]
    image_error = ((image - cpu_image).abs().max() / cpu_image.abs().max()).item()
    gradient_error = relative(grad, cpu_grad)
    return {"image_max_error_relative": image_error, "gradient_error_relative": gradient_error,
            "bars": [CHECK_IMAGE_BAR, CHECK_GRADIENT_BAR],
            "passed": image_error <= CHECK_IMAGE_BAR and gradient_error <= CHECK_GRADIENT_BAR}


def check_precision(models: Models, target: torch.Tensor, device: torch.device) -> dict:
    """One step of the paper's batch with CLIP under float16 autocast (CUDA's default) and in
    float32, on ``device``, with the random weights calibrated."""
    model = open_clip.create_model(models.loss_model)
    model.load_state_dict(torch.load(models.loss_weights, weights_only=True))
    model = calibrated(model, target[None].cpu()).to(device)
    points = starts_for((16,), SEEDS, torch.Generator().manual_seed(10))[16].to(device)
    warps = sample_warps(PAPER.augmentations, PAPER.canvas, torch.Generator().manual_seed(11))
    exact = ClipLoss(model, target, channels_last=True)
    lowered = ClipLoss(model, target, autocast=torch.float16, channels_last=True)
    # IEEE float32 as the baseline: cuDNN's default runs float32 convolutions in TF32.
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        loss, grad = step_loss_and_gradient(exact, target, points, warps, 1.0)
    low, low_grad = step_loss_and_gradient(lowered, target, points, warps, FP16_LOSS_SCALE)
    difference = abs(low - loss) / abs(loss)
    cosine = F.cosine_similarity(grad.flatten(), low_grad.flatten().float(), dim=0).item()
    return {"precision": "fp16 autocast vs fp32", "loss_difference_relative": difference,
            "gradient_cosine": cosine, "bars": [LOSS_BAR, COSINE_BAR],
            "passed": difference <= LOSS_BAR and cosine >= COSINE_BAR}


def steps_to_run(report: Report, probe_s: float, probe_steps: int, steps: int,
                 limit: float, cap: int) -> tuple[int, str]:
    """All ``steps`` if the probe predicts they fit in ``limit`` seconds and before the
    deadline (the last section's reserve kept) and ``cap`` allows them, else at most
    ``FALLBACK_STEPS``, extrapolated."""
    predicted = probe_s * steps / probe_steps
    if cap >= steps and predicted <= min(limit, report.left() - SERVE_RESERVE_S):
        return steps, "measured"
    fallback = min(FALLBACK_STEPS, steps, cap)
    return fallback, f"EXTRAPOLATED from {fallback} steps"


def sketch_section(sketcher: Sketcher, photo: Path, report: Report, cap: int) -> dict:
    """The paper's sketch (16 strokes x 3 seeds) through the Sketcher: the target and the
    saliency starts, then every step; the model load is its own section."""
    device = sketcher.device
    config = PAPER
    sync(device)
    began = time.perf_counter()
    target = sketcher.target(load_image(photo), None, config.canvas)
    starts = sketcher.starts(target, (16,), config)
    sync(device)
    saliency = time.perf_counter() - began
    image = target.image.to(device)
    probe_steps = min(PROBE_STEPS, cap)
    probe, _ = timed_optimize(sketcher.loss_model, image, starts,
                              replace(config, steps=probe_steps))
    steps, label = steps_to_run(report, probe, probe_steps, config.steps, math.inf, cap)
    seconds, peak = timed_optimize(sketcher.loss_model, image, starts,
                                   replace(config, steps=steps))
    return {"preset": "standard", "strokes": [16], "seeds": config.seeds, "steps": config.steps,
            "steps_run": steps, "label": label, "photo": photo.name,
            "target_and_saliency_s": round(saliency, 3),
            "seconds": round(seconds * config.steps / steps, 2), "peak_gib": peak}


def timed_optimize(model, image, starts, config) -> tuple[float, float | None]:
    """Wall seconds and peak GiB (CUDA) of one whole optimization."""
    device = image.device
    reset_peak(device)
    sync(device)
    began = time.perf_counter()
    optimize(model, image, starts, config)
    sync(device)
    return time.perf_counter() - began, peak_gib(device)


def probed_section(model, target, counts, config, report: Report, cap: int) -> dict:
    """``config`` over ``counts``: all its steps if a probe predicts they take at most
    ``PROBED_LIMIT_S``, else ``FALLBACK_STEPS`` extrapolated."""
    starts = starts_for(counts, config.seeds, torch.Generator().manual_seed(3))
    probe_steps = min(PROBE_STEPS, cap)
    probe, _ = timed_optimize(model, target, starts, replace(config, steps=probe_steps))
    steps, label = steps_to_run(report, probe, probe_steps, config.steps, PROBED_LIMIT_S, cap)
    seconds, peak = timed_optimize(model, target, starts, replace(config, steps=steps))
    return {"preset": config.preset, "strokes": list(counts), "seeds": config.seeds,
            "steps": config.steps, "steps_run": steps, "label": label,
            "probe_s_per_step": round(probe / probe_steps, 5),
            "seconds": round(seconds * config.steps / steps, 2), "peak_gib": peak}


def reference_section(plain, target, device, cap: int, standard: dict) -> dict:
    steps = min(100, cap)
    per_step = reference_like_step(plain, target, device, steps)
    total = SEEDS * PAPER.steps * per_step
    out = {"steps_per_seed": steps, "label": f"EXTRAPOLATED from {steps} steps per seed",
           "s_per_seed_step": round(per_step, 5), "seconds": round(total, 1)}
    if standard.get("status") == "done":
        out["ratio_to_standard"] = round(total / standard["seconds"], 2)
    return out


def split_section(model, target, device, config) -> dict:
    split = step_split(model, target, device, config, repeats=5)
    syncs = host_syncs_per_step(model, target, device) if device.type == "cuda" else None
    return {"split_s": split, "host_syncs_per_step": syncs}


def serve_section(device: torch.device, directory: Path) -> dict:
    """`sketchify serve --device` with the tiny models and one draft job over HTTP to done."""
    tiny = make_tiny_models(directory / "tiny")
    args = [sys.executable, "-m", "sketchify.backend.cli", "serve", "--port", "0",
            "--data-dir", str(directory / "data"), "--device", str(device),
            "--loss-model", str(tiny.loss_config), "--loss-weights", str(tiny.loss_weights),
            "--saliency-model", str(tiny.saliency_config),
            "--saliency-weights", str(tiny.saliency_weights)]
    log = directory / "serve.log"
    began = time.perf_counter()
    with open(log, "wb") as errors:
        server = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errors)
    try:
        line = server.stdout.readline().decode()
        if "serving on" not in line:
            raise RuntimeError(f"serve did not start: {line!r} {log.read_text()[-2000:]}")
        url = line.split("serving on ")[1].split()[0]
        started = time.perf_counter() - began
        job = requests.post(f"{url}/v1/sketches", timeout=30,
                            files={"image": ("cat.jpg", (EXAMPLES / "cat.jpg").read_bytes())},
                            data={"preset": "draft", "strokes": "8", "steps": "20"}).json()
        while job["status"] not in ("done", "failed", "canceled"):
            time.sleep(0.1)
            job = requests.get(f"{url}/v1/sketches/{job['id']}", timeout=30).json()
        if job["status"] != "done":
            raise RuntimeError(f"the job ended {job['status']}: {job.get('error')}")
        svg = requests.get(f"{url}{job['links']['svg']['8']}", timeout=30).text
        paths = len(parse_svg(svg)[0])
        return {"serve_start_s": round(started, 2), "job_s": round(time.perf_counter() - began
                                                                   - started, 2),
                "job_status": job["status"], "svg_paths": paths, "passed": paths == 8}
    finally:
        server.terminate()
        server.wait(30)
        server.stdout.close()


def gpu_call(device: torch.device, models: Models, report: Report, cap: int,
             directory: Path) -> None:
    """Sections (3) to (8) of the GPU call, in that order (docs/development.md)."""
    photo = EXAMPLES / "astronaut.jpg"
    target = make_target(load_image(photo)).image.to(device)
    report.section("checks.rasterizer", lambda: check_rasterizer(device), needs=5)
    report.section("checks.precision", lambda: check_precision(models, target, device),
                   needs=10)
    loaded: dict[str, Sketcher] = {}

    def load() -> dict:
        sync(device)
        began = time.perf_counter()
        loaded["sketcher"] = Sketcher(str(device), **asdict(models))
        sync(device)
        return {"load_models_s": round(time.perf_counter() - began, 2)}

    status = report.section("load", load, needs=10)["status"]
    if status == "done":
        engine_sections(loaded["sketcher"], models, target, photo, report, cap)
    else:
        for name in ENGINE_SECTIONS:
            report.skip(name, f"loading the models was {status}")
    report.section("serve", lambda: serve_section(device, directory), needs=SERVE_RESERVE_S)


ENGINE_SECTIONS = ("standard", "ladder", "best", "reference_like", "split_and_syncs")


def engine_sections(sketcher: Sketcher, models: Models, target: torch.Tensor, photo: Path,
                    report: Report, cap: int) -> None:
    device, fast = sketcher.device, sketcher.loss_model
    needs = SERVE_RESERVE_S + 10
    standard = report.section("standard", lambda: sketch_section(sketcher, photo, report, cap),
                              needs=needs)
    report.section("ladder", lambda: probed_section(fast, target, LADDER, PAPER, report, cap),
                   needs=needs)
    report.section("best", lambda: probed_section(fast, target, (16,), preset("best"), report,
                                                  cap), needs=needs)
    plain = open_clip.create_model(models.loss_model)
    plain.load_state_dict(torch.load(models.loss_weights, weights_only=True))
    plain = Visual(plain.visual).eval().requires_grad_(False)
    report.section("reference_like",
                   lambda: reference_section(plain, target, device, cap, standard), needs=needs)
    report.section("split_and_syncs", lambda: split_section(fast, target, device, PAPER),
                   needs=needs)


def cpuinfo() -> dict[str, str]:
    """The first CPU's fields in /proc/cpuinfo (empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_name() -> str:
    """The CPU model (and family/model numbers: "AMD EPYC" alone names many generations)."""
    fields = cpuinfo()
    if not fields:
        return platform.processor() or platform.machine()
    family = f", family {fields['cpu family']} model {fields['model']}" if "model" in fields else ""
    return f"{fields.get('model name', platform.machine())}{family}"


def cpu_flags() -> str:
    """The flags that decide how fast CLIP's matrix work runs: vector widths and bfloat16
    or float16 units (AVX-512 BF16/FP16, AMX)."""
    flags = cpuinfo().get("flags", "").split()
    wanted = [f for f in flags if f in ("avx2", "fma", "avx512f", "avx512_vnni")
              or "bf16" in f or "fp16" in f or f.startswith("amx")]
    return " ".join(wanted) or "none of avx2, avx512, bf16, fp16, amx"


def physical_cores() -> int:
    """Distinct (package, core) pairs among the CPUs this process may run on."""
    cores = set()
    for cpu in os.sched_getaffinity(0):
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topology / "physical_package_id").read_text().strip(),
                       (topology / "core_id").read_text().strip()))
        except OSError:
            return os.cpu_count() or 1
    return len(cores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--draft", action="store_true", help="also the draft preset end to end")
    parser.add_argument("--draft-only", action="store_true", help="only the draft timing")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    parser.add_argument("--compile", action="store_true",
                        help="also time torch.compile of the loss network (slow to compile)")
    parser.add_argument("--tiny", action="store_true",
                        help="the test suite's tiny random models, with --quick's repetitions: "
                             "runs every section in seconds to check this script, times nothing")
    parser.add_argument("--gpu-call", action="store_true",
                        help="the one prepared GPU call's sections instead (checks, standard "
                             "through the Sketcher, ladder, best, reference-like loop, split "
                             "and host syncs, serve); see docs/development.md")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="--gpu-call: its findings, rewritten after each section")
    parser.add_argument("--deadline", type=float, metavar="S",
                        help="--gpu-call: start no section that would end after S seconds")
    parser.add_argument("--cap-steps", type=int, metavar="N",
                        help="--gpu-call: run at most N steps anywhere, the rest "
                             "EXTRAPOLATED (--tiny: 3)")
    args = parser.parse_args()
    args.quick = args.quick or args.tiny
    if (args.json or args.deadline or args.cap_steps) and not args.gpu_call:
        parser.error("--json, --deadline and --cap-steps belong to --gpu-call")
    cap = args.cap_steps or (3 if args.tiny else PAPER.steps)
    if args.clock == "cpu":
        global clock
        clock = time.process_time
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA GPU here")

    print("RANDOM weights, TINY models: a check of this script; no time below means anything."
          if args.tiny else
          "RANDOM weights, REAL sizes (RN101 loss, ViT-B-32 saliency): timings only.")
    print(f"torch {torch.__version__}; CPU: {cpu_name()} (flags: {cpu_flags()}), "
          f"{physical_cores()} physical cores, "
          f"{torch.get_num_threads()} torch threads (torch's default is the physical core "
          f"count); load average {os.getloadavg()[0]:.1f} (a shared machine slows every "
          f"variant alike: their repetitions are interleaved); {args.clock} clock")
    if args.device == "cuda":
        print(f"cuda: {torch.cuda.get_device_name()}")
    began = time.perf_counter()
    report = None
    if args.gpu_call:
        report = Report(args.json, args.deadline, {
            "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "command": " ".join(sys.argv), "torch": torch.__version__, "cpu": cpu_name(),
            "device": (torch.cuda.get_device_name() if args.device == "cuda" else "cpu"),
            "models": "TINY random" if args.tiny else "RANDOM weights, real sizes (RN101, "
                                                      "ViT-B-32)"})
    with tempfile.TemporaryDirectory() as tmp:
        models = random_models(Path(tmp), args.tiny)
        if report is not None:
            gpu_call(torch.device(args.device), models, report, cap, Path(tmp))
        elif not args.draft_only:
            bench_device(torch.device(args.device), models, args)
        if (args.draft or args.draft_only) and report is None:
            bench_draft(models)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}; peak resident memory "
          f"{peak_rss:.1f} GiB; benchmark took {time.perf_counter() - began:.0f} s")
    if report is not None and any(entry["status"] == "failed"
                                  for entry in report.data["sections"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
