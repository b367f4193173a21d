"""Sketch layers: the backend's SVG read and its strokes placed in document coordinates, the
layer's label (`16 strokes · cat.jpg`, with a status while it is not done) and the provenance
JSON kept inside it. Shared by "Sketchify image…" and "Update sketches"."""

from __future__ import annotations

import re
from dataclasses import dataclass

import inkex
from lxml import etree
from sketchify_ink.geometry import stroke_scale

PATH_TAG = inkex.addNS("path", "svg")
METADATA_TAG = inkex.addNS("metadata", "svg")
LABEL = inkex.addNS("label", "inkscape")
# The newest provenance format (the backend's JSON in each sketch) this extension reads.
PROVENANCE_FORMAT = 2
DIGITS = 4  # decimals kept in path coordinates: far below any visible difference
STYLE_KEYS = ("stroke", "stroke-opacity", "stroke-linecap", "stroke-linejoin", "opacity")
# The status part of a label, as label() writes it.
_STATUS = re.compile(r" · (?:queued|running \d+ %|failed: .*|expired|canceled)\Z", re.S)


@dataclass(frozen=True)
class SketchSvg:
    """One backend SVG, read and checked: its pixel rectangle, its strokes (still in image
    pixels) and its provenance JSON."""

    pixels: tuple[float, float, float, float]
    strokes: list[etree._Element]
    provenance: str | None

    @classmethod
    def parse(cls, data: bytes, problem: str) -> SketchSvg:
        """``problem`` names the sketch in the one message a bad SVG gets."""
        try:
            root = etree.fromstring(
                data, etree.XMLParser(resolve_entities=False, no_network=True)
            )
            pixels = _pixel_rect(root)
        except (etree.XMLSyntaxError, ValueError, IndexError, TypeError):
            raise inkex.AbortExtension(f"{problem} could not be read.") from None
        strokes = list(root.iter(PATH_TAG))
        if not strokes:
            raise inkex.AbortExtension(f"{problem} has no strokes.")
        found = root.find(f".//{METADATA_TAG}[@id='sketchify']")
        text = found.text.strip() if found is not None and found.text else None
        return cls(pixels, strokes, text or None)

    def paths(self, transform: inkex.Transform, problem: str) -> list[inkex.PathElement]:
        """The strokes in the coordinates ``transform`` maps image pixels to."""
        scale = stroke_scale(transform)
        try:
            return [_placed_path(source, transform, scale) for source in self.strokes]
        except (ValueError, IndexError, TypeError, ZeroDivisionError):
            raise inkex.AbortExtension(f"{problem} could not be read.") from None


def _pixel_rect(root: etree._Element) -> tuple[float, float, float, float]:
    box = root.get("viewBox")
    if box:
        x, y, width, height = (float(v) for v in box.replace(",", " ").split())
    else:
        x, y = 0.0, 0.0
        width, height = float(root.get("width")), float(root.get("height"))
    if width <= 0 or height <= 0:
        raise ValueError("empty image size")
    return x, y, width, height


def _placed_path(source: etree._Element, transform: inkex.Transform,
                 scale: float) -> inkex.PathElement:
    """One backend stroke in document coordinates. Presentation attributes and transforms
    may sit on the path or on its groups in the backend's SVG."""
    chain = [source, *source.iterancestors()]
    local = inkex.Transform()
    for node in chain:
        local = inkex.Transform(node.get("transform")) @ local
    path = inkex.Path(source.get("d")).to_absolute().transform(transform @ local)
    style = inkex.Style({"fill": "none", "stroke": "#000000", "stroke-linecap": "round",
                         "stroke-linejoin": "round"})
    for key in STYLE_KEYS:
        value = _inherited(chain, key)
        if value:
            style[key] = value
    width = float(_inherited(chain, "stroke-width") or 1.0) * stroke_scale(local)
    style["stroke-width"] = f"{width * scale:.6g}"
    element = inkex.PathElement()
    element.set("d", " ".join(
        " ".join([cmd.letter, *(number(arg) for arg in cmd.args)]) for cmd in path
    ))
    element.set("style", str(style))
    return element


def _inherited(chain: list[etree._Element], key: str) -> str | None:
    for node in chain:
        value = inkex.Style(node.get("style") or "").get(key) or node.get(key)
        if value:
            return value
    return None


def number(value: float, decimals: int = DIGITS) -> str:
    """``value`` with at most ``decimals`` decimals (inkex's own formatting keeps only 6
    significant digits)."""
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def label(count: int, name: str, status: str = "") -> str:
    """`16 strokes · cat.jpg`: the part that tells layers apart first, so the Layers panel
    does not cut it off; ``status`` (e.g. `queued`) is added while the sketch is not done."""
    text = f"{count} strokes · {name}"
    return f"{text} · {status}" if status else text


def relabel(current: str, status: str) -> str:
    """``current`` with its status replaced: a name the user gave the layer is kept."""
    base = _STATUS.sub("", current)
    return f"{base} · {status}" if status else base


def new_layer(text: str, layer_id: str, visible: bool) -> inkex.Layer:
    layer = inkex.Layer.new(text, id=layer_id)
    if not visible:
        layer.style["display"] = "none"
    return layer


def fill(layer: inkex.BaseElement, paths: list[inkex.PathElement], provenance: str | None,
         taken: set[str]) -> None:
    """Put the strokes into ``layer``, after the sketch's provenance JSON (its own
    ``<metadata>`` child, with an id no other element of the document has)."""
    if provenance is not None:
        metadata = inkex.Metadata()
        metadata.set("id", unique_id(taken, f"{layer.get('id') or 'sketch'}-provenance"))
        metadata.text = provenance
        layer.append(metadata)
    for path in paths:
        layer.append(path)


def unique_id(taken: set[str], base: str) -> str:
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{base}-{number}"
    taken.add(candidate)
    return candidate


def top_level(element: inkex.BaseElement) -> inkex.BaseElement:
    """The element's ancestor (or itself) that sits directly under the root."""
    while element.getparent() is not None and element.getparent().getparent() is not None:
        element = element.getparent()
    return element


def insert(groups: list[tuple[inkex.BaseElement, list[inkex.BaseElement]]]) -> None:
    """Each image's layers go just above the top-level layer that holds the image, in order
    (several images in one layer: each next batch after the previous one)."""
    last: dict[inkex.BaseElement, inkex.BaseElement] = {}
    for image, layers in groups:
        anchor = top_level(image)
        for layer in layers:
            last.get(anchor, anchor).addnext(layer)
            last[anchor] = layer
