"""Where an ``<image>``'s pixels land in the document: its box, ``preserveAspectRatio`` and
every ancestor transform, composed into one affine map from image pixels to the user units
of the document's root (the coordinate system of a new top-level layer)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import inkex
from inkex.units import CONVERSIONS, parse_unit

SVG_TAG = inkex.addNS("svg", "svg")
_ALIGN = {"min": 0.0, "mid": 0.5, "max": 1.0}


def length(value: str | None, what: str, default: float | None = None) -> float:
    """An SVG length attribute in user units (px); CSS units convert at 96 px per inch."""
    if value is None or value.strip() in ("", "auto"):
        if default is None:
            raise inkex.AbortExtension(f"{what} is missing.")
        return default
    parsed = parse_unit(value)
    if parsed is None or parsed[1] not in CONVERSIONS:
        raise inkex.AbortExtension(
            f"{what} is {value!r}; only plain numbers or absolute units (px, mm, in, ...) work."
        )
    number, unit = parsed
    return number * CONVERSIONS[unit]


def aspect_ratio_transform(
    box: tuple[float, float, float, float],
    content: tuple[float, float, float, float],
    preserve: str | None,
) -> inkex.Transform:
    """Map the ``content`` rect (x, y, w, h) into the ``box`` rect the way SVG's
    ``preserveAspectRatio`` does (every align value, meet or slice, or none)."""
    bx, by, bw, bh = box
    cx, cy, cw, ch = content
    words = (preserve or "").split()
    if words and words[0] == "defer":
        words = words[1:]
    align = words[0] if words else "xMidYMid"
    slice_ = len(words) > 1 and words[1] == "slice"
    sx, sy = bw / cw, bh / ch
    if align == "none":
        return inkex.Transform(translate=(bx, by)) @ inkex.Transform(
            scale=(sx, sy)
        ) @ inkex.Transform(translate=(-cx, -cy))
    if len(align) != 8 or align[4] != "Y" or align[0] != "x":
        align = "xMidYMid"  # an invalid value is ignored, as SVG renderers do
    ax = _ALIGN.get(align[1:4].lower(), 0.5)
    ay = _ALIGN.get(align[5:8].lower(), 0.5)
    s = max(sx, sy) if slice_ else min(sx, sy)
    return (
        inkex.Transform(translate=(bx + (bw - cw * s) * ax, by + (bh - ch * s) * ay))
        @ inkex.Transform(scale=s)
        @ inkex.Transform(translate=(-cx, -cy))
    )


def _viewport_transform(svg: inkex.BaseElement) -> inkex.Transform:
    """A nested ``<svg>``'s own viewport: x, y and its viewBox fitted into width x height."""
    x = length(svg.get("x"), "A nested <svg>'s x", 0.0)
    y = length(svg.get("y"), "A nested <svg>'s y", 0.0)
    box = svg.get("viewBox")
    if not box:
        return inkex.Transform(translate=(x, y))
    view = tuple(float(v) for v in box.replace(",", " ").split())
    width = length(svg.get("width"), "A nested <svg>'s width", view[2])
    height = length(svg.get("height"), "A nested <svg>'s height", view[3])
    return aspect_ratio_transform(
        (x, y, width, height), view, svg.get("preserveAspectRatio")
    )


def raw(element: inkex.BaseElement, name: str) -> str | None:
    """An attribute as written. inkex's own ``get`` of ``transform`` or ``style`` parses it and
    writes it back rounded to 6 digits, which would change the user's document."""
    return element.attrib.get(name)


def to_root(element: inkex.BaseElement) -> inkex.Transform:
    """The element's own transform and every ancestor's, up to (not including) the root."""
    total = inkex.Transform()
    node = element
    while node is not None and node.getparent() is not None:
        if node is not element and node.tag == SVG_TAG:
            # SVG 2: a nested <svg>'s own transform applies outside its viewport.
            total = _viewport_transform(node) @ total
        total = inkex.Transform(raw(node, "transform")) @ total
        node = node.getparent()
    return total


@dataclass(frozen=True)
class ImageFrame:
    """An ``<image>``'s box, aspect rule and composed transform, read and validated up front;
    the pixel size comes later, from the backend's SVG."""

    box: tuple[float, float, float, float]
    preserve: str | None
    outer: inkex.Transform
    name: str

    @classmethod
    def of(cls, image: inkex.BaseElement, name: str) -> ImageFrame:
        what = f"The image {name}'s"
        try:
            outer = to_root(image)
        except (ValueError, IndexError) as err:
            raise inkex.AbortExtension(f"{what} transform cannot be read: {err}.") from None
        x = length(image.get("x"), f"{what} x", 0.0)
        y = length(image.get("y"), f"{what} y", 0.0)
        width = length(image.get("width"), f"{what} width", math.nan)
        height = length(image.get("height"), f"{what} height", math.nan)
        if (width <= 0 or height <= 0) or not all(map(math.isfinite, outer.to_hexad())):
            raise inkex.AbortExtension(f"The image {name} has no visible size.")
        return cls((x, y, width, height), image.get("preserveAspectRatio"), outer, name)

    def resolved_box(self, pixel_size: tuple[float, float]) -> tuple[float, float, float, float]:
        """x, y, width, height; a missing width/height ("auto") follows the image's own size:
        the pixel size when both are missing, else the pixel aspect ratio."""
        x, y, width, height = self.box
        pixel_w, pixel_h = pixel_size
        if math.isnan(width) and math.isnan(height):
            width, height = pixel_w, pixel_h
        elif math.isnan(width):
            width = height * pixel_w / pixel_h
        elif math.isnan(height):
            height = width * pixel_h / pixel_w
        return x, y, width, height

    def pixels_to_root(
        self, pixel_rect: tuple[float, float, float, float]
    ) -> inkex.Transform:
        """Image pixel coordinates (``pixel_rect`` = the SVG viewBox the backend used, the
        image's size in px) -> root user units."""
        box = self.resolved_box(pixel_rect[2:])
        return self.outer @ aspect_ratio_transform(box, pixel_rect, self.preserve)


def stroke_scale(transform: inkex.Transform) -> float:
    """How much a length grows under ``transform``: the square root of its area scale, exact
    for uniform scales and rotations, a fair average for stretched images."""
    a, b, c, d, _, _ = transform.to_hexad()
    return math.sqrt(abs(a * d - b * c))
