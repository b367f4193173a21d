"""Points along SVG path data, segment by segment (lines, Béziers and elliptical arcs from the
SVG spec's endpoint-to-centre conversion), for comparing paths geometrically: written apart
from the extension's code, which carries paths through inkex."""

from __future__ import annotations

import itertools
import math

import inkex

STEPS = 8  # points per segment, its end included


def samples(d: str, transform: inkex.Transform | None = None) -> list[tuple[float, float]]:
    """Every segment's start, then ``STEPS`` points along it; ``transform`` applied after."""
    path = inkex.Path(d).to_absolute().to_non_shorthand()
    points: list[tuple[float, float]] = []
    current = start = (0.0, 0.0)
    for command in path:
        letter, args = command.letter, [float(v) for v in command.args]
        if letter == "M":
            current = start = (args[0], args[1])
            points.append(current)
            continue
        if letter == "Z":
            controls, end = [current, start], start
        elif letter in "LHV":
            end = {"L": (args[0], args[1]) if letter == "L" else current,
                   "H": (args[0], current[1]), "V": (current[0], args[0])}[letter]
            controls = [current, end]
        elif letter in "CQ":
            controls = [current, *zip(args[0::2], args[1::2], strict=True)]
            end = controls[-1]
        elif letter == "A":
            end = (args[5], args[6])
            points.extend(_arc(current, *args[:5], end))
            current = end
            continue
        else:
            raise ValueError(f"unexpected command {letter}")
        points.extend(_bezier(controls, step / STEPS) for step in range(1, STEPS + 1))
        current = end
    if transform is not None:
        points = [tuple(transform.apply_to_point(p)) for p in points]
    return points


def _bezier(controls: list[tuple[float, float]], t: float) -> tuple[float, float]:
    while len(controls) > 1:
        controls = [((1 - t) * a[0] + t * b[0], (1 - t) * a[1] + t * b[1])
                    for a, b in itertools.pairwise(controls)]
    return controls[0]


def _arc(p0, rx, ry, angle, large, sweep, p1) -> list[tuple[float, float]]:
    """SVG 1.1 appendix F.6: endpoint parametrization to centre parametrization."""
    if p0 == p1:
        return []
    rx, ry = abs(rx), abs(ry)
    if rx == 0 or ry == 0:
        return [_bezier([p0, p1], step / STEPS) for step in range(1, STEPS + 1)]
    phi = math.radians(angle)
    cos, sin = math.cos(phi), math.sin(phi)
    dx, dy = (p0[0] - p1[0]) / 2, (p0[1] - p1[1]) / 2
    x1, y1 = cos * dx + sin * dy, -sin * dx + cos * dy
    grow = x1 * x1 / (rx * rx) + y1 * y1 / (ry * ry)
    if grow > 1:
        rx, ry = rx * math.sqrt(grow), ry * math.sqrt(grow)
    numerator = rx * rx * ry * ry - rx * rx * y1 * y1 - ry * ry * x1 * x1
    factor = math.sqrt(max(0.0, numerator / (rx * rx * y1 * y1 + ry * ry * x1 * x1)))
    if bool(large) == bool(sweep):
        factor = -factor
    cx1, cy1 = factor * rx * y1 / ry, -factor * ry * x1 / rx
    cx = cos * cx1 - sin * cy1 + (p0[0] + p1[0]) / 2
    cy = sin * cx1 + cos * cy1 + (p0[1] + p1[1]) / 2

    def angle_of(ux, uy, vx, vy):
        return math.atan2(ux * vy - uy * vx, ux * vx + uy * vy)

    theta = angle_of(1, 0, (x1 - cx1) / rx, (y1 - cy1) / ry)
    delta = angle_of((x1 - cx1) / rx, (y1 - cy1) / ry, (-x1 - cx1) / rx, (-y1 - cy1) / ry)
    if not sweep and delta > 0:
        delta -= 2 * math.pi
    elif sweep and delta < 0:
        delta += 2 * math.pi
    points = []
    for step in range(1, STEPS + 1):
        a = theta + delta * step / STEPS
        x, y = rx * math.cos(a), ry * math.sin(a)
        points.append((cos * x - sin * y + cx, sin * x + cos * y + cy))
    return points


def farthest(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """The largest distance between corresponding points (the lists must match in length)."""
    assert len(a) == len(b), (len(a), len(b))
    return max(math.dist(p, q) for p, q in zip(a, b, strict=True))
