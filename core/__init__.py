"""Sketchify engine: photo in, CLIPasso strokes out. Knows nothing of HTTP or Inkscape.

    from sketchify.core import Sketcher, preset
    result = Sketcher().sketch("cat.jpg", strokes=(8, 16), config=preset("draft"))
    svg = result.svg(16)
    # From the user's strokes (photo px; sketchify.core.given.strokes), the first kept as drawn:
    start = from_items([{"d": "M 10 10 L 90 60", "locked": True}, {"d": "M 5 80 Q 40 20 90 80"}])
    result = Sketcher().sketch("cat.jpg", strokes=16, start=start)

The names below load lazily: ``sketchify --help`` and the backend's light paths do not pay
for importing open_clip.
"""

from __future__ import annotations

import importlib

from sketchify.core.errors import InputError, SketchifyError, WeightsError
from sketchify.core.photo.geometry import Placement

_LAZY = {
    "Sketcher": "engine",
    "SketchResult": "engine",
    "SketchConfig": "config",
    "Execution": "config",
    "Sketch": "optimize",
    "Progress": "optimize",
    "optimize": "optimize",
    "PRESETS": "config",
    "preset": "config",
    "Strokes": "method.strokes",
    "load_image": "photo.image",
    "make_target": "photo.target",
    "Target": "photo.target",
    "ObjectMask": "photo.mask",
    "load_clip": "clip.models",
    "resolve_device": "clip.models",
    "to_svg": "output.svg",
    "parse_svg": "output.svg",
    "Start": "given.strokes",
    "GivenStroke": "given.strokes",
    "from_items": "given.strokes",
}

__all__ = ["InputError", "Placement", "SketchifyError", "WeightsError", *_LAZY]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
