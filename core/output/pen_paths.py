"""A ``<path>`` as a pen draws it: its subpaths of absolute line, quadratic, cubic and arc
segments, drawn backwards, moved onto the paper, measured and written back, never otherwise
changed.

:func:`read_path_data` is the one place path data is read here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from sketchify.core.errors import InputError

Point = tuple[float, float]
NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TOKEN = re.compile(rf"{NUMBER}|[A-Za-z]")
_ARITY = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "T": 2, "A": 7, "Z": 0}
_SAMPLES = np.linspace(0.0, 1.0, 65)  # where a curve is measured: well inside 0.1 % of length


def number(value: float) -> str:
    """A coordinate as SVG text: five decimals keep a round trip well inside 1e-4 px even on
    4096 px images (and 1e-5 mm on paper)."""
    text = f"{value:.5f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


@dataclass(frozen=True)
class Segment:
    """``kind`` L, Q, C or A; ``points``: its control points, then its end; ``arc``: an A's
    radii, x-axis rotation (degrees), large-arc and sweep flags."""

    kind: str
    points: tuple[Point, ...]
    arc: tuple[float, float, float, bool, bool] | None = None


@dataclass(frozen=True)
class Subpath:
    start: Point
    segments: tuple[Segment, ...]
    closed: bool = False

    @property
    def end(self) -> Point:
        return self.start if self.closed or not self.segments else self.segments[-1].points[-1]


PathData = tuple[Subpath, ...]


def read_path_data(d: str) -> PathData:
    """SVG path data (M L H V C S Q T A Z, absolute or relative) as absolute subpaths;
    anything malformed is refused (``InputError``, field ``svg``)."""
    if re.sub(rf"{NUMBER}|[A-Za-z]|[\s,]", "", d):
        raise InputError(f"path data holds characters it cannot: {d[:80]!r}", field="svg")
    tokens = _TOKEN.findall(d)
    subpaths: list[Subpath] = []
    start = pen = (0.0, 0.0)
    segments: list[Segment] = []
    command, previous = "", None  # previous: the last segment, whose control S and T reflect
    at, opened = 0, False  # opened: a subpath has begun (a lone M is a dot the pen touches)

    def flush(closed: bool) -> None:
        if opened:
            subpaths.append(Subpath(start, tuple(segments), closed))
        segments.clear()

    while at < len(tokens):
        if tokens[at].isalpha():
            command, at = tokens[at], at + 1
            if command.upper() not in _ARITY:
                raise InputError(f"path command {command!r} is not SVG path data (M L H V C "
                                 "S Q T A Z)", field="svg")
            if command in "Zz":
                flush(True)
                pen, previous, opened = start, None, False
                continue
        elif not command or command in "Zz":
            raise InputError(f"path data must start with a command: {d[:80]!r}", field="svg")
        arity = _ARITY[command.upper()]
        values = tokens[at:at + arity]
        if len(values) < arity or any(v.isalpha() for v in values):
            raise InputError(f"path command {command!r} lacks numbers: {d[:80]!r}", field="svg")
        at += arity
        numbers = [float(v) for v in values]
        if not all(map(math.isfinite, numbers)):
            raise InputError(f"path data holds a number too large: {d[:80]!r}", field="svg")
        base = pen if command.islower() else (0.0, 0.0)
        upper = command.upper()
        if upper == "H":
            numbers = [numbers[0], pen[1] - base[1]]
        elif upper == "V":
            numbers = [pen[0] - base[0], numbers[0]]
        elif upper == "A":
            if not opened:
                start, opened = pen, True
            rx, ry, rotation, large, sweep, x, y = numbers
            end = (base[0] + x, base[1] + y)
            # Radii of 0 make the arc a line (the SVG rule).
            previous = Segment("L", (end,)) if rx == 0 or ry == 0 else Segment(
                "A", (end,), (abs(rx), abs(ry), rotation, large != 0, sweep != 0))
            segments.append(previous)
            pen = end
            continue
        points = [(base[0] + numbers[k], base[1] + numbers[k + 1])
                  for k in range(0, len(numbers), 2)]
        if upper == "M":
            flush(False)
            start = pen = points[0]
            command, previous, opened = ("l" if command == "m" else "L"), None, True
            continue
        if not opened:  # drawing on after Z: a new subpath from where the last one closed
            start, opened = pen, True
        if upper in "ST":
            kind = "C" if upper == "S" else "Q"
            mirror = pen
            if previous is not None and previous.kind == kind:
                control = previous.points[-2]
                mirror = (2 * pen[0] - control[0], 2 * pen[1] - control[1])
            points = [mirror, *points]
        else:
            kind = {"L": "L", "H": "L", "V": "L", "C": "C", "Q": "Q"}[upper]
        previous = Segment(kind, tuple(points))
        segments.append(previous)
        pen = points[-1]
    flush(False)
    if not subpaths:
        raise InputError(f"path data draws nothing: {d[:80]!r}", field="svg")
    return tuple(subpaths)


def reverse(path: PathData) -> PathData:
    """The same lines drawn from the other end: subpaths in reverse order, each backwards."""
    return tuple(_reverse(sub) for sub in reversed(path))


def _reverse(sub: Subpath) -> Subpath:
    ends = [sub.start] + [s.points[-1] for s in sub.segments]
    turned = tuple(Segment(s.kind, (*s.points[-2::-1], ends[k]),
                           s.arc and (*s.arc[:4], not s.arc[4]))  # backwards: other sweep
                   for k, s in reversed(list(enumerate(sub.segments))))
    if not sub.closed:
        return Subpath(ends[-1], turned, False)
    # A closed loop starts and ends where it did; its closing line is drawn first instead.
    closing = (Segment("L", (ends[-1],)),) if ends[-1] != sub.start else ()
    return Subpath(sub.start, closing + turned, True)


def moved(path: PathData, scale: float, dx: float, dy: float) -> PathData:
    """Every point (x, y) at (dx + scale * x, dy + scale * y)."""

    def at(p: Point) -> Point:
        return (dx + scale * p[0], dy + scale * p[1])

    def arc(s: Segment) -> tuple[float, float, float, bool, bool] | None:
        return s.arc and (s.arc[0] * scale, s.arc[1] * scale, *s.arc[2:])

    return tuple(Subpath(at(sub.start), tuple(Segment(s.kind, tuple(at(p) for p in s.points),
                                                      arc(s))
                                              for s in sub.segments), sub.closed)
                 for sub in path)


def ends(path: PathData) -> tuple[Point, Point]:
    """Where the pen goes down first and comes up last (jumps between subpaths belong to the
    path: they are the same whichever way it is drawn)."""
    return path[0].start, path[-1].end


def pen_down_length(path: PathData) -> float:
    """The length of every line of the path, closing lines included."""
    total = 0.0
    for sub in path:
        here = sub.start
        for segment in sub.segments:
            total += _length(here, segment)
            here = segment.points[-1]
        if sub.closed:
            total += float(np.hypot(sub.start[0] - here[0], sub.start[1] - here[1]))
    return total


def _length(start: Point, segment: Segment) -> float:
    control = np.asarray([start, *segment.points], dtype=np.float64)
    if segment.kind == "A":
        curve = _arc_points(start, segment)
        return float(np.hypot(*np.diff(curve, axis=0).T).sum())
    if segment.kind == "L":
        return float(np.hypot(*(control[1] - control[0])))
    t = _SAMPLES[:, None]
    if segment.kind == "Q":
        curve = (1 - t) ** 2 * control[0] + 2 * (1 - t) * t * control[1] + t**2 * control[2]
    else:
        curve = ((1 - t) ** 3 * control[0] + 3 * (1 - t) ** 2 * t * control[1]
                 + 3 * (1 - t) * t**2 * control[2] + t**3 * control[3])
    return float(np.hypot(*np.diff(curve, axis=0).T).sum())


def _arc_points(start: Point, segment: Segment) -> np.ndarray:
    """Points along an arc, from its centre form (the SVG specification's conversion from
    end points, radii scaled up when too small to reach)."""
    rx, ry, rotation, large, sweep = segment.arc
    (x1, y1), (x2, y2) = start, segment.points[-1]
    phi = math.radians(rotation)
    cos, sin = math.cos(phi), math.sin(phi)
    dx, dy = (x1 - x2) / 2, (y1 - y2) / 2
    px, py = cos * dx + sin * dy, -sin * dx + cos * dy
    grow = (px / rx) ** 2 + (py / ry) ** 2
    if grow > 1:
        rx, ry = rx * math.sqrt(grow), ry * math.sqrt(grow)
    square = rx * rx * ry * ry
    spread = rx * rx * py * py + ry * ry * px * px
    factor = math.sqrt(max(0.0, (square - spread) / spread)) if spread else 0.0
    if large == sweep:
        factor = -factor
    cx, cy = factor * rx * py / ry, -factor * ry * px / rx

    def angle(ux: float, uy: float) -> float:
        return math.atan2(uy, ux)

    first = angle((px - cx) / rx, (py - cy) / ry)
    delta = angle((-px - cx) / rx, (-py - cy) / ry) - first
    if sweep and delta < 0:
        delta += 2 * math.pi
    elif not sweep and delta > 0:
        delta -= 2 * math.pi
    t = first + delta * _SAMPLES
    ex, ey = rx * np.cos(t), ry * np.sin(t)
    return np.stack([cos * ex - sin * ey + cx * cos - cy * sin + (x1 + x2) / 2,
                     sin * ex + cos * ey + cx * sin + cy * cos + (y1 + y2) / 2], axis=1)


def path_text(path: PathData) -> str:
    """Absolute path data: ``M x y`` then each segment, ``Z`` for a closed subpath."""
    parts = []
    for sub in path:
        parts.append(f"M {number(sub.start[0])} {number(sub.start[1])}")
        for segment in sub.segments:
            arc = "" if segment.arc is None else " ".join(
                [number(segment.arc[0]), number(segment.arc[1]), number(segment.arc[2]),
                 str(int(segment.arc[3])), str(int(segment.arc[4]))]) + " "
            parts.append(segment.kind + " " + arc + " ".join(f"{number(x)} {number(y)}"
                                                             for x, y in segment.points))
        if sub.closed:
            parts.append("Z")
    return " ".join(parts)
