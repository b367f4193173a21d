"""Named trade-offs between time and quality (measured times: docs/development.md)."""

from __future__ import annotations

from dataclasses import replace

import torch

from sketchify.core.errors import InputError
from sketchify.core.optimize import SketchConfig

PRESETS: dict[str, SketchConfig] = {
    # Laptop CPU: one seed, one augmentation, 150 steps, and it stops once the loss stalls.
    # A 16-stroke sketch of a 512 px photo in about a minute on a 2-core CPU with the real
    # model sizes (benchmarks/step.py --draft; docs/development.md has the figures).
    "draft": SketchConfig(preset="draft", steps=150, seeds=1, augmentations=1, eval_every=5,
                          patience=8),
    # The published CLIPasso defaults: every one of the 2000 steps runs, as in the paper.
    "standard": SketchConfig(preset="standard"),
    # More independent starts to choose from.
    "best": SketchConfig(preset="best", seeds=6),
}
# `auto` is resolved where the job runs: the device decides (see resolve_preset).
PRESET_NAMES: tuple[str, ...] = ("auto", *PRESETS)


def resolve_preset(name: str, device: str | torch.device | None = None) -> str:
    """The concrete preset for ``name``: ``auto`` is ``standard`` on a GPU (CUDA or MPS) and
    ``draft`` on a CPU, where the full method takes hours."""
    if name not in PRESET_NAMES:
        raise InputError(
            f"Unknown preset {name!r}; choose one of {', '.join(PRESET_NAMES)}.", field="preset"
        )
    if name != "auto":
        return name
    if device is None:
        raise ValueError("the auto preset needs the device the job runs on")
    return "standard" if torch.device(device).type in ("cuda", "mps") else "draft"


def preset(name: str, device: str | torch.device | None = None, **overrides) -> SketchConfig:
    """The named preset (``auto`` resolved for ``device``), with any ``SketchConfig`` fields
    replaced by ``overrides``."""
    config = PRESETS[resolve_preset(name, device)]
    return replace(config, **overrides) if overrides else config
