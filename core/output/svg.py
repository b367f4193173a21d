"""Strokes to SVG text and back, in the source image's own pixel coordinates."""

from __future__ import annotations

import re
from typing import Any

import torch
from lxml import etree

from sketchify.core.errors import InputError
from sketchify.core.output.pen_paths import NUMBER, number
from sketchify.core.output.provenance import SVG_NS, metadata_element
from sketchify.core.photo.geometry import Placement
from sketchify.core.strokes import Strokes

_PATH_D = re.compile(rf"^\s*M\s*({NUMBER})[\s,]*({NUMBER})\s*C((?:[\s,]*{NUMBER}){{6}})\s*$")


def to_svg(
    strokes: Strokes, placement: Placement, metadata: dict[str, Any] | None = None
) -> str:
    """One ``<path d="M x y C ...">`` per stroke, overlaying the image pixel for pixel;
    ``metadata`` (the provenance JSON) goes into ``<metadata id="sketchify">``."""
    # float64: image coordinates of a few thousand px need more than float32's ~4e-4 px step.
    points = placement.to_image(strokes.points.detach().cpu().double())
    widths = (2 * strokes.half_width.detach().cpu().double() / placement.scale).tolist()
    opacities = strokes.opacity.detach().cpu().double().tolist()
    w, h = placement.width, placement.height

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
    ).text = f"Sketchify (CLIPasso) sketch, {len(strokes)} strokes"
    if metadata is not None:
        root.append(metadata_element(metadata))
    for curve, width, opacity in zip(points.tolist(), widths, opacities, strict=True):
        (x0, y0), *rest = curve
        d = f"M {number(x0)} {number(y0)} C " + " ".join(f"{number(x)} {number(y)}"
                                                         for x, y in rest)
        path = etree.SubElement(root, f"{{{SVG_NS}}}path", d=d)
        path.set("fill", "none")
        path.set("stroke", "#000")
        path.set("stroke-width", number(width))
        path.set("stroke-linecap", "round")
        path.set("stroke-linejoin", "round")
        if opacity < 1:
            path.set("stroke-opacity", number(opacity))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True).decode()


def parse_svg(text: str | bytes) -> tuple[Strokes, int, int]:
    """Read back what :func:`to_svg` wrote: strokes in image pixels (float64), width, height.
    The metadata is ignored (``provenance.read`` reads it)."""
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
        match = _PATH_D.match(path.get("d", ""))
        if match is None:
            raise InputError(f"path is not one cubic Bézier stroke: {path.get('d')!r}", field="svg")
        numbers = [float(match[1]), float(match[2])]
        numbers += [float(v) for v in re.findall(NUMBER, match[3])]
        curves.append(numbers)
        widths.append(float(path.get("stroke-width", "1")))
        opacities.append(float(path.get("stroke-opacity", "1")))

    points = torch.tensor(curves, dtype=torch.float64).reshape(-1, 4, 2)
    strokes = Strokes(
        points,
        torch.tensor(widths, dtype=torch.float64) / 2,
        torch.tensor(opacities, dtype=torch.float64),
    )
    return strokes, width, height
