"""Sketchify engine: photo in, CLIPasso strokes out. Knows nothing of HTTP or Inkscape."""

from sketchify.core.errors import InputError, SketchifyError, WeightsError
from sketchify.core.geometry import Placement

__all__ = ["InputError", "Placement", "SketchifyError", "WeightsError"]
