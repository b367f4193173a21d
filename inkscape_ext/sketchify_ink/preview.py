"""The picture in the progress window: the backend's current best strokes over a faded
thumbnail of the photo, composed as a small SVG (GdkPixbuf draws SVG wherever Inkscape runs,
while Python's cairo bindings are often missing from Inkscape's own Python)."""

from __future__ import annotations

import base64

import inkex
from lxml import etree
from sketchify_ink.layers import SketchSvg

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
VEIL_OPACITY = 0.6  # how far the photo fades towards the window's background
MIN_STROKE_PX = 1.5  # thinner strokes vanish in a thumbnail


def compose(thumbnail_png: bytes, size: tuple[int, int], sketch_svg: bytes, ink: str,
            veil: str) -> bytes:
    """An SVG ``size`` pixels large: the photo thumbnail, a veil of the colour ``veil``, and
    the sketch's strokes in the colour ``ink`` (theme colours, so it reads in dark themes)."""
    sketch = SketchSvg.parse(sketch_svg, "The preview")
    x, y, width, height = sketch.pixels
    units_per_px = max(width / size[0], height / size[1])
    root = etree.Element(f"{{{SVG_NS}}}svg", nsmap={None: SVG_NS, "xlink": XLINK_NS},
                         width=str(size[0]), height=str(size[1]),
                         viewBox=f"{x} {y} {width} {height}", preserveAspectRatio="none")
    photo = etree.SubElement(root, f"{{{SVG_NS}}}image", x=str(x), y=str(y), width=str(width),
                             height=str(height), preserveAspectRatio="none")
    photo.set(f"{{{XLINK_NS}}}href",
              "data:image/png;base64," + base64.b64encode(thumbnail_png).decode())
    etree.SubElement(root, f"{{{SVG_NS}}}rect", x=str(x), y=str(y), width=str(width),
                     height=str(height), fill=veil, opacity=str(VEIL_OPACITY))
    for path in sketch.paths(inkex.Transform(), "The preview"):
        style = path.style
        stroke_width = max(float(style.get("stroke-width", 1)), MIN_STROKE_PX * units_per_px)
        etree.SubElement(root, f"{{{SVG_NS}}}path", d=path.get("d"), fill="none",
                         stroke=ink, attrib={"stroke-width": f"{stroke_width:.4g}",
                                             "stroke-linecap": "round",
                                             "stroke-linejoin": "round"})
    return etree.tostring(root)


def hex_colour(red: float, green: float, blue: float) -> str:
    """``#rrggbb`` from channels in 0..1 (a Gdk.RGBA's)."""
    return "#" + "".join(f"{round(min(max(c, 0.0), 1.0) * 255):02x}" for c in (red, green, blue))
