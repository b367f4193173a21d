#!/usr/bin/env python3
"""Extensions > Sketchify > Sketch again: a new sketch layer from a finished one, above it.

Either the same sketch with a new seed (the settings its provenance records, the start strokes
it was sent), or more strokes starting from the layer's strokes as they are now, each kept or
free to move. The photo is the one the layer records (``sketchify:image``), or a selected one
(layers from before that record need it). A mask drawn in the document is drawn again from
the photo's clip-path or a selected outline. The layer itself is never changed; everything is
read and checked before anything is sent."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import inkex
from sketchify_image import IMAGE_TAG, Item, SketchifyImage, backend_arguments
from sketchify_ink.geometry import ImageFrame
from sketchify_ink.layers import LABEL, METADATA_TAG, PROVENANCE_FORMAT, insert
from sketchify_ink.mask import SHAPES, SelectedImage, masks
from sketchify_ink.placeholders import attr, refuse_newer, tried_seeds
from sketchify_ink.plot import PEN_RANGE, pen_taken
from sketchify_ink.source import ImageSource, link_folders
from sketchify_ink.start import (
    IMAGE_ATTR,
    PLOTTED_ATTR,
    START_ATTR,
    Given,
    drawn_paths,
    from_json,
    given_stroke,
)

AGAIN = ("seed", "more")
LAYER_STROKES = ("keep", "free", "selected")
GROUPMODE = inkex.addNS("groupmode", "inkscape")
JOB_ATTR = attr("job")
MENU = "Extensions › Sketchify › Sketch again"
# Provenance keys sent back as the same submission fields.
SAME = ("preset", "steps", "seeds", "prompt", "width", "precision")
NAMED_MASKS = ("none", "alpha", "auto")
_SKETCH_LABEL = re.compile(r"(?P<release_010>Sketch · )?\d+ strokes · ")
_SKETCH_ID = re.compile(r"sketch\d+-")
# What to do about a placeholder layer that holds no sketch, per its status.
_NO_SKETCH = {
    "queued": "collect it with Extensions › Sketchify › Update sketches first.",
    "failed": "its job failed on the backend; sketch the photo with Sketchify image… instead.",
    "canceled": "its job was canceled; sketch the photo with Sketchify image… instead.",
    "expired": "the backend no longer has its job; sketch the photo with Sketchify image… "
               "instead.",
}


class SketchAgain(SketchifyImage):
    def add_arguments(self, pars):
        pars.add_argument("--tab", default="again")
        pars.add_argument("--again", default="seed", choices=AGAIN)
        pars.add_argument("--strokes", type=int, default=32)
        pars.add_argument("--layer_strokes", default="keep", choices=LAYER_STROKES)
        backend_arguments(pars)

    def effect(self):
        selection = list(self.svg.selection)
        layer = chosen_layer(selection, current_layer(self.svg))
        name = layer.get(LABEL) or layer.get("id") or "the sketch layer"
        settings = provenance(layer, name)
        photo = chosen_photo(self.svg, selection, layer, name)
        source = ImageSource.read(photo, link_folders(self.options.input_file))
        item = Item(photo, source, ImageFrame.of(photo, source.label))
        target = SelectedImage(photo, item.frame, item.pixels)
        if self.options.again == "seed":
            count = int(settings["strokes"])
            item.start = from_json(layer.get(START_ATTR), name)
            same_photo(item.start, photo, layer, name)
            seed = untried_seed(self.svg)
        else:
            count = self.options.strokes
            item.start = self.layer_start(layer, selection, target, name, count)
            seed = settings.get("first_seed")
        item.mask = drawn_mask(settings, selection, layer, target, name)
        self.same = {key: settings[key] for key in SAME if settings.get(key) is not None}
        if settings.get("mask") in NAMED_MASKS:
            self.same["mask"] = settings["mask"]
        if seed is not None:
            self.same["seed"] = seed
        item.plot = plot_asked(settings, layer, name)
        (layers,) = self.run_jobs([item], [count])
        insert([(layer, layers)])  # just above the layer it came from

    def fields(self, counts: list[int]) -> dict[str, str]:
        return {"strokes": ",".join(map(str, counts)),
                **{key: str(value) for key, value in self.same.items()}}

    def layer_start(self, layer: inkex.BaseElement, selection: list[inkex.BaseElement],
                    target: SelectedImage, name: str, count: int) -> list[Given]:
        """The layer's strokes as they are now, each kept or free as the dialog says."""
        strokes = drawn_paths([layer])
        if not strokes:
            raise inkex.AbortExtension(f"The layer {name!r} has no strokes to start from.")
        if count < len(strokes):
            raise inkex.AbortExtension(
                f"The layer {name!r} has {len(strokes)} strokes, more than the {count} asked "
                f"for: ask for at least {len(strokes)} strokes in {MENU}.")
        choice = self.options.layer_strokes
        chosen = [s for s in strokes if any(n in selection for n in inside(s, layer))]
        if choice == "selected" and not chosen:
            raise inkex.AbortExtension(
                f"“Kept if selected” is chosen but no stroke of the layer {name!r} is "
                "selected: select the strokes to keep (Shift+click), or choose another option.")
        return [given_stroke(stroke, target,
                             choice == "keep" or (choice == "selected" and stroke in chosen))
                for stroke in strokes]


