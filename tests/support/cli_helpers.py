"""Constants of the command-line tests."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).parents[2] / "examples"
CAT = EXAMPLES / "cat.jpg"  # 451 x 300
ASTRONAUT = EXAMPLES / "astronaut.jpg"
# Quick and deterministic: two steps of the draft preset on the CPU.
QUICK = ["--preset", "draft", "--steps", "2", "--device", "cpu"]
