"""The devices this machine has: tests parametrized over them run their CPU case everywhere
and their CUDA case (`pytest -k cuda`) where a GPU is present, with nothing skipped."""

from __future__ import annotations

import torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