def inside(stroke: inkex.BaseElement, layer: inkex.BaseElement) -> list[inkex.BaseElement]:
    """The stroke and its groups inside the layer: selecting any of them chooses it
    (selecting the layer itself chooses the layer, not its strokes)."""
    nodes = [stroke]
    for node in stroke.iterancestors():
        if node is layer:
            break
        nodes.append(node)
    return nodes


def is_layer(element: inkex.BaseElement) -> bool:
    return element.tag == inkex.addNS("g", "svg") and element.get(GROUPMODE) == "layer"


def is_sketch_layer(element: inkex.BaseElement) -> bool:
    """A layer Sketchify made: it holds a sketch's provenance, or waits for one."""
    return is_layer(element) and (element.get(JOB_ATTR) is not None
                                  or any(True for _ in element.iterchildren(METADATA_TAG)))


def is_recordless_layer(element: inkex.BaseElement) -> bool:
    """A layer Sketchify made that holds no record of how: 0.1.0 labelled it
    `Sketch · 16 strokes · cat.jpg` (later ones `16 strokes · cat.jpg`) and gave it the id
    `sketch16-<image id>`, as every release has."""
    return is_layer(element) and bool(
        _SKETCH_LABEL.match(element.get(LABEL) or "") or _SKETCH_ID.match(element.get("id") or ""))


def holding(selection: list[inkex.BaseElement], current: inkex.BaseElement | None,
            wanted: Callable[[inkex.BaseElement], bool]) -> list[inkex.BaseElement]:
    """The ``wanted`` layers holding the selection, else the current layer if it is one."""
    layers = []
    for element in selection:
        found = next((node for node in (element, *element.iterancestors()) if wanted(node)),
                     None)
        if found is not None and found not in layers:
            layers.append(found)
    if not layers and current is not None and wanted(current):
        layers.append(current)
    return layers


def chosen_layer(selection: list[inkex.BaseElement],
                 current: inkex.BaseElement | None) -> inkex.BaseElement:
    """The one sketch layer holding the selection, else the current layer if it is one."""
    layers = holding(selection, current, is_sketch_layer)
    recordless = [] if layers else holding(selection, current, is_recordless_layer)
    if recordless:
        label = recordless[0].get(LABEL) or ""
        # Only 0.1.0's labels carry its prefix; a later layer got here by losing its record.
        made_by_010 = (match := _SKETCH_LABEL.match(label)) and match["release_010"]
        why = ("was made by an older Sketchify, which kept no record of its settings in it"
               if made_by_010 else
               "holds no record of its settings (its metadata was removed, or an older "
               "Sketchify made it)")
        raise inkex.AbortExtension(
            f"The layer {label or recordless[0].get('id')!r} {why}, so it cannot be sketched "
            "again: sketch the photo with Sketchify image… instead. Nothing was changed.")
    if not layers:
        raise inkex.AbortExtension(
            "No sketch layer is selected: select a stroke of the Sketchify layer to sketch "
            f"again (or make it the current layer), then run {MENU}.")
    if len(layers) > 1:
        raise inkex.AbortExtension(
            "The selection spans two sketch layers "
            f"({' and '.join(repr(g.get(LABEL) or g.get('id')) for g in layers[:2])}): "
            "select strokes of one of them.")
    return layers[0]


def current_layer(svg: inkex.SvgDocumentElement) -> inkex.BaseElement | None:
    """The layer Inkscape was drawing in. Read by hand: inkex's own lookup adds a
    ``sodipodi:namedview`` to a document without one, a change to a refused run's document."""
    view = svg.find(inkex.addNS("namedview", "sodipodi"))
    ident = None if view is None else view.get(inkex.addNS("current-layer", "inkscape"))
    return svg.getElementById(ident) if ident else None


