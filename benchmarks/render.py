"""Forward+backward time and peak memory of `rasterize` (culled) beside `rasterize_dense`.

Run: .venv/bin/python benchmarks/render.py [--quick] [--max-dense-s S]   (see --help)

Strokes look like CLIPasso's: a uniformly random start, then a random walk of +-0.025 * 224 px
per control point, half-width 1.5, opacity 1; "long" strokes walk +-0.1 * 224 px, like strokes
after optimization has spread them out. Times are the median (and the minimum) of repeated runs
after a warm-up. CPU peak memory, measured in a fresh process, is the growth of its peak
resident set over one forward+backward (Linux only); CUDA peak memory is from torch.cuda.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from sketchify.core.method.render import rasterize, rasterize_dense

SIZE = 224
STEPS = {"short": 0.025, "long": 0.1}  # random-walk step, as a fraction of SIZE


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
    """Median and minimum seconds of one forward+backward, repeated for about budget_s after
    a warm-up (a warm-up that alone takes budget_s is the one measurement)."""
    device = points.device.type

    def once() -> float:
        sync(device)
        start = time.perf_counter()
        step_once(render, points)
        sync(device)
        return time.perf_counter() - start

    first = once()
    if first >= budget_s:
        return first, first
    times: list[float] = []
    while not times or (sum(times) < budget_s and len(times) < 50):
        times.append(once())
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
    parser.add_argument(
        "--max-dense-s",
        type=float,
        default=None,
        help="skip a batched dense run expected to take longer (shown as batch x the batch-1 "
        "dense time, marked ~)",
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own)")
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)  # child: JSON list of cases
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_of is not None:
        return memory_child(json.loads(args.memory_of))
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    cases = [
        (device, kind, batch, count)
        for device in devices
        for batch in ((1,) if args.quick else (1, 12))
        for kind in STEPS
        for count in (4, 8, 16, 32, 64)
    ]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, canvas {SIZE}")
    rows, single = [], {}
    for device, kind, batch, count in cases:
        print(".", end="", flush=True, file=sys.stderr)
        points = strokes(batch, count, STEPS[kind], device)
        estimate = batch * single.get((device, kind, count), 0.0)
        measured = args.max_dense_s is None or estimate <= args.max_dense_s
        dense = timed(rasterize_dense, points, 2.0) if measured else (estimate, estimate)
        if batch == 1:
            single[device, kind, count] = dense[0]
        rows.append((*timed(rasterize, points, 0.5), *dense, measured))
    print(file=sys.stderr)
    # Peak memory in a fresh process, whose allocator state the timings have not shaped.
    todo = [[*case, row[-1]] for case, row in zip(cases, rows, strict=True)]
    child = [sys.executable, __file__, "--memory-of", json.dumps(todo)]
    if args.threads:
        child += ["--threads", str(args.threads)]
    memory = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout)
    header = (
        f"{'dev':4} {'strokes':7} {'batch':>5} {'N':>3} | {'culled ms':>15} {'MiB':>6} | "
        f"{'dense ms':>18} {'MiB':>7} | {'dense/culled':>12}"
    )
    print(header)
    print("-" * len(header))
    for case, (fast, fast_min, slow, slow_min, measured), (fast_mem, slow_mem) in zip(
        cases, rows, memory, strict=True
    ):
        device, kind, batch, count = case
        mark = " " if measured else "~"
        print(
            f"{device:4} {kind:7} {batch:5} {count:3} | "
            f"{fast * 1e3:7.2f} ({fast_min * 1e3:6.2f}) {fast_mem:6.1f} | "
            f"{mark}{slow * 1e3:8.1f} ({slow_min * 1e3:7.1f}) {slow_mem:7.1f} | "
            f"{mark}{slow / fast:10.0f}x"
        )
    print("ms: median (min) of forward+backward; MiB: peak memory growth during one step;")
    print("dense/culled: ratio of the medians; ~: estimated as batch x the batch-1 dense time")
    return 0


def memory_child(cases: list) -> int:
    if sys.platform == "linux":
        # Big blocks straight from mmap and back on free: the resident set follows the tensors.
        ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 16)  # M_MMAP_THRESHOLD
    out = []
    for device, kind, batch, count, measured in cases:
        points = strokes(batch, count, STEPS[kind], device)
        step_once(rasterize, points)  # one-time allocations are not the rasterizer's
        dense = peak_mib(rasterize_dense, points) if measured else float("nan")
        out.append([peak_mib(rasterize, points), dense])
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
