#!/usr/bin/env python3
"""Extensions > Sketchify > Sketchify image…: send each selected image to the Sketchify
backend and add its sketches as new layers lined up on the image.

Everything (pixels, placement, the backend's answers) is read and checked before the document
is touched, so any failure leaves it exactly as it was."""

from __future__ import annotations

import re
import signal
import time
from dataclasses import dataclass, field

import inkex
from lxml import etree
from sketchify_client import FINISHED, Backend
from sketchify_geometry import ImageFrame, stroke_scale
from sketchify_progress import Waiting, progress_window
from sketchify_source import ImageSource, link_folders

IMAGE_TAG = inkex.addNS("image", "svg")
PATH_TAG = inkex.addNS("path", "svg")
PRESETS = ("standard", "draft", "best")
BOX_COUNTS = (4, 8, 16, 32)
POLL_S = 0.5
DIGITS = 4  # decimals kept in path coordinates: far below any visible difference
STYLE_KEYS = ("stroke", "stroke-opacity", "stroke-linecap", "stroke-linejoin", "opacity")


@dataclass
class Item:
    """One selected image on its way through the backend."""

    image: inkex.BaseElement
    source: ImageSource
    frame: ImageFrame
    job: str = ""
    state: dict = field(default_factory=dict)
    svgs: dict[int, bytes] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state.get("status") in FINISHED


