#!/usr/bin/env python3
"""Extensions > Sketchify > Sketchify image…: send each selected image to the Sketchify
backend and add its sketches as new layers lined up on the image, one per stroke count.

With "wait" on, it waits for the sketches (a progress window shows the backend's estimate, the
steps and the current best strokes). With it off, it submits the jobs and adds placeholder
layers at once; Extensions > Sketchify > Update sketches fills them later.

Everything (pixels, masks, placement, the backend's answers) is read and checked before the
document is touched, so any failure leaves it exactly as it was."""

from __future__ import annotations

import argparse
import contextlib
import functools
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import inkex
from sketchify_ink.client import FINISHED, Backend
from sketchify_ink.durations import about, seconds_text
from sketchify_ink.geometry import ImageFrame, stroke_scale
from sketchify_ink.layers import SketchSvg, fill, insert, label, new_layer, unique_id
from sketchify_ink.mask import SelectedImage, masks, wanted
from sketchify_ink.pixels import pixel_size
from sketchify_ink.placeholders import QUEUED, RUNNING, Record, fraction, status_text
from sketchify_ink.plot import add_plot_arguments, pen_strokes, plot_field, plot_name, plot_settings
from sketchify_ink.progress import Waiting, progress_window
from sketchify_ink.source import ImageSource, link_folders
from sketchify_ink.start import Given, keep_styles, remember, start_field, start_strokes, to_json

IMAGE_TAG = inkex.addNS("image", "svg")
PRESETS = ("auto", "standard", "draft", "best")
# What selected paths over a photo are: its outline (a mask), start strokes free to move, or
# strokes to keep as drawn.
SELECTED_PATHS = ("outline", "start", "keep")
BOX_COUNTS = (4, 8, 16, 32)
POLL_S = 0.5
PREVIEW_S = 3.0  # how often the progress window fetches the current best strokes
LONG_S = 600.0  # past ten minutes the window says so plainly
UPDATE_MENU = "Extensions › Sketchify › Update sketches"


@dataclass
class Item:
    """One selected image on its way through the backend."""

    image: inkex.BaseElement
    source: ImageSource
    frame: ImageFrame
    mask: bytes | None = None
    start: list[Given] = field(default_factory=list)
    job: str = ""
    state: dict = field(default_factory=dict)
    svgs: dict[int, bytes] = field(default_factory=dict)
    plot: str = ""  # "Plotter-ready": the plot settings sent (JSON)
    plots: dict[int, bytes] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state.get("status") in FINISHED

    @functools.cached_property
    def pixels(self) -> tuple[int, int]:
        """The photo's size in pixels as the backend sees it."""
        size = pixel_size(self.source.data)
        if size is None or 0 in size:
            raise inkex.AbortExtension(
                f"The image {self.source.label} is not a PNG, JPEG, WebP, GIF or BMP file, "
                "so it cannot be sketched: embed or link a photo in one of those formats."
            )
        return size


