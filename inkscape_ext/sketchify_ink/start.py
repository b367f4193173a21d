"""Start strokes: paths drawn in the document sent with a photo's job as the backend's
``start`` (SVG path data in the photo's pixels, one element one stroke, each kept or free),
and the style a kept stroke was drawn with, so its sketch layer shows it as it was drawn.

A finished sketch layer (and a placeholder) remembers its photo and the start it was sent, in
the Sketchify namespace: Sketch again reads them back."""

from __future__ import annotations

import json
from dataclasses import dataclass

import inkex
from sketchify_ink.geometry import length, stroke_scale, to_root
from sketchify_ink.layers import number
from sketchify_ink.mask import SHAPES, SelectedImage, element_name
from sketchify_ink.placeholders import attr

IMAGE_ATTR = attr("image")
START_ATTR = attr("start")
# On an editable sketch layer whose job also made plot-ready layers: their plot settings (JSON),
# so Sketch again asks for them too.
PLOTTED_ATTR = attr("plotted")
# Where a live path effect (Power stroke, Taper, …) keeps the line drawn; ``d`` then holds the
# outline the effect draws around it.
ORIGINAL_D = inkex.addNS("original-d", "inkscape")
PATH_EFFECT = inkex.addNS("path-effect", "inkscape")
# The effects that draw a filled outline around the line drawn (Inkscape's names).
_WIDENING = {"powerstroke", "taperstroke"}
DECIMALS = 6  # of a photo pixel: far below anything visible, and short on the wire
# References to elements in the drawn path's own coordinates: a kept stroke's transforms are
# baked into its path data, so they would land elsewhere (and a clip could hide it).
_PLACED = ("clip-path", "mask", "filter")
# Where a drawn path is no stroke: definitions, clips and masks.
_HIDDEN = {inkex.addNS(tag, "svg") for tag in ("defs", "clipPath", "mask", "symbol")}


@dataclass(frozen=True)
class Given:
    """One start stroke: absolute path data in the photo's pixels, kept or free, and (kept
    ones) the style it was drawn with, its stroke width in photo pixels."""

    d: str
    locked: bool
    style: str = ""

    def wire(self) -> dict:
        return {"d": self.d, "locked": self.locked}


def start_field(given: list[Given]) -> dict[str, str]:
    """The submission field: the list as one JSON string, as multipart forms carry it."""
    return {"start": json.dumps([g.wire() for g in given])} if given else {}


def to_json(given: list[Given]) -> str:
    """What a layer remembers of its start ("" for none)."""
    if not given:
        return ""
    return json.dumps([{**g.wire(), "style": g.style} for g in given])


def from_json(text: str | None, name: str) -> list[Given]:
    """A layer's remembered start; a damaged one is refused naming the layer."""
    if not text:
        return []
    try:
        items = json.loads(text)
        given = [Given(str(i["d"]), bool(i["locked"]), str(i.get("style") or ""))
                 for i in items]
    except (ValueError, TypeError, KeyError, AttributeError):
        raise inkex.AbortExtension(
            f"The start strokes recorded in layer {name!r} are damaged (sketchify:start "
            "cannot be read): sketch the photo again. Nothing was changed.") from None
    return given


def remember(layer: inkex.BaseElement, image_id: str, given: list[Given], plot: str = ""
             ) -> None:
    """Mark a new sketch layer with its photo, its start and the plot settings its job asked."""
    layer.set(IMAGE_ATTR, image_id)
    if given:
        layer.set(START_ATTR, to_json(given))
    if plot:
        layer.set(PLOTTED_ATTR, plot)


def drawn_paths(selection: list[inkex.BaseElement]) -> list[inkex.BaseElement]:
    """The shapes in the selection (inside selected groups too), each once, in selection
    order: every one is a stroke."""
    found = []
    for element in selection:
        for node in element.iter():
            if isinstance(node, SHAPES) and node not in found and not any(
                    parent.tag in _HIDDEN for parent in node.iterancestors()):
                found.append(node)
    return found


def start_strokes(selection: list[inkex.BaseElement], targets: list[SelectedImage],
                  locked: bool) -> dict[int, list[Given]]:
    """The selected paths as start strokes, per index of the photo each lies over; a path over
    no selected photo, or over two, is refused."""
    paths = drawn_paths(selection)
    if not paths:
        raise inkex.AbortExtension(
            "The Sketch tab says selected paths are start strokes, but no path is selected: "
            "select the paths you drew over the photo too, or choose “the object's outline”.")
    found: dict[int, list[Given]] = {}
    for element in paths:
        name = element_name(element)
        hits = [(index, path) for index, target in enumerate(targets)
                if _over(path := pixel_path(element, target, locked), target.pixels)]
        if not hits:
            raise inkex.AbortExtension(
                f"The path {name} lies over none of the selected images: draw start strokes "
                "over the photo, or leave the path out of the selection.")
        if len(hits) > 1:
            names = " and ".join(element_name(targets[i].image) for i, _ in hits[:2])
            raise inkex.AbortExtension(
                f"The path {name} lies over two selected images ({names}): a start stroke "
                "belongs to one photo.")
        index = hits[0][0]
        found.setdefault(index, []).append(given_stroke(element, targets[index], locked))
    return found