class SketchifyImage(inkex.EffectExtension):
    def add_arguments(self, pars):
        pars.add_argument("--tab", default="sketch")
        for count in BOX_COUNTS:
            pars.add_argument(f"--strokes_{count}", type=inkex.Boolean, default=count == 16)
        pars.add_argument("--strokes_other", default="")
        pars.add_argument("--preset", default="standard", choices=PRESETS)
        pars.add_argument("--steps", type=int, default=0)
        pars.add_argument("--prompt", default="")
        pars.add_argument("--seed", type=int, default=0)
        pars.add_argument("--url", default="http://127.0.0.1:8765")
        pars.add_argument("--token", default="")
        pars.add_argument("--timeout", type=int, default=1800)

    def effect(self):
        counts = stroke_counts(self.options)
        folders = link_folders(self.options.input_file)
        items = []
        for image in selected_images(self.svg):
            source = ImageSource.read(image, folders)
            items.append(Item(image, source, ImageFrame.of(image, source.label)))
        self.sketch(items, counts)
        taken = set(self.svg.get_ids())
        built = [
            (item.image, [
                sketch_layer(item.svgs[count], count, item.frame,
                             unique_id(taken, item.image, count))
                for count in counts
            ])
            for item in items
        ]
        # Only now, with every layer built, does the document change.
        last = {}
        for image, layers in built:
            anchor = top_level(image)
            for layer in layers:
                last.get(anchor, anchor).addnext(layer)
                last[anchor] = layer

    def sketch(self, items: list[Item], counts: list[int]) -> None:
        """Run one backend job per image and collect its SVG text per stroke count."""
        options = self.options
        fields = {"strokes": ",".join(map(str, counts)), "preset": options.preset,
                  "seed": str(options.seed)}
        if options.steps > 0:
            fields["steps"] = str(options.steps)
        if options.prompt.strip():
            fields["prompt"] = options.prompt.strip()
        backend = Backend(options.url, options.token)
        deadline = time.monotonic() + options.timeout
        # Inkscape's own Cancel ends the script with SIGTERM: cancel the jobs on the way out.
        signal.signal(signal.SIGTERM, _terminated)
        try:
            with progress_window("Sketchify") as progress:
                for number, item in enumerate(items, 1):
                    label = item.source.label
                    progress.show(f"Sending {label} ({number} of {len(items)})…", 0.0)
                    item.job = backend.submit(item.source.data, item.source.filename,
                                              fields)["id"]
                self.wait(backend, items, deadline, progress)
                progress.show("Fetching the sketches…", 1.0)
                for item in items:
                    item.svgs = {count: backend.svg(item.job, count) for count in counts}
        except BaseException:
            for item in items:
                if item.job and not item.finished:
                    backend.cancel(item.job)
            raise
        finally:
            backend.close()

    def wait(self, backend: Backend, items: list[Item], deadline: float,
             progress: Waiting) -> None:
        while True:
            for item in items:
                item.state = backend.job(item.job)
                status, label = item.state.get("status"), item.source.label
                if status == "failed":
                    raise inkex.AbortExtension(
                        f"Sketching {label} failed on the backend: "
                        f"{item.state.get('error') or 'no reason given.'}"
                    )
                if status == "canceled":
                    raise inkex.AbortExtension(
                        f"The job for {label} was canceled on the backend; "
                        "the document was not changed."
                    )
            if all(item.finished for item in items):
                return
            fraction = sum(_fraction(item.state) for item in items) / len(items)
            progress.show("\n".join(
                f"{item.source.label}: {describe(item.state)}" for item in items
            ), fraction)
            if progress.canceled:
                raise inkex.AbortExtension(
                    "Canceled: the jobs were canceled on the backend and the document was "
                    "not changed."
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise inkex.AbortExtension(
                    f"The backend did not finish within {self.options.timeout} s, so the job "
                    "was canceled on the backend. Allow more time in the Backend tab, or pick "
                    "the Draft preset or fewer steps."
                )
            progress.wait(min(POLL_S, left))


def _terminated(*_args) -> None:
    raise inkex.AbortExtension("Canceled by Inkscape; the jobs were canceled on the backend.")


def stroke_counts(options) -> list[int]:
    counts = {count for count in BOX_COUNTS if getattr(options, f"strokes_{count}")}
    for word in re.split(r"[\s,;]+", options.strokes_other.strip()):
        if not word:
            continue
        if not word.isdigit() or int(word) < 1:
            raise inkex.AbortExtension(
                f"Other counts: {word!r} is not a whole number of strokes (use e.g. 12, 24)."
            )
        counts.add(int(word))
    if not counts:
        raise inkex.AbortExtension("Choose at least one stroke count on the Sketch tab.")
    return sorted(counts)


def selected_images(svg: inkex.SvgDocumentElement) -> list[inkex.BaseElement]:
    """Selected images, and images inside selected groups, each once, in selection order."""
    if not svg.selection:
        raise inkex.AbortExtension(
            "Nothing is selected: select one or more images, then run Sketchify image again."
        )
    images = []
    for element in svg.selection:
        for node in element.iter(IMAGE_TAG):
            if node not in images:
                images.append(node)
    if not images:
        raise inkex.AbortExtension(
            "The selection holds no image: select a photo (an image object), then run "
            "Sketchify image again."
        )
    return images


def describe(state: dict) -> str:
    status = state.get("status")
    if status == "queued":
        position = state.get("queue_position")
        return f"waiting in the queue (position {position})" if position else "queued"
    progress = state.get("progress") or {}
    if status == "running" and progress.get("total"):
        text = f"step {progress.get('step', 0)} of {progress['total']}"
        eta = progress.get("eta_s")
        return f"{text}, about {eta:.0f} s left" if isinstance(eta, (int, float)) else text
    return str(status)


def _fraction(state: dict) -> float:
    if state.get("status") in FINISHED:
        return 1.0
    value = (state.get("progress") or {}).get("fraction")
    return float(value) if isinstance(value, (int, float)) else 0.0


def sketch_layer(svg_data: bytes, count: int, frame: ImageFrame, layer_id: str) -> inkex.Layer:
    """The backend's SVG (paths in image pixels) as a top-level layer over the image."""
    problem = f"The backend's {count}-stroke sketch of {frame.name}"
    try:
        root = etree.fromstring(
            svg_data, etree.XMLParser(resolve_entities=False, no_network=True)
        )
        pixels = _pixel_rect(root)
        to_document = frame.pixels_to_root(pixels)
        scale = stroke_scale(to_document)
        layer = inkex.Layer.new(f"Sketch · {count} strokes · {frame.name}", id=layer_id)
        for source in root.iter(PATH_TAG):
            layer.append(_placed_path(source, to_document, scale))
    except (etree.XMLSyntaxError, ValueError, IndexError, TypeError, ZeroDivisionError):
        raise inkex.AbortExtension(f"{problem} could not be read.") from None
    if len(layer) == 0:
        raise inkex.AbortExtension(f"{problem} has no strokes.")
    return layer


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
        " ".join([cmd.letter, *(_number(arg) for arg in cmd.args)]) for cmd in path
    ))
    element.set("style", str(style))
    return element


def _inherited(chain: list[etree._Element], key: str) -> str | None:
    for node in chain:
        value = inkex.Style(node.get("style") or "").get(key) or node.get(key)
        if value:
            return value
    return None


def _number(value: float) -> str:
    # inkex's own formatting keeps only 6 significant digits.
    text = f"{value:.{DIGITS}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def top_level(element: inkex.BaseElement) -> inkex.BaseElement:
    """The element's ancestor (or itself) that sits directly under the root."""
    while element.getparent() is not None and element.getparent().getparent() is not None:
        element = element.getparent()
    return element


def unique_id(taken: set[str], image: inkex.BaseElement, count: int) -> str:
    base = f"sketch{count}-{image.get('id') or 'image'}"
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{base}-{number}"
    taken.add(candidate)
    return candidate


if __name__ == "__main__":
    SketchifyImage().run()