class SketchifyImage(inkex.EffectExtension):
    def add_arguments(self, pars):
        pars.add_argument("--tab", default="sketch")
        for count in BOX_COUNTS:
            pars.add_argument(f"--strokes_{count}", type=inkex.Boolean, default=count == 16)
        pars.add_argument("--strokes_other", default="")
        pars.add_argument("--preset", default="auto", choices=PRESETS)
        pars.add_argument("--steps", type=int, default=0)
        pars.add_argument("--prompt", default="")
        pars.add_argument("--seed", type=int, default=0)
        pars.add_argument("--selected_paths", default="outline", choices=SELECTED_PATHS)
        backend_arguments(pars)
        add_plot_arguments(pars)

    def effect(self):
        counts = stroke_counts(self.options)
        folders = link_folders(self.options.input_file)
        selection = list(self.svg.selection)
        items = []
        for image in selected_images(self.svg):
            source = ImageSource.read(image, folders)
            items.append(Item(image, source, ImageFrame.of(image, source.label)))
        drawn = self.options.selected_paths
        if drawn != "outline":
            for index, given in start_strokes(selection, targets(items), drawn == "keep").items():
                items[index].start = given
            check_counts(items, counts)
            selection = []  # no path outlines the object: only clip-paths make masks
        if self.options.plot:
            for item in items:
                item.plot = plot_settings(self.options, self.svg, item.frame, item.pixels)
        if wanted(selection, [item.image for item in items]):
            for index, mask in masks(selection, targets(items)).items():
                items[index].mask = mask
        # Only now, with every layer built, does the document change.
        insert([(item.image, layers) for item, layers in
                zip(items, self.run_jobs(items, counts), strict=True)])

    def run_jobs(self, items: list[Item], counts: list[int]) -> list[list[inkex.Layer]]:
        """Each item's new layers: its sketches (waiting for them) or placeholders."""
        if self.options.wait:
            self.sketch(items, counts)
            return [self.sketch_layers(item, counts) for item in items]
        # Every placeholder records its image's pixel size: read them all before sending.
        sizes = [item.pixels for item in items]
        backend = self.backend()
        try:
            self.submit(backend, items, counts, Waiting(), deadline=None)
        except BaseException:
            cancel_unfinished(backend, items)
            raise
        finally:
            backend.close()
        return [self.placeholder_layers(item, counts, backend.url, size)
                for item, size in zip(items, sizes, strict=True)]

    def backend(self) -> Backend:
        return Backend(self.options.url, self.options.token)

    def fields(self, counts: list[int]) -> dict[str, str]:
        options = self.options
        fields = {"strokes": ",".join(map(str, counts)), "preset": options.preset,
                  "seed": str(options.seed)}
        if options.steps > 0:
            fields["steps"] = str(options.steps)
        if options.prompt.strip():
            fields["prompt"] = options.prompt.strip()
        return fields

    def submit(self, backend: Backend, items: list[Item], counts: list[int],
               progress: Waiting, deadline: float | None) -> None:
        """One job per image. With a ``deadline``, a job the backend expects to finish after
        it is refused; the caller cancels every job it submitted on any error (a queued job
        canceled never starts: reading the estimate from the submission's answer costs no
        compute)."""
        fields = self.fields(counts)
        _TERMINATION.install()
        for number, item in enumerate(items, 1):
            progress.show(f"Sending {item.source.label} ({number} of {len(items)})…", 0.0)
            with _TERMINATION.deferred():
                item.state = backend.submit(item.source.data, item.source.filename,
                                            {**fields, **start_field(item.start),
                                             **plot_field(item.plot)}, item.mask)
                item.job = item.state["id"]
            if deadline is not None:
                self.refuse_if_too_long(item, deadline)

    def refuse_if_too_long(self, item: Item, deadline: float) -> None:
        seconds, text = seconds_text(item.state, "estimate_s", "estimate_text")
        if seconds is not None and seconds > deadline - time.monotonic():
            raise inkex.AbortExtension(
                f"Sketching {item.source.label} would take {text} (the backend's estimate, "
                f"its queue included), longer than the {self.options.timeout} s this dialog "
                "waits, so it was not started and the document was not changed. Choose the "
                "Draft preset or fewer steps, or turn off “Wait for the sketches” to keep "
                f"working and collect them later with {UPDATE_MENU}."
            )

    def sketch(self, items: list[Item], counts: list[int]) -> None:
        """Run one backend job per image and collect its SVG per stroke count."""
        backend = self.backend()
        deadline = time.monotonic() + self.options.timeout
        try:
            with progress_window("Sketchify") as progress:
                self.submit(backend, items, counts, progress, deadline)
                self.wait(backend, items, counts, deadline, progress)
                progress.show("Fetching the sketches…", 1.0)
                for item in items:
                    item.svgs = {count: backend.svg(item.job, count) for count in counts}
                    if item.plot:
                        item.plots = {n: backend.svg(item.job, n, "plot") for n in counts}
        except BaseException:
            cancel_unfinished(backend, items)
            raise
        finally:
            backend.close()

    def wait(self, backend: Backend, items: list[Item], counts: list[int], deadline: float,
             progress: Waiting) -> None:
        next_preview = 0.0
        while True:
            for item in (item for item in items if not item.finished):  # done: asked no more
                item.state = backend.job(item.job)
                status, name = item.state.get("status"), item.source.label
                if status == "failed":
                    raise inkex.AbortExtension(
                        f"Sketching {name} failed on the backend: "
                        f"{item.state.get('error') or 'no reason given.'}"
                    )
                if status == "canceled":
                    raise inkex.AbortExtension(
                        f"The job for {name} was canceled on the backend; "
                        "the document was not changed."
                    )
            if all(item.finished for item in items):
                return
            done = sum(fraction(item.state) for item in items) / len(items)
            lines = [f"{item.source.label}: {describe(item.state)}" for item in items]
            note = long_note(items)
            progress.show("\n".join([*lines, *([note] if note else [])]), done)
            if progress.previews and time.monotonic() >= next_preview:
                next_preview = time.monotonic() + PREVIEW_S
                running = [item for item in items if item.state.get("status") == "running"]
                sketch = running and backend.preview(running[0].job, counts[-1])
                if sketch:
                    progress.preview(running[0].source.data, sketch)
            if progress.canceled:
                raise inkex.AbortExtension(
                    "Canceled: the jobs were canceled on the backend and the document was "
                    "not changed."
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise inkex.AbortExtension(
                    f"The backend did not finish within {self.options.timeout} s, so the job "
                    "was canceled on the backend. Allow more time in the Backend tab, pick "
                    "the Draft preset or fewer steps, or turn off “Wait for the sketches”."
                )
            progress.wait(min(POLL_S, left))

    def sketch_layers(self, item: Item, counts: list[int]) -> list[inkex.Layer]:
        taken = set(self.svg.get_ids())
        layers = []
        for count in counts:
            problem = f"The backend's {count}-stroke sketch of {item.frame.name}"
            sketch = SketchSvg.parse(item.svgs[count], problem)
            placement = item.frame.pixels_to_root(sketch.pixels)
            paths = sketch.paths(placement, problem)
            keep_styles(paths, item.start, stroke_scale(placement), problem)
            layer = new_layer(label(count, item.source.label),
                              unique_id(taken, layer_id(item.image, count)),
                              visible=count == counts[-1])
            remember(layer, item.image.get_id(), item.start, item.plot)
            fill(layer, paths, sketch.provenance, taken)
            layers.append(layer)
            if item.plot:
                layers.append(self.plot_layer(item, count, taken))
        return layers

    def plot_layer(self, item: Item, count: int, taken: set[str]) -> inkex.Layer:
        """The plot-ready strokes beside the editable layer, hidden: shown for the plotter."""
        problem = f"The backend's {count}-stroke plot-ready sketch of {item.frame.name}"
        sketch = SketchSvg.parse(item.plots[count], problem)
        paths = sketch.paths(item.frame.pixels_to_root(sketch.pixels), problem)
        layer = new_layer(label(count, plot_name(item.source.label, item.plot)),
                          unique_id(taken, f"plot-{layer_id(item.image, count)}"),
                          visible=False)
        remember(layer, item.image.get_id(), item.start)
        fill(layer, pen_strokes(paths, item.plot, self.svg), sketch.provenance, taken)
        return layer

    def placeholder_layers(self, item: Item, counts: list[int], url: str,
                           pixels: tuple[int, int]) -> list[inkex.Layer]:
        """Empty layers that remember their job, for Update sketches to fill."""
        taken = set(self.svg.get_ids())
        frame = item.frame.pixels_to_root((0.0, 0.0, *map(float, pixels)))
        status = RUNNING if item.state.get("status") == RUNNING else QUEUED
        sent = self.fields(counts)
        seed = sent.get("seed")
        seeds = sent.get("seeds") or (item.state.get("params") or {}).get("seeds") or 1
        layers = []
        for count in counts:
            layer = new_layer(label(count, item.source.label, status_text(item.state)),
                              unique_id(taken, layer_id(item.image, count)),
                              visible=count == counts[-1])
            record = Record(url=url, job=item.job, count=count, image=item.image.get_id(),
                            frame=frame, pixels=pixels, status=status,
                            start=to_json(item.start),
                            seed=None if seed is None else int(seed), seeds=int(seeds))
            record.write(layer)
            remember(layer, item.image.get_id(), item.start, item.plot)
            layers.append(layer)
            if item.plot:
                plot = new_layer(label(count, plot_name(item.source.label, item.plot),
                                       status_text(item.state)),
                                 unique_id(taken, f"plot-{layer_id(item.image, count)}"),
                                 visible=False)
                replace(record, plot=item.plot).write(plot)
                layers.append(plot)
        return layers


def backend_arguments(pars: argparse.ArgumentParser) -> None:
    """The options every dialog that sends jobs has: waiting, the backend and its token."""
    pars.add_argument("--wait", type=inkex.Boolean, default=True)
    pars.add_argument("--url", default="http://127.0.0.1:8765")
    pars.add_argument("--token", default="")
    pars.add_argument("--timeout", type=int, default=1800)


def cancel_unfinished(backend: Backend, items: list[Item]) -> None:
    for item in items:
        if item.job and not item.finished:
            backend.cancel(item.job)


class _Termination:
    """Inkscape's own Cancel ends the script with SIGTERM: the jobs are canceled on the way
    out. A SIGTERM during a submission waits for its answer, which names the job to cancel."""

    def __init__(self) -> None:
        self.deferring = False
        self.pending = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False
        if self.pending:
            self._abort()

    def _handle(self, *_args) -> None:
        if self.deferring:
            self.pending = True
        else:
            self._abort()

    @staticmethod
    def _abort() -> None:
        raise inkex.AbortExtension("Canceled by Inkscape; the jobs were canceled on the "
                                   "backend.")


_TERMINATION = _Termination()


def layer_id(image: inkex.BaseElement, count: int) -> str:
    return f"sketch{count}-{image.get('id') or 'image'}"


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


def targets(items: list[Item]) -> list[SelectedImage]:
    return [SelectedImage(item.image, item.frame, item.pixels) for item in items]


def check_counts(items: list[Item], counts: list[int]) -> None:
    """Every sketch holds the start strokes given for its photo, so none may ask fewer."""
    for item in items:
        if len(item.start) > counts[0]:
            raise inkex.AbortExtension(
                f"{len(item.start)} start strokes lie over {item.source.label}, more than the "
                f"{counts[0]}-stroke sketch asked for: ask for at least {len(item.start)} "
                "strokes on the Sketch tab, or select fewer paths.")


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
    """One line of the progress window: the estimate before the first step, the ETA after."""
    status = state.get("status")
    progress = state.get("progress") or {}
    where = _where(state)
    step, total = progress.get("step") or 0, progress.get("total")
    if status == "queued" or (status == "running" and not step):
        ahead = state.get("queue_position") if status == "queued" else None
        start = "starting" if status == "running" else (
            f"queued, {ahead} job{'s' if ahead != 1 else ''} ahead" if ahead else "queued")
        _, estimate = seconds_text(state, "estimate_s", "estimate_text")
        return f"{start}{where}" + (f", {estimate} in all" if estimate != "unknown" else "")
    if status == "running" and total:
        _, eta = seconds_text(progress, "eta_s", "eta_text")
        text = f"step {step} of {total}{where}"
        return f"{text}, {eta} left" if eta != "unknown" else text
    return str(status)


def _where(state: dict) -> str:
    """` (Draft on cpu)` once the backend has resolved the preset where the job runs."""
    preset, device = state.get("resolved_preset"), state.get("device")
    if not isinstance(preset, str):
        return ""
    return f" ({preset.capitalize()} on {device})" if device else f" ({preset.capitalize()})"


def remaining(state: dict) -> tuple[float | None, str]:
    """The time a job still needs: the ETA once it has taken a step, else the estimate."""
    if state.get("status") in FINISHED:
        return 0.0, about(0.0)
    if (state.get("progress") or {}).get("step"):
        return seconds_text(state["progress"], "eta_s", "eta_text")
    return seconds_text(state, "estimate_s", "estimate_text")


def long_note(items: list[Item]) -> str:
    """A plain warning when the longest wait is over ten minutes."""
    known = [(s, text) for s, text in (remaining(item.state) for item in items) if s is not None]
    if not known or max(known)[0] <= LONG_S:
        return ""
    return (f"This takes {max(known)[1]}, more than ten minutes. Cancel and choose the "
            "Draft preset, or turn off “Wait for the sketches” to keep working while it runs "
            f"and collect the sketches later with {UPDATE_MENU}.")


if __name__ == "__main__":
    SketchifyImage().run()
