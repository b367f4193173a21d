"""Placeholder layers: what a sketch that is still on the backend needs to be collected later,
kept in the document as attributes in the Sketchify namespace (never the token: documents get
shared). A format number travels with them: what an older extension wrote is read, what a
newer one wrote is refused rather than misread."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import inkex
from lxml import etree

NS = "urn:sketchify-clipasso:inkscape"
PREFIX = "sketchify"
# 2: sketchify:start (the start strokes sent, JSON) and sketchify:plot (a plot-ready layer's
# plot settings, JSON), sketchify:seed and sketchify:seeds (the seeds the job tries, so that
# Sketch again picks another before the layer is filled); format 1 has none of them.
FORMAT = 2
etree.register_namespace(PREFIX, NS)  # so saved documents say sketchify:job, not ns0:job

QUEUED, RUNNING, DONE = "queued", "running", "done"
FAILED, CANCELED, EXPIRED = "failed", "canceled", "expired"
PENDING = (QUEUED, RUNNING)
STATUSES = (QUEUED, RUNNING, DONE, FAILED, CANCELED, EXPIRED)


def status_text(state: dict) -> str:
    """A pending job's status as its layer label shows it: `queued`, `running 40 %`."""
    if state.get("status") == RUNNING:
        return f"running {round(100 * fraction(state))} %"
    return QUEUED


def fraction(state: dict) -> float:
    """How much of a job (its JSON) is done, 0 to 1."""
    if state.get("status") in (DONE, FAILED, CANCELED):
        return 1.0
    value = (state.get("progress") or {}).get("fraction")
    return float(value) if isinstance(value, (int, float)) else 0.0


def attr(name: str) -> str:
    """An attribute name in the Sketchify namespace."""
    return f"{{{NS}}}{name}"


SEED_ATTR, SEEDS_ATTR = attr("seed"), attr("seeds")


@dataclass(frozen=True)
class Record:
    url: str  # the backend the job was sent to
    job: str
    count: int  # strokes in this layer's sketch
    image: str  # the id of the image it sketches
    frame: inkex.Transform  # that image's pixels -> root user units, at submission
    pixels: tuple[int, int]  # the image's size in pixels at submission
    status: str
    start: str = ""  # the start strokes sent (start.py's JSON), "" for none
    plot: str = ""  # a plot-ready layer's plot settings (JSON); "" for the editable sketch
    seed: int | None = None  # the first seed the job tries (None: the backend's default)
    seeds: int = 1  # how many it tries from there, as far as the submission said

    def write(self, element: inkex.BaseElement) -> None:
        element.set(attr("format"), str(FORMAT))
        element.set(attr("url"), self.url)
        element.set(attr("job"), self.job)
        element.set(attr("strokes"), str(self.count))
        element.set(attr("image"), self.image)
        # Full precision: inkex's own str() keeps 6 digits, about 1e-3 units on a page.
        element.set(attr("frame"), "matrix({})".format(
            " ".join(repr(float(v)) for v in self.frame.to_hexad())))
        element.set(attr("pixels"), f"{self.pixels[0]} {self.pixels[1]}")
        element.set(attr("status"), self.status)
        if self.start:
            element.set(attr("start"), self.start)
        if self.plot:
            element.set(attr("plot"), self.plot)
        if self.seed is not None:
            element.set(SEED_ATTR, str(self.seed))
            element.set(SEEDS_ATTR, str(self.seeds))


def refuse_newer(name: str, maker: str, kind: str, found: int, known: int, action: str) -> None:
    """Refuse a record in the layer ``name`` whose format is newer than this extension knows:
    read by older rules it would be misread."""
    if found > known:
        raise inkex.AbortExtension(
            f"The layer {name!r} was made by a newer Sketchify {maker} ({kind} format {found}; "
            f"this extension reads format {known} or older): install the newer extension "
            f"(python3 install.py) to {action}. Nothing was changed.")


def tried_seeds(element: inkex.BaseElement) -> int | None:
    """The first seed no job of this placeholder tried, or None when it records none."""
    try:
        return int(element.get(SEED_ATTR, "")) + max(1, int(element.get(SEEDS_ATTR) or 1))
    except ValueError:
        return None


def mark(element: inkex.BaseElement, status: str) -> None:
    """Record a placeholder's new status (the only attribute an update changes)."""
    element.set(attr("status"), status)


def placeholders(svg: inkex.SvgDocumentElement) -> list[tuple[inkex.BaseElement, Record]]:
    """Every element of the document that records a Sketchify job, in document order."""
    found = []
    for element in svg.iter():
        if isinstance(element.tag, str) and element.get(attr("job")) is not None:
            found.append((element, read(element)))
    return found


def read(element: inkex.BaseElement) -> Record:
    name = element.get(inkex.addNS("label", "inkscape")) or element.get("id") or "a layer"
    raw = element.get(attr("format"), "")
    if not raw.isdigit() or int(raw) < 1:
        raise _malformed(name, "format")
    refuse_newer(name, "extension", "placeholder", int(raw), FORMAT, "update its sketches")
    try:
        count = int(element.get(attr("strokes"), ""))
        width, height = (int(v) for v in element.get(attr("pixels"), "").split())
        frame = inkex.Transform(element.get(attr("frame"), ""))
    except ValueError:
        raise _malformed(name, "strokes, pixels or frame") from None
    record = Record(
        url=element.get(attr("url"), ""), job=element.get(attr("job"), ""), count=count,
        image=element.get(attr("image"), ""), frame=frame, pixels=(width, height),
        status=element.get(attr("status"), ""),
        # Format 1 knew neither attribute: whatever else set them is not this job's.
        start=element.get(attr("start"), "") if int(raw) >= 2 else "",
        plot=element.get(attr("plot"), "") if int(raw) >= 2 else "",
    )
    if not (record.url and record.job and count > 0 and width > 0 and height > 0
            and record.status in STATUSES and all(map(math.isfinite, frame.to_hexad()))):
        raise _malformed(name, "url, job, strokes, pixels or status")
    if record.plot and not _plot_ok(record.plot):
        raise _malformed(name, "plot")
    if record.start and not _start_ok(record.start):
        raise _malformed(name, "start")
    return record


def _start_ok(text: str) -> bool:
    """Whether the start reads as start.py writes it: a list of strokes, each its path
    data and whether it is kept."""
    try:
        items = json.loads(text)
    except ValueError:
        return False
    return isinstance(items, list) and all(
        isinstance(i, dict) and isinstance(i.get("d"), str) and isinstance(i.get("locked"), bool)
        for i in items)


def _plot_ok(text: str) -> bool:
    try:
        settings = json.loads(text)
    except ValueError:
        return False
    pen = settings.get("pen_mm") if isinstance(settings, dict) else None
    return isinstance(pen, (int, float)) and math.isfinite(pen) and pen > 0


def _malformed(name: str, what: str) -> inkex.AbortExtension:
    return inkex.AbortExtension(
        f"The Sketchify placeholder {name!r} is damaged (its {what} cannot be read): delete "
        "the layer and sketch the image again. Nothing was changed."
    )
