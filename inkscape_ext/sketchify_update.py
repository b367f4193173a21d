#!/usr/bin/env python3
"""Extensions > Sketchify > Update sketches: fill the placeholder layers that "Sketchify
image…" left (with "wait" off) once their jobs are done, placed on the image where it is now
(where it was, if it was deleted); put the progress of running jobs into their labels, and mark
failed, canceled and expired ones with the reason. Nothing else in the document changes, and
running it twice changes nothing more.

The token goes only to the backend URL given in this dialog: placeholders recorded with another
backend are left alone and reported (a shared document must not send a token to a URL that
someone else wrote into it). Every answer is read before the document is touched."""

from __future__ import annotations

import re
from dataclasses import dataclass

import inkex
from sketchify_ink.client import Backend, normalized
from sketchify_ink.geometry import ImageFrame, aspect_ratio_transform, stroke_scale, to_root
from sketchify_ink.layers import LABEL, SketchSvg, fill, relabel
from sketchify_ink.placeholders import (
    CANCELED,
    DONE,
    EXPIRED,
    FAILED,
    PENDING,
    QUEUED,
    RUNNING,
    Record,
    mark,
    placeholders,
    status_text,
)
from sketchify_ink.plot import pen_strokes
from sketchify_ink.start import from_json, keep_styles

IMAGE_TAG = inkex.addNS("image", "svg")
REASON_CHARS = 200  # a failure reason longer than this is cut in the label


@dataclass
class Change:
    """What one placeholder becomes, decided before anything is changed."""

    layer: inkex.BaseElement
    record: Record
    status: str
    suffix: str = ""
    paths: list[inkex.PathElement] | None = None
    provenance: str | None = None


class UpdateSketches(inkex.EffectExtension):
    def add_arguments(self, pars):
        pars.add_argument("--tab", default="backend")
        pars.add_argument("--url", default="http://127.0.0.1:8765")
        pars.add_argument("--token", default="")

    def effect(self):
        found = placeholders(self.svg)
        url = normalized(self.options.url)
        pending = [(layer, record) for layer, record in found if record.status in PENDING]
        mine = [(layer, record) for layer, record in pending if normalized(record.url) == url]
        others = sorted({normalized(r.url) for _, r in pending if normalized(r.url) != url})
        left_alone = len(pending) - len(mine)
        if not mine:
            raise inkex.AbortExtension(nothing_to_do(bool(found), others, left_alone, url))
        changes = self.collect(mine, url)
        taken = set(self.svg.get_ids())
        for change in changes:
            current = change.layer.get(LABEL) or f"{change.record.count} strokes"
            wanted = relabel(current, change.suffix)
            if wanted != current:
                change.layer.set(LABEL, wanted)
            if change.status != change.record.status:
                mark(change.layer, change.status)
            if change.paths is not None:
                fill(change.layer, change.paths, change.provenance, taken)
        if others:
            inkex.errormsg(
                f"Updated the sketches from {url}. {_sketches(left_alone)} started with "
                f"{_backends(others)} {'was' if left_alone == 1 else 'were'} left alone: the "
                f"token in this dialog is only sent to {url}. To collect "
                f"{'it' if left_alone == 1 else 'them'}, enter that URL (and its token) in "
                "the Backend tab."
            )

    def collect(self, mine: list[tuple[inkex.BaseElement, Record]], url: str) -> list[Change]:
        """Ask the backend about every job (once each), then work out each change."""
        backend = Backend(url, self.options.token)
        try:
            backend.check()  # a wrong URL must not turn every placeholder "expired"
            states = {}
            for _, record in mine:
                if record.job not in states:
                    states[record.job] = backend.known_job(record.job)
            svgs = {
                (record.job, record.count, record.plot): backend.svg_or_none(
                    record.job, record.count, "plot" if record.plot else "svg")
                for _, record in mine
                if (states[record.job] or {}).get("status") == DONE
            }
        finally:
            backend.close()
        changes = []
        for layer, record in mine:
            state = states[record.job]
            status = (state or {}).get("status")
            svg = svgs.get((record.job, record.count, record.plot))
            if state is None or (status == DONE and svg is None):
                changes.append(Change(layer, record, EXPIRED, EXPIRED))
            elif status == DONE:
                problem = f"The backend's {record.count}-stroke sketch for layer {layer.get('id')}"
                sketch = SketchSvg.parse(svg, problem)
                placement = self.placement(layer, record, sketch)
                paths = sketch.paths(placement, problem)
                if record.plot:  # kept strokes too: in the plotter's order, the pen's width
                    paths = pen_strokes(paths, record.plot, self.svg, layer)
                else:
                    keep_styles(paths, from_json(record.start, layer.get(LABEL) or
                                                 layer.get("id")), stroke_scale(placement), problem)
                changes.append(Change(layer, record, DONE, "", paths, sketch.provenance))
            elif status == FAILED:
                changes.append(Change(layer, record, FAILED, f"failed: {_reason(state)}"))
            elif status == CANCELED:
                changes.append(Change(layer, record, CANCELED, CANCELED))
            elif status == RUNNING:
                changes.append(Change(layer, record, RUNNING, status_text(state)))
            else:
                changes.append(Change(layer, record, QUEUED, QUEUED))
        return changes

    def placement(self, layer: inkex.BaseElement, record: Record,
                  sketch: SketchSvg) -> inkex.Transform:
        """Image pixels -> the layer's own coordinates: through the image as it is now, or,
        if it was deleted, through the frame recorded when the job was sent."""
        image = self.svg.getElementById(record.image)
        if image is not None and image.tag == IMAGE_TAG:
            name = image.get(LABEL) or record.image
            pixels_to_root = ImageFrame.of(image, name).pixels_to_root(sketch.pixels)
        else:
            recorded = (0.0, 0.0, *map(float, record.pixels))
            pixels_to_root = record.frame @ aspect_ratio_transform(
                recorded, sketch.pixels, "none")
        return -to_root(layer) @ pixels_to_root


def nothing_to_do(any_found: bool, others: list[str], left_alone: int, url: str) -> str:
    if others:
        return (f"Nothing was updated: {_sketches(left_alone)} waiting in this document "
                f"{'was' if left_alone == 1 else 'were'} started with {_backends(others)}, "
                f"and the token in this dialog is only sent to {url}. To collect them, enter "
                "that URL (and its token) in the Backend tab.")
    if any_found:
        return ("Nothing to update: every Sketchify sketch in this document is finished "
                "(done, failed, canceled or expired).")
    return ("This document has no Sketchify placeholders. Start sketches with Extensions › "
            "Sketchify › Sketchify image… with “Wait for the sketches” off; their layers are "
            "filled here.")


def _sketches(number: int) -> str:
    return f"{number} sketch" + ("" if number == 1 else "es")


def _backends(urls: list[str]) -> str:
    names = ", ".join(urls)
    return f"another backend ({names})" if len(urls) == 1 else f"other backends ({names})"


def _reason(state: dict) -> str:
    text = re.sub(r"\s+", " ", str(state.get("error") or "no reason given")).strip()
    return text if len(text) <= REASON_CHARS else text[:REASON_CHARS - 1] + "…"


if __name__ == "__main__":
    UpdateSketches().run()