def provenance(layer: inkex.BaseElement, name: str) -> dict:
    """How the layer's sketch was made, as the backend recorded it."""
    status = layer.get(attr("status"))
    if layer.get(JOB_ATTR) is not None and status != "done":
        raise inkex.AbortExtension(
            f"The layer {name!r} has no sketch ({status}): "
            f"{_NO_SKETCH.get(status, _NO_SKETCH['queued'])}")
    for metadata in layer.iterchildren(METADATA_TAG):
        try:
            settings = json.loads(metadata.text or "")
        except ValueError:
            continue
        if isinstance(settings, dict) and isinstance(settings.get("strokes"), int):
            if isinstance(settings.get("format"), int):
                refuse_newer(name, "backend", "provenance", settings["format"],
                             PROVENANCE_FORMAT, "sketch it again")
            return settings
    raise inkex.AbortExtension(
        f"The layer {name!r} holds no record of how it was sketched (its backend wrote "
        "none), so it cannot be sketched again: use Sketchify image… instead.")


def chosen_photo(svg: inkex.SvgDocumentElement, selection: list[inkex.BaseElement],
                 layer: inkex.BaseElement, name: str) -> inkex.BaseElement:
    """A selected photo, else the one the layer records."""
    photos = []
    for element in selection:
        photos += [node for node in element.iter(IMAGE_TAG) if node not in photos]
    if len(photos) > 1:
        raise inkex.AbortExtension(
            f"{len(photos)} images are selected: select only the photo the layer {name!r} "
            "was sketched from.")
    if photos:
        return photos[0]
    recorded = layer.get(IMAGE_ATTR)
    if not recorded:
        raise inkex.AbortExtension(
            f"The layer {name!r} was made before Sketchify recorded its photo: select the "
            "photo too (Shift+click it), then run Sketch again.")
    photo = svg.getElementById(recorded)
    if photo is None or photo.tag != IMAGE_TAG:
        raise inkex.AbortExtension(
            f"The photo the layer {name!r} was sketched from (id {recorded}) is no longer in "
            "the document: select the photo to sketch, then run Sketch again.")
    return photo


def same_photo(start: list[Given], photo: inkex.BaseElement, layer: inkex.BaseElement,
               name: str) -> None:
    """The recorded start is in the recorded photo's pixels: it fits no other photo."""
    recorded = layer.get(IMAGE_ATTR)
    if start and recorded and photo.get_id() != recorded:
        raise inkex.AbortExtension(
            f"The layer {name!r} was sketched from the photo {recorded!r} with start strokes "
            f"in its pixels, but {photo.get_id()!r} is selected: select that photo (or none), "
            "or choose “more strokes” to start from the layer's strokes over this one.")


def drawn_mask(settings: dict, selection: list[inkex.BaseElement], layer: inkex.BaseElement,
               target: SelectedImage, name: str) -> bytes | None:
    """A ``file`` mask drawn again: from a selected outline outside the layer, else the
    photo's clip-path."""
    if settings.get("mask") != "file":
        return None
    outlines = [el for el in selection if isinstance(el, SHAPES) and layer not in
                el.iterancestors()]
    found = masks(outlines, [target]).get(0)
    if found is None:
        raise inkex.AbortExtension(
            f"The layer {name!r} was sketched with a mask drawn in the document, and the "
            "photo has no clip-path: select its outline too (a closed path over the photo), "
            "then run Sketch again.")
    return found


def plot_asked(settings: dict, layer: inkex.BaseElement, name: str) -> str:
    """The plot settings (JSON) the layer's job asked: a plot layer's provenance records them,
    an editable layer remembers its plot layers'; "" for none. A pen the backend no longer
    takes for a new job is refused here, before anything is sent."""
    if isinstance(settings.get("plot"), dict):
        asked = json.dumps(settings["plot"])
    else:
        asked = layer.get(PLOTTED_ATTR) or ""
    try:
        pen = json.loads(asked)["pen_mm"] if asked else None
    except (ValueError, TypeError, KeyError):
        pen = None  # unreadable: the backend names what is wrong with it
    if isinstance(pen, (int, float)) and not pen_taken(pen):
        raise inkex.AbortExtension(
            f"The layer {name!r} was sketched plotter-ready with a {pen:g} mm pen, and the "
            f"backend now takes pens {PEN_RANGE}: sketch the photo with Sketchify image… "
            "and a pen in that range instead. Nothing was changed.")
    return asked


def untried_seed(svg: inkex.SvgDocumentElement) -> int:
    """The first seed no sketch in the document has tried (a job tries ``seeds`` of them
    from ``first_seed``), its placeholders' jobs included."""
    tried = [0]
    for element in svg.iter():
        if isinstance(element.tag, str) and (after := tried_seeds(element)) is not None:
            tried.append(after)
    for metadata in svg.iter(METADATA_TAG):
        try:
            settings = json.loads(metadata.text or "")
            tried.append(int(settings["first_seed"]) + int(settings.get("seeds") or 1))
        except (ValueError, TypeError, KeyError):
            continue
    return max(tried)


if __name__ == "__main__":
    SketchAgain().run()
