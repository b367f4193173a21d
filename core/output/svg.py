"""Strokes to SVG text and back, in the source image's own pixel coordinates."""

from __future__ import annotations

from typing import Any

import torch
from lxml import etree

from sketchify.core.errors import InputError
from sketchify.core.given.strokes import Start
from sketchify.core.method.strokes import Strokes
from sketchify.core.output.pen_paths import number, segments
from sketchify.core.output.provenance import SVG_NS, metadata_element
from sketchify.core.paths import cubics, exact
from sketchify.core.photo.geometry import Placement


def to_svg(
    strokes: Strokes, placement: Placement, metadata: dict[str, Any] | None = None,
    start: Start | None = None,
) -> str:
    """One ``<path d="M x y C ...">`` per stroke, overlaying the image pixel for pixel;
    ``metadata`` (the provenance JSON) goes into ``<metadata id="sketchify">``. With a ``start``
    (every width said), its strokes come first in their order: a locked one as it was given
    (absolute, exact float64 photo px, its width), a free one as the next of ``strokes``."""
    # float64: image coordinates of a few thousand px need more than float32's ~4e-4 px step.
    points = placement.to_image(strokes.points.detach().cpu().double())
    widths = (2 * strokes.half_width.detach().cpu().double() / placement.scale).tolist()
    opacities = strokes.opacity.detach().cpu().double().tolist()
    w, h = placement.width, placement.height
    locked = [] if start is None else start.locked

    root = etree.Element(
        f"{{{SVG_NS}}}svg",
        nsmap={None: SVG_NS},
        version="1.1",
        width=str(w),
        height=str(h),
        viewBox=f"0 0 {w} {h}",
    )
    etree.SubElement(
        root, f"{{{SVG_NS}}}desc"
    ).text = f"Sketchify (CLIPasso) sketch, {len(strokes) + len(locked)} strokes"
    if metadata is not None:
        root.append(metadata_element(metadata))
    optimized = zip(points.tolist(), widths, opacities, strict=True)
    for given in () if start is None else start.strokes:
        if given.locked:
            _path(root, given.d, exact(given.width), 1.0)
        else:
            _curve(root, *next(optimized))
    for row in optimized:
        _curve(root, *row)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True).decode()


def _curve(root: etree._Element, curve: list[list[float]], width: float, opacity: float
           ) -> None:
    (x0, y0), *rest = curve
    d = f"M {number(x0)} {number(y0)} C " + " ".join(f"{number(x)} {number(y)}"
                                                     for x, y in rest)
    _path(root, d, number(width), opacity)


def _path(root: etree._Element, d: str, width: str, opacity: float) -> None:
    path = etree.SubElement(root, f"{{{SVG_NS}}}path", d=d)
    path.set("fill", "none")
    path.set("stroke", "#000")
    path.set("stroke-width", width)
    path.set("stroke-linecap", "round")
    path.set("stroke-linejoin", "round")
    if opacity < 1:
        path.set("stroke-opacity", number(opacity))


def parse_svg(text: str | bytes) -> tuple[Strokes, int, int]:
    """Read back what :func:`to_svg` wrote: strokes in image pixels (float64), width, height.
    A path of several segments (a locked stroke) gives one row per segment, each a cubic
    (``sketchify.core.paths.cubics``). The metadata is ignored (``provenance.read`` reads it)."""
    try:
        root = etree.fromstring(text.encode() if isinstance(text, str) else text)
    except etree.XMLSyntaxError as exc:
        raise InputError(f"not a readable SVG document: {exc}", field="svg") from exc
    try:
        width, height = int(root.get("width")), int(root.get("height"))
    except (TypeError, ValueError) as exc:
        raise InputError("the SVG has no integer width and height", field="svg") from exc

    curves, widths, opacities = [], [], []
    for path in root.iter(f"{{{SVG_NS}}}path"):
        pieces = cubics(segments(path))
        curves += pieces
        widths += [float(path.get("stroke-width", "1"))] * len(pieces)
        opacities += [float(path.get("stroke-opacity", "1"))] * len(pieces)

    points = torch.tensor(curves, dtype=torch.float64).reshape(-1, 4, 2)
    strokes = Strokes(
        points,
        torch.tensor(widths, dtype=torch.float64) / 2,
        torch.tensor(opacities, dtype=torch.float64),
    )
    return strokes, width, height
