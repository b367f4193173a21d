"""`--animate`: the sketch drawing itself, stroke after stroke in the order a pen plotter would
draw them, as an SVG any browser plays.

Plain CSS: every path has ``pathLength="1"``, a dash as long as itself, and a keyframe that
slides its dash offset from 1 (nothing drawn) to 0 (all drawn). Each stroke's share of the
time is its share of the ink; no script, no event attributes, so the file is as safe to open
as the sketch itself.
"""

from __future__ import annotations

from lxml import etree

from sketchify.core.output import provenance
from sketchify.core.output.pen_paths import number, path_text, pen_down_length
from sketchify.core.output.plot import drawn, pen_order, sketch_paths
from sketchify.core.output.provenance import SVG_NS

DEFAULT_SECONDS = 6.0
KEYFRAMES = "sketchify-draw"
# A dash of the path's length, then a gap twice as long; the dash starts a hair before the path
# so that not even a round cap of it shows until the stroke's turn.
STYLE = (f"path {{ stroke-dasharray: 1 2; stroke-dashoffset: 1.001; animation-name: {KEYFRAMES}; "
         "animation-timing-function: linear; animation-fill-mode: both; }\n"
         f"@keyframes {KEYFRAMES} {{ from {{ stroke-dashoffset: 1.001; }} "
         "to { stroke-dashoffset: 0; } }")


def animated_svg(svg: str | bytes, seconds: float = DEFAULT_SECONDS) -> str:
    """The sketch ``svg`` (as Sketchify writes it) drawn in ``seconds``, its strokes in the
    plotted order and direction, each keeping its width and opacity."""
    root = provenance.svg_root(svg)
    paths, width, height = sketch_paths(svg)
    elements = list(root.iter(f"{{{SVG_NS}}}path"))
    steps, _, _ = pen_order(paths)
    strokes = drawn(paths, steps)
    lengths = [pen_down_length(p) for p in strokes]
    total = sum(lengths) or 1.0

    out = etree.Element(f"{{{SVG_NS}}}svg", nsmap={None: SVG_NS}, version="1.1",
                        width=root.get("width"), height=root.get("height"),
                        viewBox=root.get("viewBox") or f"0 0 {number(width)} {number(height)}")
    etree.SubElement(out, f"{{{SVG_NS}}}desc").text = (
        f"Sketchify (CLIPasso) sketch, {len(strokes)} strokes, drawn in {seconds:g} s: one "
        "stroke after another, in the order a pen plotter draws them")
    data = provenance.read(root)
    if data is not None:
        out.append(provenance.metadata_element(data))
    etree.SubElement(out, f"{{{SVG_NS}}}style").text = STYLE
    start = 0.0
    for (index, _), path, length in zip(steps, strokes, lengths, strict=True):
        source = elements[index]
        share = seconds * length / total
        element = etree.SubElement(out, f"{{{SVG_NS}}}path", d=path_text(path), pathLength="1")
        for name in ("fill", "stroke", "stroke-width", "stroke-opacity", "stroke-linecap",
                     "stroke-linejoin"):
            if source.get(name) is not None:
                element.set(name, source.get(name))
        element.set("style", f"animation-delay: {start:.4f}s; animation-duration: "
                             f"{max(share, 1e-4):.4f}s")
        start += share
    return etree.tostring(out, xml_declaration=True, encoding="UTF-8",
                          pretty_print=True).decode()
