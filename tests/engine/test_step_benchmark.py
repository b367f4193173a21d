"""A run of benchmarks/step.py with the suite's tiny models, so a refactor of the engine can
never break the benchmark unseen (the GPU measurement is one call of it). The times it prints
mean nothing with tiny models and are not read; every section must run and say its piece."""

from __future__ import annotations

import json
import os
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


SECTIONS = ["checks.rasterizer", "checks.precision", "load", "standard", "ladder", "best",
            "reference_like", "split_and_syncs", "serve"]


def documented_gpu_call() -> str:
    """The one command docs/development.md gives for the GPU call."""
    text = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    block = text.split("2. The call,")[1].split("```sh")[1].split("```")[0]
    return block.strip()


@pytest.mark.slow
def test_the_documented_gpu_call_runs_every_section_on_the_cpu(tmp_path):
    command = documented_gpu_call()
    assert len(command) <= 2000  # one command line, as a remote runner takes it
    # Here: no wheels to install (the tree is installed), no GPU; the rest as documented.
    here = (command.split("|| exit;", 1)[1]
            .replace("nvidia-smi", "true")
            .replace("--device cuda", "--device cpu --tiny")
            .replace("python3 ", f"{sys.executable} "))
    run = subprocess.run(["bash", "-c", here], cwd=ROOT, capture_output=True, text=True,
                         timeout=400, env={**os.environ, "OUT": str(tmp_path)})
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert "passed" in (tmp_path / "pytest.txt").read_text()
    out = tmp_path / "step.json"
    report = json.loads(out.read_text())
    assert report["machine"]["models"] == "TINY random" and report["machine"]["device"] == "cpu"
    sections = report["sections"]
    assert list(sections) == SECTIONS
    assert all(s["status"] == "done" for s in sections.values()), sections
    # The same device on both sides: the rasterizer agrees exactly.
    assert sections["checks.rasterizer"]["image_max_error_relative"] == 0.0
    assert sections["checks.rasterizer"]["passed"] is True
    assert 0 <= sections["checks.precision"]["loss_difference_relative"] < 1
    assert -1 <= sections["checks.precision"]["gradient_cosine"] <= 1
    for name, strokes, seeds in (("standard", [16], 3), ("ladder", [4, 8, 16, 32], 3),
                                 ("best", [16], 6)):
        section = sections[name]
        assert (section["strokes"], section["seeds"], section["steps"]) == (strokes, seeds, 2000)
        # --tiny caps every run at 3 steps: nothing may be called measured.
        assert section["steps_run"] == 3 and section["label"] == "EXTRAPOLATED from 3 steps"
        assert section["seconds"] > 0
    assert sections["reference_like"]["label"].startswith("EXTRAPOLATED")
    assert sections["reference_like"]["ratio_to_standard"] > 0
    assert set(sections["split_and_syncs"]["split_s"]) >= {"rasterize", "Adam"}
    assert sections["split_and_syncs"]["host_syncs_per_step"] is None  # CUDA only
    assert sections["serve"]["job_status"] == "done" and sections["serve"]["svg_paths"] == 8


def test_a_gpu_call_past_its_deadline_skips_sections_and_says_why(tmp_path):
    out = tmp_path / "step.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "step.py"), "--tiny", "--gpu-call",
         "--deadline", "0.01", "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    sections = json.loads(out.read_text())["sections"]
    assert list(sections) == SECTIONS
    assert {s["status"] for s in sections.values()} == {"skipped"}
    assert "before the deadline" in sections["checks.rasterizer"]["why"]
    assert sections["standard"]["why"] == "loading the models was skipped"