def given_stroke(element: inkex.BaseElement, target: SelectedImage, locked: bool) -> Given:
    """``element`` as a start stroke over ``target``; a kept one with the style it shows."""
    path = pixel_path(element, target, locked)
    name = element_name(element)
    style = (drawn_style(element, stroke_scale(target.to_pixels @ to_root(element)), name)
             if locked else "")
    return Given(path_data(path), locked, style)


def pixel_path(element: inkex.BaseElement, target: SelectedImage, locked: bool
               ) -> inkex.Path:
    """``element``'s path in ``target``'s pixels, through every transform: a kept one as it
    shows, one to refine as the line it was drawn along."""
    name = element_name(element)
    shown = element.path if locked else drawn_line(element)
    try:
        path = shown.to_absolute().transform(target.to_pixels @ to_root(element))
    except (ValueError, TypeError, IndexError, ZeroDivisionError) as err:
        raise inkex.AbortExtension(f"The path {name} cannot be read: {err}.") from None
    if all(command.letter in "MZ" for command in path):
        raise inkex.AbortExtension(
            f"The path {name} draws nothing (it has no segment): leave it out of the "
            "selection.")
    return path


def drawn_line(element: inkex.BaseElement) -> inkex.Path:
    """The line the user drew: under an effect that gives it width, not the outline it shows
    (which a kept stroke keeps, with the style that fills it). Other effects (BSpline, Spiro)
    keep their control polygon in ``original-d``: the line is the one they show."""
    original = element.get(ORIGINAL_D)
    if original and _widening(element):
        return inkex.Path(original)
    return element.path


def _widening(element: inkex.BaseElement) -> bool:
    """Whether every live path effect on ``element`` draws an outline around its line."""
    refs = (element.get(PATH_EFFECT) or "").split(";")
    effects = [element.root.getElementById(ref.strip().lstrip("#")) for ref in refs if ref.strip()]
    return bool(effects) and all(e is not None and e.get("effect") in _WIDENING for e in effects)


def _over(path: inkex.Path, pixels: tuple[int, int]) -> bool:
    """Whether the path's control polygon (which holds the curve) meets the photo."""
    nodes = [point for subpath in path.to_superpath() for node in subpath for point in node]
    xs, ys = [p[0] for p in nodes], [p[1] for p in nodes]
    return min(xs) <= pixels[0] and max(xs) >= 0 and min(ys) <= pixels[1] and max(ys) >= 0


def path_data(path: inkex.Path) -> str:
    """Absolute path data with ``DECIMALS`` decimals (inkex's own keeps 6 digits in all)."""
    words = []
    for command in path:
        args = [number(value, DECIMALS) for value in command.args]
        if command.letter == "A":  # the large-arc and sweep flags are 0 or 1
            args[3:5] = [str(int(bool(flag))) for flag in command.args[3:5]]
        words.append(" ".join([command.letter, *args]))
    return " ".join(words)


def drawn_style(element: inkex.BaseElement, scale: float, name: str) -> str:
    """The element's style as it shows (inherited properties included), its stroke width
    multiplied by ``scale``, the scale of the transforms its path data is carried through."""
    return scaled_style(element.specified_style(), scale, f"The stroke width of {name}")


def scaled_style(style: inkex.Style | str, scale: float, what: str) -> str:
    style = inkex.Style(style)
    for key in _PLACED:
        style.pop(key, None)
    width = length(style.get("stroke-width"), what, 1.0)
    style["stroke-width"] = f"{width * scale:.6g}"
    # Dashes are lengths along the stroke: they scale with it, as its width does.
    dashes = style.get("stroke-dasharray")
    if dashes and dashes.strip() != "none":
        style["stroke-dasharray"] = ",".join(
            f"{length(value, f'{what} (its dashes)') * scale:.6g}"
            for value in dashes.replace(",", " ").split())
    if style.get("stroke-dashoffset"):
        offset = length(style["stroke-dashoffset"], f"{what} (its dash offset)")
        style["stroke-dashoffset"] = f"{offset * scale:.6g}"
    return str(style)


def keep_styles(paths: list[inkex.PathElement], given: list[Given], scale: float,
                problem: str) -> None:
    """Give the first paths of a sketch (the start strokes, in the order sent) the style the
    kept ones were drawn with; ``scale``: photo pixels -> the layer's units."""
    if len(paths) < len(given):
        raise inkex.AbortExtension(f"{problem} lacks the start strokes it was sent.")
    for path, stroke in zip(paths, given, strict=False):
        if stroke.locked and stroke.style:
            path.set("style", scaled_style(stroke.style, scale, f"{problem}'s kept stroke width"))
