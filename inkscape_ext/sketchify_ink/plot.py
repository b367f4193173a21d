"""The "Plotter-ready" option of "Sketchify image…": per stroke count, a second layer
`16 strokes · cat.jpg · plot 0.5 mm` beside the editable one (which stays as it is), its
strokes in the order and direction a pen plotter draws them best, every stroke the pen's width
in document units.

The backend orders the strokes (GET /v1/sketches/<id>/plot, the job sent with ``plot``: the
drawing as wide as the image is in the document, in mm, no margin), so the pen-up travel runs
from the image's top-left corner. The extension only places that SVG on the image, as it places
the sketch, and sets the pen's width; "Update sketches" fills a plot placeholder the same way.
"""

from __future__ import annotations

import json
import math

import inkex
from sketchify_ink.geometry import ImageFrame, stroke_scale, to_root

MAX_MM = 10_000.0  # the backend's largest drawing
MIN_PEN_MM, MAX_PEN_MM = 0.05, 5.0  # the backend's pens (a test holds them to its own)
PEN_RANGE = f"from {MIN_PEN_MM:g} to {MAX_PEN_MM:g} mm"


def pen_taken(pen: float) -> bool:
    """Whether the backend takes a new job with this pen (0.3.0's dialog allowed up to 20 mm,
    so a recorded pen may be wider)."""
    return MIN_PEN_MM <= pen <= MAX_PEN_MM


def add_plot_arguments(pars) -> None:
    pars.add_argument("--plot", type=inkex.Boolean, default=False)
    pars.add_argument("--pen", type=float, default=0.5)


def plot_settings(options, svg: inkex.SvgDocumentElement, frame: ImageFrame,
                  pixels: tuple[int, int]) -> str:
    """The plot settings of one image's job as JSON text: the image's width on the page in mm,
    the pen, no margin."""
    if not pen_taken(options.pen):
        raise inkex.AbortExtension(f"The pen width must be {PEN_RANGE}, got {options.pen:g}.")
    to_page = frame.pixels_to_root((0.0, 0.0, *map(float, pixels)))
    left, right = to_page.apply_to_point((0, 0)), to_page.apply_to_point((pixels[0], 0))
    width_mm = math.hypot(right.x - left.x, right.y - left.y) / svg.unittouu("1mm")
    if not (0 < width_mm <= MAX_MM):
        raise inkex.AbortExtension(
            f"The image {frame.name} is {width_mm:g} mm wide in this document: too large (or "
            "small) for a plot-ready layer. Resize it, or turn off “Plotter-ready”.")
    return json.dumps({"size_mm": round(width_mm, 3), "pen_mm": options.pen, "margin_mm": 0.0})


def plot_field(settings: str) -> dict[str, str]:
    """The submission field that asks the backend for plot-ready SVGs."""
    return {"plot": settings} if settings else {}


def plot_name(name: str, settings: str) -> str:
    """The image name as a plot layer's label shows it: `cat.jpg · plot 0.5 mm`."""
    return f"{name} · plot {json.loads(settings)['pen_mm']:g} mm"


def pen_strokes(paths: list[inkex.PathElement], settings: str,
                svg: inkex.SvgDocumentElement, layer: inkex.BaseElement | None = None
                ) -> list[inkex.PathElement]:
    """Every stroke the pen's width in the units of ``layer``'s coordinates (the root's for a
    new layer), whatever the image's size now."""
    pen = json.loads(settings)["pen_mm"] * svg.unittouu("1mm")
    if layer is not None:
        pen /= stroke_scale(to_root(layer)) or 1.0
    for path in paths:
        path.style["stroke-width"] = f"{pen:.6g}"
    return paths
