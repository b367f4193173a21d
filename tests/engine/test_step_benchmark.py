"""A run of benchmarks/step.py with the suite's tiny models, so a refactor of the engine can
never break the benchmark unseen (the GPU measurement is one call of it). The times it prints
mean nothing with tiny models and are not read; every section must run and say its piece."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_every_section_of_the_step_benchmark_runs_with_tiny_models():
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "step.py"), "--tiny", "--draft"],
        capture_output=True, text=True, timeout=300,
    )
    out = run.stdout
    assert run.returncode == 0, out + run.stderr[-3000:]
    assert "TINY models" in out and "REAL sizes" not in out
    for section in ("alternating pairs", "all on (the default)", "per-step split",
                    "reference-like loop", "speed-up x", "ladder 4/8/16/32",
                    "best, 16 strokes x 6 seeds", "measure_step_cost", "== draft preset"):
        assert section in out, f"{section!r} missing from:\n{out}"
    draft = re.search(r"sketch [\d.]+ s \((\d+) steps\).*; (\d+) paths", out)
    assert draft and 0 < int(draft[1]) <= 150 and int(draft[2]) == 16, out


@pytest.mark.slow
@pytest.mark.parametrize("mode", [[], ["--speed", "--rounds", "1"]], ids=["equivalence", "speed"])
def test_the_precision_benchmark_runs_with_tiny_models(mode):
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "precision.py"), "--tiny", "--shapes", "draft",
         "--photos", "cat", *mode],
        capture_output=True, text=True, timeout=300,
    )
    out = run.stdout
    assert run.returncode == 0, out + run.stderr[-3000:]
    assert "TINY" in out and "flags:" in out
    if mode:
        assert re.search(r"bf16, fp32 to layer1 +[\d.]+ s +x[\d.]+", out), out
    else:
        # float64 agrees with float32 far inside the bar, whatever the model.
        fp64 = re.search(r"fp64 +([\d.]+) % +([\d.]+)", out.split("all cases")[1])
        assert fp64 and float(fp64[1]) < 0.01 and float(fp64[2]) > 0.999, out
        assert "meets the bar" in out


@pytest.mark.slow
def test_the_start_benchmark_runs_with_tiny_models():
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "start.py"), "--tiny", "--steps", "3",
         "--repeats", "1", "--cpu-clock"],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    for variant in ("16 strokes, no start", "16 strokes, 4 of them locked (12 move)",
                    "16 moving strokes over 4 locked"):
        assert re.search(rf"{re.escape(variant)}: [\d.]+ s", run.stdout), run.stdout
