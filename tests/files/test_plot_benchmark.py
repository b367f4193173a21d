"""A run of benchmarks/plot_order.py with a small budget, so a change to the ordering can never
break the benchmark unseen; its figures must say what the ordering promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_plot_order_benchmark_runs_and_never_beats_the_optimum():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "plot_order.py"),
                          "--sketches", "6", "--seed", "3"],
                         capture_output=True, text=True, timeout=120)
    out = run.stdout
    assert run.returncode == 0, out + run.stderr[-3000:]
    assert "CPU: " in out
    for n in (16, 32):
        said = re.search(rf"{n} strokes: travel (\d+) mm -> (\d+) mm, mean ratio ([\d.]+), "
                         r"worst ([\d.]+)", out)
        assert said, out
        assert int(said[2]) <= int(said[1]) and float(said[3]) <= float(said[4]) <= 1.0
    exact = re.search(r"against the optimum .*: mean ratio ([\d.]+), worst ([\d.]+), optimal "
                      r"in (\d+) of 6", out)
    assert exact, out
    # Held-Karp is exact: the plan can match it, never beat it.
    assert 1.0 <= float(exact[1]) <= float(exact[2])
