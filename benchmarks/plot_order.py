"""Pen-up travel of the plot order (core/output/order.py) against the sketch's own order, and
against the exact optimum over stroke order and direction (Held-Karp) on small sketches.

Run: .venv/bin/python benchmarks/plot_order.py [--sketches 200] [--seed 0]

Sketches are random, shaped like optimized CLIPasso strokes: each cubic starts uniformly on a
224 px canvas and walks +-0.1 * 224 px per control point (as benchmarks/render.py's "long"
strokes), drawn 150 mm wide; travel runs from the paper's corner (0, 0), no return. Ratios are
the plotted travel over the original (or the optimum); the time is one plan's mean, with the CPU
named.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from sketchify.core.output import order

CANVAS = 224
WALK = 0.1
DRAWING_MM = 150.0
SIZES = (16, 32)
EXACT_SIZE = 8


def sketch_ends(rng: np.random.Generator, n: int) -> list[tuple[order.Point, order.Point]]:
    """The two ends (mm) of each of ``n`` random strokes."""
    start = rng.uniform(0, CANVAS, (n, 1, 2))
    walk = rng.uniform(-WALK * CANVAS, WALK * CANVAS, (n, 3, 2)).cumsum(axis=1)
    curves = np.concatenate([start, start + walk], axis=1) * (DRAWING_MM / CANVAS)
    return [(tuple(c[0]), tuple(c[3])) for c in curves.tolist()]


def held_karp(ends: list[tuple[order.Point, order.Point]], origin: order.Point = (0.0, 0.0)
              ) -> float:
    """The least pen-up travel over every order and direction (exact; 2^n * 2n states)."""
    points = np.asarray(ends, dtype=np.float64)  # [n, 2 (start, end), 2]
    n = len(points)
    # best[mask][k, side]: least travel drawing the strokes of mask, the last being k drawn
    # from its end ``side`` (so the pen stands at its other end).
    best = np.full((1 << n, n, 2), np.inf)
    for k in range(n):
        for side in (0, 1):
            best[1 << k, k, side] = np.hypot(*(points[k, side] - origin))
    gap = np.hypot(*(points[:, None, :, None, :] - points[None, :, None, :, :])
                   .transpose(4, 0, 1, 2, 3))  # [from k, to j, from side, to side]
    for mask in range(1, 1 << n):
        for k in range(n):
            if not mask >> k & 1:
                continue
            for side in (0, 1):
                here = best[mask, k, side]
                if not np.isfinite(here):
                    continue
                finish = 1 - side
                for j in range(n):
                    if mask >> j & 1:
                        continue
                    grown = mask | 1 << j
                    for start in (0, 1):
                        cost = here + gap[k, j, finish, start]
                        if cost < best[grown, j, start]:
                            best[grown, j, start] = cost
    return float(best[(1 << n) - 1].min())


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sketches", type=int, default=200, help="random sketches per size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"{args.sketches} random sketches per size, {DRAWING_MM:g} mm wide, from (0, 0); "
          f"CPU: {cpu_name()}")
    for n in SIZES:
        ratios, before, after, seconds = [], [], [], []
        for _ in range(args.sketches):
            ends = sketch_ends(rng, n)
            started = time.perf_counter()
            steps = order.plan(ends)
            seconds.append(time.perf_counter() - started)
            original = order.travel(ends, [(i, False) for i in range(n)])
            before.append(original)
            after.append(order.travel(ends, steps))
            ratios.append(after[-1] / original)
        print(f"{n} strokes: travel {statistics.mean(before):.0f} mm -> "
              f"{statistics.mean(after):.0f} mm, mean ratio {statistics.mean(ratios):.3f}, "
              f"worst {max(ratios):.3f}, {1000 * statistics.mean(seconds):.1f} ms a plan")
    gaps, exact = [], 0
    for _ in range(args.sketches):
        ends = sketch_ends(rng, EXACT_SIZE)
        optimum = held_karp(ends)
        found = order.travel(ends, order.plan(ends))
        gaps.append(found / optimum)
        exact += found <= optimum * (1 + 1e-9)
    print(f"{EXACT_SIZE} strokes against the optimum (Held-Karp over order and direction): "
          f"mean ratio {statistics.mean(gaps):.3f}, worst {max(gaps):.3f}, optimal in "
          f"{exact} of {args.sketches}")


if __name__ == "__main__":
    main()
