"""A ``<path>`` as a pen draws it: its absolute segments (``sketchify.core.paths`` reads path
data, here as everywhere) drawn backwards, measured and written back, never otherwise changed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from lxml import etree

from sketchify.core.errors import InputError
from sketchify.core.paths import Point, Segment, cubics, parse_path, path_data

PathData = Sequence[Segment]
_SAMPLES = np.linspace(0.0, 1.0, 65)  # where a curve is measured: well inside 0.1 % of length


def number(value: float) -> str:
    """A coordinate as SVG text: five decimals keep a round trip well inside 1e-4 px even on
    4096 px images (and 1e-5 mm on paper)."""
    text = f"{value:.5f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def segments(path: etree._Element) -> list[Segment]:
    """A ``<path>`` element's segments (``InputError``, field ``svg``, naming unreadable path
    data)."""
    try:
        return parse_path(path.get("d", ""))
    except InputError as exc:
        raise InputError(f"unreadable path {path.get('d')!r}: {exc}", field="svg") from None


def reverse(path: PathData) -> list[Segment]:
    """The same lines drawn from the other end: the segments in reverse order, each backwards
    (an arc with the other sweep; a closing line, which no longer closes, as a plain line), a
    subpath opening where one ended before."""
    backwards = list(reversed(path))
    return [Segment("L" if s.kind == "Z" else s.kind, s.points[::-1],
                    s.arc and (*s.arc[:4], not s.arc[4]), i == 0 or backwards[i - 1].opens)
            for i, s in enumerate(backwards)]


def ends(path: PathData) -> tuple[Point, Point]:
    """Where the pen goes down first and comes up last (jumps between subpaths belong to the
    path: they are the same whichever way it is drawn)."""
    return path[0].start, path[-1].end


def pen_down_length(path: PathData) -> float:
    """The length of every line of the path, closing lines included (an arc measured along
    its cubics, within ``paths.ARC_TOLERANCE``)."""
    curves = cubics(path)
    if not curves:
        return 0.0
    control = np.asarray(curves, dtype=np.float64)[:, None]  # [n, 1, 4, 2]
    t = _SAMPLES[None, :, None]
    points = ((1 - t) ** 3 * control[:, :, 0] + 3 * (1 - t) ** 2 * t * control[:, :, 1]
              + 3 * (1 - t) * t**2 * control[:, :, 2] + t**3 * control[:, :, 3])
    return float(np.hypot(*np.diff(points, axis=1).transpose(2, 0, 1)).sum())


def path_text(path: PathData) -> str:
    """Absolute path data, each number written by :func:`number`."""
    return path_data(path, number)
