"""Named trade-offs between time and quality (see the README for measured times)."""

from __future__ import annotations

from dataclasses import replace

from sketchify.core.errors import InputError
from sketchify.core.optimize import SketchConfig

PRESETS: dict[str, SketchConfig] = {
    # Laptop CPU: one seed, one augmentation, 150 steps. Measured on a 2-core CPU with the real
    # RN101 / ViT-B-32 sizes (benchmarks/step.py --draft): ~0.56 s per step, a 16-stroke sketch
    # of a 512 px photo in ~90 s; end to end through the CLI it stays under 3 minutes even on
    # a busy machine (200 steps took 181 s there, hence 150).
    "draft": SketchConfig(steps=150, seeds=1, augmentations=1, eval_every=5, patience=8),
    # The published CLIPasso defaults.
    "standard": SketchConfig(),
    # More independent starts to choose from.
    "best": SketchConfig(seeds=6),
}


def preset(name: str, **overrides) -> SketchConfig:
    """The named preset, with any ``SketchConfig`` fields replaced by ``overrides``."""
    try:
        config = PRESETS[name]
    except KeyError:
        raise InputError(
            f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}.", field="preset"
        ) from None
    return replace(config, **overrides) if overrides else config
