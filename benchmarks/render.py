"""Forward+backward time and peak memory of `rasterize` (culled) beside `rasterize_dense`.

Run: .venv/bin/python benchmarks/render.py [--quick]   (--quick: batch 1 only)

Strokes look like CLIPasso's: a uniformly random start, then a random walk of +-0.025 * 224 px
per control point, half-width 1.5, opacity 1; "long" strokes walk +-0.1 * 224 px, like strokes
after optimization has spread them out. Times are the median (and the minimum) of repeated runs
after a warm-up. CPU peak memory is the growth of the process's peak resident set over one
forward+backward (Linux only), CUDA peak memory is from torch.cuda's allocator.
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import sys
import time
from pathlib import Path

import torch

from sketchify.core.render import rasterize, rasterize_dense

SIZE = 224


def strokes(batch: int, count: int, step: float, device: str) -> torch.Tensor:
    gen = torch.Generator().manual_seed(count * 1000 + batch)
    start = torch.rand(batch, count, 1, 2, generator=gen) * SIZE
    walk = (torch.rand(batch, count, 3, 2, generator=gen) * 2 - 1) * step * SIZE
    return torch.cat([start, start + walk.cumsum(-2)], -2).to(device)


def step_once(render, points: torch.Tensor) -> None:
    points = points.detach().requires_grad_()
    half_width = torch.full(points.shape[:-2], 1.5, device=points.device, requires_grad=True)
    image = render(points, half_width, 1.0, SIZE)
    image.mean().backward()


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(render, points: torch.Tensor, budget_s: float) -> tuple[float, float]:
    """Median and minimum seconds of one forward+backward, repeated for about budget_s."""
    device = points.device.type
    times: list[float] = []
    while not times or (sum(times) < budget_s and len(times) < 50):
        sync(device)
        start = time.perf_counter()
        step_once(render, points)
        sync(device)
        times.append(time.perf_counter() - start)
        if len(times) == 1 and times[0] < budget_s / 2:
            times.clear()  # that one was the warm-up
    return statistics.median(times), min(times)


def peak_mib(render, points: torch.Tensor) -> float:
    if points.device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step_once(render, points)
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    status = Path("/proc/self/status")
    if not status.exists():
        return float("nan")
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak resident set to now

    def kib(key: str) -> int:
        line = next(x for x in status.read_text().splitlines() if x.startswith(key))
        return int(line.split()[1])

    base = kib("VmRSS:")
    step_once(render, points)
    return (kib("VmHWM:") - base) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 1 only")
    args = parser.parse_args(argv)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    cases = [
        (device, kind, batch, count, strokes(batch, count, step, device))
        for device in devices
        for batch in ((1,) if args.quick else (1, 12))
        for kind, step in (("short", 0.025), ("long", 0.1))
        for count in (4, 8, 16, 32, 64)
    ]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, canvas {SIZE}")
    rows = []
    for *_, points in cases:
        print(".", end="", flush=True, file=sys.stderr)
        rows.append((*timed(rasterize, points, 0.5), *timed(rasterize_dense, points, 2.0)))
    print(file=sys.stderr)
    if sys.platform == "linux":
        # Measured after all timings: big blocks now come straight from mmap and go back on
        # free, so the resident set follows the tensors (and allocation gets slower).
        ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 16)  # M_MMAP_THRESHOLD
    header = (
        f"{'dev':4} {'strokes':7} {'batch':>5} {'N':>3} | {'culled ms':>15} {'MiB':>6} | "
        f"{'dense ms':>17} {'MiB':>7} | {'dense/culled':>12}"
    )
    print(header)
    print("-" * len(header))
    for (device, kind, batch, count, points), (fast, fast_min, slow, slow_min) in zip(
        cases, rows, strict=True
    ):
        fast_mem, slow_mem = peak_mib(rasterize, points), peak_mib(rasterize_dense, points)
        print(
            f"{device:4} {kind:7} {batch:5} {count:3} | "
            f"{fast * 1e3:7.2f} ({fast_min * 1e3:6.2f}) {fast_mem:6.1f} | "
            f"{slow * 1e3:8.1f} ({slow_min * 1e3:7.1f}) {slow_mem:7.1f} | "
            f"{slow / fast:11.0f}x"
        )
    print("ms: median (min) of forward+backward; MiB: peak memory growth during one step;")
    print("dense/culled: ratio of the medians")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
