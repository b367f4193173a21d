"""A sketch's start: the user's own strokes, each locked (kept as given, drawn into every view)
or free (a start point for the optimization), in the photo's pixels after EXIF orientation.

Read from the API's ``start`` list or from an SVG laid over the photo (``--start``); standard
library and lxml only, so both doors check a start before torch loads.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from sketchify.core.errors import InputError
from sketchify.core.paths import (
    Cubic,
    Matrix,
    Segment,
    bounds,
    cubics,
    exact,
    fit_cubic,
    multiply,
    parse_path,
    parse_transform,
    path_data,
    transformed,
)

START_KEYS = ("d", "locked")


@dataclass(frozen=True)
class GivenStroke:
    """One given stroke: its absolute segments in photo px (float64), whether it is locked,
    its SVG stroke width in photo px (None: the sketch's own width) and ``source``, the path
    data as the API sent it ("" for an SVG's path, which only its placed segments stand for)."""

    segments: tuple[Segment, ...]
    locked: bool = False
    width: float | None = None
    source: str = ""

    @property
    def d(self) -> str:
        """Its path data, absolute and exact in photo px: how a locked stroke is written back."""
        return path_data(self.segments, exact)

    def cubic(self) -> Cubic:
        """The one cubic a free stroke starts as (several segments fitted to one)."""
        return fit_cubic(cubics(self.segments))


@dataclass(frozen=True)
class Start:
    strokes: tuple[GivenStroke, ...]

    def __len__(self) -> int:
        return len(self.strokes)

    @property
    def locked(self) -> list[GivenStroke]:
        return [s for s in self.strokes if s.locked]

    @property
    def free(self) -> list[GivenStroke]:
        return [s for s in self.strokes if not s.locked]

    def items(self) -> list[dict[str, Any]]:
        """The stored and fingerprinted form: ``[{"d", "locked"}]`` (and ``width`` where an
        SVG gave one), what a job keeps and ``summary`` hashes."""
        return [{"d": s.source or s.d, "locked": s.locked}
                | ({} if s.width is None else {"width": s.width}) for s in self.strokes]

    def summary(self) -> dict[str, Any]:
        """What a job and an SVG's provenance record: the module's ``summary`` of ``items()``."""
        return summary(self.items())

    def check(self, width: int, height: int, counts: Sequence[int]) -> None:
        """Refuse a start that does not fit a ``width`` x ``height`` photo sketched at
        ``counts``: all a stroke draws (an arc's whole sweep, not only its ends) within one
        photo size of the photo, no count below the number given."""
        for i, stroke in enumerate(self.strokes):
            for seg in stroke.segments:
                for x, y in bounds(seg):
                    if not (-width <= x <= 2 * width and -height <= y <= 2 * height):
                        raise InputError(
                            f"start stroke {i + 1} reaches ({x:g}, {y:g}), more than one photo "
                            f"size outside the {width}x{height} photo", field="start")
        if counts and min(counts) < len(self.strokes):
            raise InputError(f"{len(self.strokes)} strokes are given but the smallest count asked "
                             f"is {min(counts)}; ask at least {len(self.strokes)}", field="start")


def summary(items: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """The counts of a start's stored form (``Start.items()``, as a job keeps it) and the
    SHA-256 of its canonical JSON (keys sorted, no spaces); None: no start."""
    if items is None:
        return None
    canonical = json.dumps(items, sort_keys=True, separators=(",", ":"))
    return {"given": len(items), "locked": sum(bool(item["locked"]) for item in items),
            "sha256": hashlib.sha256(canonical.encode()).hexdigest()}


def from_items(items: Any, max_items: int | None = None, max_chars: int | None = None) -> Start:
    """A start from the API's list of ``{"d": path data, "locked": bool}`` (``locked`` false
    when left out); InputError (field ``start``) for anything else."""
    if not isinstance(items, list) or not items:
        raise InputError("start must be a non-empty list of {\"d\", \"locked\"} objects",
                         field="start")
    if max_items is not None and len(items) > max_items:
        raise InputError(f"start may hold at most {max_items} strokes", field="start")
    chars = sum(len(item["d"]) for item in items
                if isinstance(item, dict) and isinstance(item.get("d"), str))
    if max_chars is not None and chars > max_chars:
        raise InputError(f"start may hold at most {max_chars} characters of path data",
                         field="start")
    strokes = []
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise InputError(f"start item {i} must be an object {{\"d\", \"locked\"}}",
                             field="start")
        unknown = sorted(set(item) - set(START_KEYS))
        if unknown:
            raise InputError(f"start item {i} has an unknown key {unknown[0]!r}", field="start")
        locked = item.get("locked", False)
        if not isinstance(locked, bool):
            raise InputError(f"start item {i}: locked must be true or false", field="start")
        d = item.get("d")
        strokes.append(GivenStroke(_segments(d, f"start item {i}"), locked, source=d))
    return Start(tuple(strokes))


def _segments(d: Any, where: str) -> tuple[Segment, ...]:
    if not isinstance(d, str):
        raise InputError(f"{where}: d must be SVG path data (text)", field="start")
    try:
        segments = parse_path(d)
    except InputError as exc:
        raise InputError(f"{where}: {exc}", field="start") from None
    if not segments:
        raise InputError(f"{where}: the path data draws nothing", field="start")
    return tuple(segments)


_SVG = "{http://www.w3.org/2000/svg}"
_LENGTH = re.compile(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zA-Z]*)\s*")
# CSS's absolute units in px, which are SVG's user units when no viewBox says otherwise.
_UNITS = {"": 1.0, "px": 1.0, "in": 96.0, "cm": 96 / 2.54, "mm": 96 / 25.4, "pt": 96 / 72,
          "pc": 16.0}
# Containers whose content is drawn only where something refers to it, if at all.
_NOT_DRAWN = {f"{_SVG}{name}" for name in ("defs", "clipPath", "mask", "marker", "symbol",
                                           "pattern")}
_STROKE_WIDTH = re.compile(r"(?:^|;)\s*stroke-width\s*:\s*([^;]+)")


def from_svg(data: bytes, width: int, height: int, lock: bool = False) -> Start:
    """Every drawn ``<path>`` of an SVG laid over a ``width`` x ``height`` photo: its viewBox
    (or its width and height) maps onto the photo's pixels, the transforms of the path and its
    ancestors (the root ``<svg>`` too) applied; other elements, and paths that are only
    referenced (in ``<defs>``, a clip path, mask, marker, symbol or pattern), are ignored; a
    path in a nested ``<svg>`` is refused. No entities, no network. ``lock`` locks them
    all."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise InputError(f"not a readable SVG document: {exc}", field="start") from None
    if root.tag != f"{_SVG}svg":
        raise InputError("not an SVG document (its root is not <svg>)", field="start")
    view = _view_matrix(root, width, height)
    strokes = []
    for i, path in enumerate(root.iter(f"{_SVG}path"), start=1):
        chain = [*reversed(list(path.iterancestors())), path]
        if any(element.tag in _NOT_DRAWN for element in chain):
            continue
        if any(element.tag == f"{_SVG}svg" for element in chain[1:]):
            raise InputError(f"<path> {i} is inside a nested <svg>, which is not read; "
                             "ungroup it", field="start")
        m = view
        try:
            for element in chain:
                m = multiply(m, parse_transform(element.get("transform")))
            segments = parse_path(path.get("d", ""))
        except InputError as exc:
            raise InputError(f"<path> {i}: {exc}", field="start") from None
        if not segments:
            continue
        stroke_width = _stroke_width(chain, f"<path> {i}")
        scale = math.sqrt(abs(m[0] * m[3] - m[1] * m[2]))
        strokes.append(GivenStroke(tuple(transformed(segments, m)), lock,
                                   None if stroke_width is None else stroke_width * scale))
    if not strokes:
        raise InputError("the SVG has no <path> that draws anything", field="start")
    return Start(tuple(strokes))


def _view_matrix(root: etree._Element, width: int, height: int) -> Matrix:
    """The SVG's user space onto the photo's pixels: the viewBox's box (else the document's
    width and height, else the photo's own size) stretched over the photo."""
    box = root.get("viewBox")
    if box is not None:
        try:
            x, y, w, h = (float(v) for v in re.split(r"[\s,]+", box.strip()))
        except ValueError:
            raise InputError(f"unreadable viewBox {box!r}", field="start") from None
    else:
        x, y = 0.0, 0.0
        w, h = (float(size) if root.get(name) is None or root.get(name).strip().endswith("%")
                else _length(root.get(name), f"the SVG's {name}")
                for name, size in (("width", width), ("height", height)))
    if not all(map(math.isfinite, (x, y, w, h))) or w <= 0 or h <= 0:
        what = f"viewBox {box!r}" if box is not None else f"size {w:g} x {h:g}"
        raise InputError(f"the SVG's {what} is empty", field="start")
    scale = (width / w, height / h)
    return multiply((scale[0], 0.0, 0.0, scale[1], 0.0, 0.0), (1.0, 0.0, 0.0, 1.0, -x, -y))


def _length(value: str, what: str) -> float:
    """A length in px: a number, bare or in an absolute CSS unit; InputError naming ``what``."""
    match = _LENGTH.fullmatch(value)
    if match is None or match[2].lower() not in _UNITS or not math.isfinite(float(match[1])):
        raise InputError(f"{what} {value!r} is not a length in px, mm, cm, in, pt or pc",
                         field="start")
    return float(match[1]) * _UNITS[match[2].lower()]


def _stroke_width(chain: list[etree._Element], where: str) -> float | None:
    """The stroke width a path inherits (its own first), in its user units; one that is not
    more than 0 is passed over, as SVG passes over a negative one."""
    for element in reversed(chain):
        style = _STROKE_WIDTH.search(element.get("style", ""))
        value = style[1] if style else element.get("stroke-width")
        if value is not None and value.strip() != "inherit":
            px = _length(value, f"{where}: stroke-width")
            if px > 0:
                return px
    return None
