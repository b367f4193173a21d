"""What a plot-ready SVG is asked to be: its size (a drawing width, or a paper page), the pen
and the margin, and where the drawing then lies on the paper, in millimetres.

Torch-free, so that the command line refuses a bad ``--size`` before the engine loads.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from sketchify.core.errors import InputError

# Portrait width and height of each page, mm.
PAGES_MM = {"A3": (297.0, 420.0), "A4": (210.0, 297.0), "A5": (148.0, 210.0),
            "A6": (105.0, 148.0), "Letter": (215.9, 279.4)}
DEFAULT_SIZE_MM = 150.0
DEFAULT_PEN_MM = 0.5
PAGE_MARGIN_MM = 10.0
MAX_LENGTH_MM = 10_000.0  # 10 m: beyond any plotter; a typo rather than a drawing
# The finest technical pens draw 0.05 mm lines and the broadest markers a plotter holds about
# 5 mm; a width outside that is a slip (a unit left off, 0.5 typed as 50), not a pen. The API,
# its OpenAPI document, the command line and the web form all read these two.
MIN_PEN_MM, MAX_PEN_MM = 0.05, 5.0
UNITS_MM = {"mm": 1.0, "cm": 10.0, "in": 25.4}
_LENGTH = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]*)\s*")


def length_mm(text: str, what: str = "length") -> float:
    """"15cm" -> 150.0: a positive length in mm, cm or in (mm when no unit is given)."""
    match = _LENGTH.fullmatch(text)
    unit = match[2].lower() if match else ""
    if match is None or unit not in (*UNITS_MM, ""):
        raise InputError(f"{what} takes a positive length in mm, cm or in (such as 150mm), "
                         f"got {text!r}.", field="plot")
    # Rounded to a nanometre: 0.03in is 0.762 mm, not 0.7619999999999999.
    return _positive(round(float(match[1]) * UNITS_MM.get(unit, 1.0), 6), what)


def page_name(text: str) -> str:
    """The page's own spelling ("a4" -> "A4"); unknown pages are refused, naming the known."""
    for name in PAGES_MM:
        if name.lower() == str(text).strip().lower():
            return name
    raise InputError(f"unknown page {text!r}; use {', '.join(PAGES_MM)}.", field="plot")


def _positive(value: Any, what: str, *, zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{what} must be a number of millimetres, got {value!r}.", field="plot")
    # A JSON integer may be beyond any float: compared exactly, never converted first.
    number = float(value) if abs(value) <= MAX_LENGTH_MM else math.nan
    if not (number >= 0 if zero else number > 0):  # NaN fails both
        least = "0 or more" if zero else "more than 0"
        shown = f", got {number:g}" if math.isfinite(number) else ""
        raise InputError(f"{what} must be {least} and at most {MAX_LENGTH_MM:g} mm{shown}.",
                         field="plot")
    return number


def pen_width(value: Any, what: str = "the pen width") -> float:
    """A pen's width in mm, from MIN_PEN_MM to MAX_PEN_MM."""
    number = _positive(value, what)
    if not MIN_PEN_MM <= number <= MAX_PEN_MM:
        raise InputError(f"{what} must be from {MIN_PEN_MM:g} to {MAX_PEN_MM:g} mm (a "
                         f"plotter pen's width), got {number:g}.", field="plot")
    return number


@dataclass(frozen=True)
class Layout:
    """The paper (``width`` x ``height`` mm) and the photo's place on it: a photo pixel
    (x, y) lands at (dx + scale * x, dy + scale * y) mm."""

    width: float
    height: float
    scale: float
    dx: float
    dy: float


@dataclass(frozen=True)
class PlotSettings:
    """Either ``size_mm`` (the drawing's width; the paper is the drawing plus the margin) or
    ``page`` (the drawing as large as fits inside the margin, centred, the page turned to suit
    the photo); ``pen_mm`` is every stroke's width. Build it with :func:`plot_settings`."""

    size_mm: float | None
    page: str | None
    pen_mm: float
    margin_mm: float

    def as_json(self) -> dict[str, Any]:
        """The settings as provenance, the API and the Inkscape placeholder record them."""
        fitted = {"page": self.page} if self.page else {"size_mm": self.size_mm}
        return {**fitted, "pen_mm": self.pen_mm, "margin_mm": self.margin_mm}

    def layout(self, width: float, height: float) -> Layout:
        """Where a ``width`` x ``height`` px photo's drawing goes on the paper."""
        margin = self.margin_mm
        if self.page is None:
            scale = self.size_mm / width
            return Layout(self.size_mm + 2 * margin, height * scale + 2 * margin, scale,
                          margin, margin)
        # Portrait or landscape, whichever draws the photo larger (portrait on a tie).
        scale, paper = max(
            ((min((w - 2 * margin) / width, (h - 2 * margin) / height), (w, h))
             for w, h in (PAGES_MM[self.page], PAGES_MM[self.page][::-1])),
            key=lambda fit: fit[0])
        return Layout(paper[0], paper[1], scale, (paper[0] - width * scale) / 2,
                      (paper[1] - height * scale) / 2)


def plot_settings(size_mm: Any = None, page: Any = None, pen_mm: Any = None,
                  margin_mm: Any = None, *, stored: bool = False) -> PlotSettings:
    """Checked plot settings: nothing given means a 150 mm wide drawing and a 0.5 mm pen; a page
    gets a 10 mm margin unless one is given. ``InputError`` (field ``plot``) names the fault.

    ``stored``: settings read back (a job's), checked when they were asked for. Any positive
    pen stays readable then: release 0.3.0 took any, so only new requests meet the pen limit."""
    if size_mm is not None and page is not None:
        raise InputError("plot takes a drawing size or a page, not both.", field="plot")
    if pen_mm is None:
        pen = DEFAULT_PEN_MM
    else:
        pen = _positive(pen_mm, "the pen width") if stored else pen_width(pen_mm)
    if page is not None:
        name = page_name(page)
        margin = PAGE_MARGIN_MM if margin_mm is None else _positive(margin_mm, "the margin",
                                                                    zero=True)
        if 2 * margin >= min(PAGES_MM[name]):
            raise InputError(f"a {margin:g} mm margin leaves no room on {name} paper.",
                             field="plot")
        return PlotSettings(None, name, pen, margin)
    size = DEFAULT_SIZE_MM if size_mm is None else _positive(size_mm, "the drawing size")
    margin = 0.0 if margin_mm is None else _positive(margin_mm, "the margin", zero=True)
    return PlotSettings(size, None, pen, margin)


def from_json(data: Any, *, stored: bool = False) -> PlotSettings:
    """Plot settings from their JSON (:meth:`PlotSettings.as_json`, the API's ``plot`` field):
    an object with ``size_mm`` or ``page``, optional ``pen_mm`` and ``margin_mm``; ``stored`` as
    :func:`plot_settings` takes it."""
    if not isinstance(data, dict):
        raise InputError("plot must be an object such as {\"size_mm\": 150, \"pen_mm\": 0.5}.",
                         field="plot")
    unknown = sorted(set(data) - {"size_mm", "page", "pen_mm", "margin_mm"})
    if unknown:
        raise InputError(f"plot has unknown keys {', '.join(unknown)}; it takes size_mm or "
                         "page, pen_mm and margin_mm.", field="plot")
    page = data.get("page")
    if page is not None and not isinstance(page, str):
        raise InputError(f"plot page must be a page name, got {page!r}.", field="plot")
    return plot_settings(data.get("size_mm"), page, data.get("pen_mm"), data.get("margin_mm"),
                         stored=stored)
