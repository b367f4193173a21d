"""What a pen draws of a path, whichever way and order it is drawn: the plot tests compare
paths by it."""

from __future__ import annotations

import pytest

from sketchify.core.paths import parse_path


def geometry(d: str, scale: float = 1.0) -> list:
    """A path's segments as sorted undirected point lists (end points and controls, in the
    units ``x / scale``, flat; an arc also by its radii): the same whichever way and order
    it is drawn."""
    found = []
    for segment in parse_path(d):
        points = segment.points
        radii = () if segment.arc is None else tuple(r / scale for r in segment.arc[:2])
        key = tuple(v / scale for point in points for v in point)
        turned = tuple(v / scale for point in points[::-1] for v in point)
        found.append(min(key, turned) + radii)
    return sorted(found)


def same_geometry(a: list, b: list) -> bool:
    """Whether two lists of paths' geometries draw the same, within 1e-3 of a unit."""
    flat = [v for path in sorted(a) for segment in path for v in segment]
    return len(a) == len(b) and flat == pytest.approx(
        [v for path in sorted(b) for segment in path for v in segment], abs=1e-3)
