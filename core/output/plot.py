"""The plot-ready SVG: a sketch on paper in millimetres, every stroke the pen's width, drawn in
an order (and direction) that shortens the pen-up travel (see ``order``).

It is made from a sketch's SVG (photo pixels, ``width``/``height`` without units), so the CLI,
the server's front and the Inkscape extension all plot the same file the same way. Each
``<path>`` stays whole (several subpaths included); only its place in the order, its direction
and its scale change.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from sketchify.core.errors import InputError
from sketchify.core.output import order, provenance
from sketchify.core.output.pen_paths import (
    PathData,
    ends,
    number,
    path_text,
    pen_down_length,
    reverse,
    segments,
)
from sketchify.core.output.plot_settings import PlotSettings
from sketchify.core.output.provenance import SVG_NS
from sketchify.core.paths import transformed

PEN_DOWN_MM_S = 25.0  # a pen plotter's usual drawing speed
PEN_UP_MM_S = 75.0  # and its usual speed between strokes


@dataclass(frozen=True)
class Plot:
    """A plot-ready SVG and what it costs the plotter, in mm (travel from the paper's top-left
    corner, no return): ``travel_before_mm`` in the sketch's own order, ``travel_mm`` as
    plotted."""

    svg: str
    strokes: int
    pen_down_mm: float
    travel_before_mm: float
    travel_mm: float

    @property
    def seconds(self) -> float:
        return self.pen_down_mm / PEN_DOWN_MM_S + self.travel_mm / PEN_UP_MM_S

    def summary(self) -> str:
        """"pen-down N mm, pen-up travel N mm -> N mm, about N s at 25 mm/s down, 75 mm/s up"."""
        return (f"pen-down {self.pen_down_mm:.0f} mm, pen-up travel "
                f"{self.travel_before_mm:.0f} mm -> {self.travel_mm:.0f} mm, about "
                f"{self.seconds:.0f} s at {PEN_DOWN_MM_S:g} mm/s down, {PEN_UP_MM_S:g} mm/s up")


def sketch_paths(svg: str | bytes) -> tuple[list[PathData], float, float]:
    """A sketch SVG's paths in document order, and its width and height (photo pixels)."""
    root = provenance.svg_root(svg)
    try:
        width, height = float(root.get("width")), float(root.get("height"))
    except (TypeError, ValueError):
        raise InputError("the SVG has no width and height in pixels", field="svg") from None
    if not (width > 0 and height > 0):
        raise InputError("the SVG's width and height must be more than 0", field="svg")
    paths = []
    for element in root.iter(f"{{{SVG_NS}}}path"):
        paths.append(segments(element))
        if not paths[-1]:
            raise InputError(f"path data draws nothing: {element.get('d')!r}", field="svg")
    return paths, width, height


def pen_order(paths: list[PathData], origin: order.Point = (0.0, 0.0)
              ) -> tuple[list[order.Step], float, float]:
    """The steps the pen draws ``paths`` in (see ``order``), with the pen-up travel from
    ``origin`` before and after ordering."""
    stroke_ends = [ends(p) for p in paths]
    steps = order.plan(stroke_ends, origin)
    before = order.travel(stroke_ends, [(i, False) for i in range(len(paths))], origin)
    return steps, before, order.travel(stroke_ends, steps, origin)


def drawn(paths: list[PathData], steps: list[order.Step]) -> list[PathData]:
    """``paths`` as ``steps`` draw them: reordered, some backwards."""
    return [reverse(paths[i]) if backwards else paths[i] for i, backwards in steps]


def plot_svg(svg: str | bytes, settings: PlotSettings) -> Plot:
    """The plot-ready SVG of a sketch SVG, its provenance kept and recording ``plot``."""
    paths, width, height = sketch_paths(svg)
    layout = settings.layout(width, height)
    paper = (layout.scale, 0.0, 0.0, layout.scale, layout.dx, layout.dy)
    on_paper = [transformed(p, paper) for p in paths]
    steps, before, after = pen_order(on_paper)
    strokes = drawn(on_paper, steps)
    data = provenance.read(provenance.svg_root(svg)) or provenance.record()
    data = {**data, "format": provenance.FORMAT, "plot": settings.as_json()}

    w, h = number(layout.width), number(layout.height)
    root = etree.Element(f"{{{SVG_NS}}}svg", nsmap={None: SVG_NS}, version="1.1",
                         width=f"{w}mm", height=f"{h}mm", viewBox=f"0 0 {w} {h}")
    etree.SubElement(root, f"{{{SVG_NS}}}desc").text = (
        f"Sketchify (CLIPasso) sketch, {len(paths)} strokes, plot-ready: {w} x {h} mm, pen "
        f"{settings.pen_mm:g} mm, strokes ordered to shorten the pen-up travel")
    root.append(provenance.metadata_element(data))
    for path in strokes:
        etree.SubElement(root, f"{{{SVG_NS}}}path", d=path_text(path), fill="none",
                         stroke="#000", **{"stroke-width": number(settings.pen_mm),
                                           "stroke-linecap": "round",
                                           "stroke-linejoin": "round"})
    text = etree.tostring(root, xml_declaration=True, encoding="UTF-8",
                          pretty_print=True).decode()
    return Plot(text, len(paths), sum(pen_down_length(p) for p in strokes), before, after)
