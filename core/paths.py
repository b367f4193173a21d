"""SVG path data and transforms, read once for every door: a user's start strokes (``--start``,
the API's ``start``), ``parse_svg`` and the sheet.

A path is kept as its absolute segments in float64 (lines, quadratics, cubics, elliptical arcs,
closing lines), so that a locked stroke is written back as it came. The optimizer and the
rasterizer see cubics: lines and quadratics convert exactly, arcs within ``ARC_TOLERANCE``.
Standard library only: the HTTP front checks path data without loading torch.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from sketchify.core.errors import InputError

Point = tuple[float, float]
Cubic = tuple[Point, Point, Point, Point]
# An affine map (a, b, c, d, e, f): x' = a x + c y + e, y' = b x + d y + f, as SVG's matrix().
Matrix = tuple[float, float, float, float, float, float]
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
ARC_TOLERANCE = 0.1  # px: the largest gap between an arc and its cubics
# An arc needing more cubics than this is refused: its radius (above ~1e16 px for a full turn)
# is no drawing's, and converting it would never end.
MAX_ARC_PIECES = 1000

_ARGS = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "T": 2, "A": 7, "Z": 0}
_TOKEN = re.compile(r"\s*,?\s*(?:([MmLlHhVvCcSsQqTtAaZz])|"
                    r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))")
_FLAG = re.compile(r"\s*,?\s*([01])")


@dataclass(frozen=True)
class Segment:
    """One absolute piece of a path: ``kind`` L, Q, C, A or Z (the closing line), ``points``
    its start, control points and end; an arc's ``arc`` is (rx, ry, x-axis rotation in
    degrees, large-arc flag, sweep flag); ``opens``: a moveto came right before it (it starts
    a subpath, which a later Z closes)."""

    kind: str
    points: tuple[Point, ...]
    arc: tuple[float, float, float, bool, bool] | None = None
    opens: bool = False

    @property
    def start(self) -> Point:
        return self.points[0]

    @property
    def end(self) -> Point:
        return self.points[-1]


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text, self.at = text, 0

    def done(self) -> bool:
        return not self.text[self.at:].strip(" \t\r\n,")

    def command(self) -> str | None:
        match = _TOKEN.match(self.text, self.at)
        if match is None or match[1] is None:
            return None
        self.at = match.end()
        return match[1]

    def number(self) -> float:
        match = _TOKEN.match(self.text, self.at)
        if match is None or match[2] is None:
            raise InputError(f"path data: a number is missing at character {self.at}")
        self.at = match.end()
        value = float(match[2])
        if not math.isfinite(value):
            raise InputError(f"path data: {match[2]} is not a finite number")
        return value

    def flag(self) -> bool:
        match = _FLAG.match(self.text, self.at)
        if match is None:
            raise InputError(f"path data: an arc flag (0 or 1) is missing at character {self.at}")
        self.at = match.end()
        return match[1] == "1"

    def more_numbers(self) -> bool:
        match = _TOKEN.match(self.text, self.at)
        return match is not None and match[2] is not None


def parse_path(d: str) -> list[Segment]:
    """Every drawn segment of SVG path data (all commands, relative or absolute, implicit
    repeats, several subpaths), absolute. InputError for data that is not a path; a path that
    draws nothing gives an empty list. An arc that ends where it starts is left out, as SVG
    says."""
    scan = _Scanner(d)
    segments: list[Segment] = []
    current = first = (0.0, 0.0)
    last_control: Point | None = None  # the reflected control point of S and T
    last_kind = ""
    opens = False  # the next segment starts a subpath
    command = scan.command()
    if command is None and not scan.done():
        raise InputError("path data must start with a command (M)")
    if command is not None and command not in "Mm":
        raise InputError("path data must start with a moveto (M)")
    while command is not None:
        upper, relative = command.upper(), command.islower()
        repeat = True
        while repeat:
            if upper == "Z":
                if current != first:
                    segments.append(Segment("Z", (current, first)))
                current, last_control, last_kind = first, None, "Z"
                break
            if upper == "A":
                rx, ry, angle = (scan.number() for _ in range(3))
                large, sweep = scan.flag(), scan.flag()
                args = [scan.number(), scan.number()]
            else:
                args = [scan.number() for _ in range(_ARGS[upper])]
            ox, oy = current if relative else (0.0, 0.0)
            if upper == "H":
                args = [args[0] + ox, current[1]]
            elif upper == "V":
                args = [current[0], args[0] + oy]
            else:
                args = [v + (ox if i % 2 == 0 else oy) for i, v in enumerate(args)]
            pts = [(args[i], args[i + 1]) for i in range(0, len(args), 2)]
            end = pts[-1]
            control, kind, seg = None, upper, None
            if upper == "M":
                current = first = end
                opens = True
                upper = "L"  # further pairs after a moveto are lines
            elif upper in "LHV":
                seg = Segment("L", (current, end))
            elif upper == "C":
                seg = Segment("C", (current, *pts))
                control = pts[1]
            elif upper == "S":
                c1 = _reflect(current, last_control if last_kind in ("C", "S") else None)
                seg = Segment("C", (current, c1, *pts))
                control = pts[0]
            elif upper == "Q":
                seg = Segment("Q", (current, *pts))
                control = pts[0]
            elif upper == "T":
                c = _reflect(current, last_control if last_kind in ("Q", "T") else None)
                seg = Segment("Q", (current, c, end))
                control = c
            elif end != current:  # an arc
                seg = Segment("A", (current, end), (abs(rx), abs(ry), angle, large, sweep))
                if _is_curved(seg):
                    _pieces(_ellipse(seg))
            if seg is not None:
                segments.append(replace(seg, opens=opens))
                opens = False
            last_kind, last_control = kind, control
            current = end
            repeat = scan.more_numbers()
        command = scan.command()
        if command is None and not scan.done():
            raise InputError(f"path data: unexpected text at character {scan.at}")
    return segments


def _reflect(current: Point, control: Point | None) -> Point:
    if control is None:
        return current
    return (2 * current[0] - control[0], 2 * current[1] - control[1])


def path_data(segments: Sequence[Segment], number=repr) -> str:
    """Absolute path data of ``segments`` (a moveto wherever a segment opens a subpath or does
    not start where the previous one ended); ``number`` writes each coordinate (default:
    exact)."""
    def pt(p: Point) -> str:
        return f"{number(p[0])} {number(p[1])}"

    parts: list[str] = []
    at: Point | None = None
    for seg in segments:
        if seg.opens or seg.start != at:
            parts.append(f"M {pt(seg.start)}")
        if seg.kind == "Z":
            parts.append("Z")
        elif seg.kind == "A":
            rx, ry, angle, large, sweep = seg.arc
            parts.append(f"A {number(rx)} {number(ry)} {number(angle)} {int(large)} "
                         f"{int(sweep)} {pt(seg.end)}")
        else:
            parts.append(f"{seg.kind} " + " ".join(pt(p) for p in seg.points[1:]))
        at = seg.end
    return " ".join(parts)


def exact(value: float) -> str:
    """A float as the shortest text that reads back as the same float64 (10.0 as ``10``)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def cubics(segments: Iterable[Segment]) -> list[Cubic]:
    """The segments as cubic Béziers: lines and quadratics exactly, arcs within
    ``ARC_TOLERANCE``."""
    out: list[Cubic] = []
    for seg in segments:
        p = seg.points
        if seg.kind in "LZ":
            a, b = p
            out.append((a, _lerp(a, b, 1 / 3), _lerp(a, b, 2 / 3), b))
        elif seg.kind == "Q":
            a, c, b = p
            out.append((a, _lerp(a, c, 2 / 3), _lerp(b, c, 2 / 3), b))
        elif seg.kind == "C":
            out.append(p)  # type: ignore[arg-type]
        else:
            out.extend(_arc_cubics(seg))
    return out


def _lerp(a: Point, b: Point, t: float) -> Point:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


@dataclass(frozen=True)
class _Ellipse:
    """An arc in SVG's centre form: centre, radii (scaled up if too small), the cosine and sine
    of its x-axis rotation, its start angle ``theta`` and signed sweep ``delta`` (radians)."""

    cx: float
    cy: float
    rx: float
    ry: float
    cos: float
    sin: float
    theta: float
    delta: float


def _ellipse(seg: Segment) -> _Ellipse:
    """The centre parametrization of an arc whose ends differ and radii are not 0 (SVG 1.1,
    appendix F.6.5)."""
    (x1, y1), (x2, y2) = seg.points
    rx, ry, angle, large, sweep = seg.arc
    phi = math.radians(angle)
    cos, sin = math.cos(phi), math.sin(phi)
    dx, dy = (x1 - x2) / 2, (y1 - y2) / 2
    x1p, y1p = cos * dx + sin * dy, -sin * dx + cos * dy
    grow = (x1p / rx) ** 2 + (y1p / ry) ** 2
    if grow > 1:
        rx, ry = rx * math.sqrt(grow), ry * math.sqrt(grow)
    num = rx * rx * ry * ry - rx * rx * y1p * y1p - ry * ry * x1p * x1p
    den = rx * rx * y1p * y1p + ry * ry * x1p * x1p
    factor = math.sqrt(max(0.0, num / den)) * (-1 if large == sweep else 1)
    cxp, cyp = factor * rx * y1p / ry, -factor * ry * x1p / rx
    cx = cos * cxp - sin * cyp + (x1 + x2) / 2
    cy = sin * cxp + cos * cyp + (y1 + y2) / 2
    theta = math.atan2((y1p - cyp) / ry, (x1p - cxp) / rx)
    delta = math.atan2((-y1p - cyp) / ry, (-x1p - cxp) / rx) - theta
    if sweep and delta < 0:
        delta += math.tau
    elif not sweep and delta > 0:
        delta -= math.tau
    return _Ellipse(cx, cy, rx, ry, cos, sin, theta, delta)


def _is_curved(seg: Segment) -> bool:
    """An arc drawn as an ellipse (SVG draws one with equal ends as nothing, one with a zero
    radius as a line)."""
    return seg.kind == "A" and seg.start != seg.end and seg.arc[0] != 0 and seg.arc[1] != 0


def _pieces(e: _Ellipse) -> int:
    """How many cubics keep an arc within ARC_TOLERANCE; InputError above MAX_ARC_PIECES."""
    # The 4/3 tan handles of a unit circle stray at most ~2.7e-4 over a quarter turn, and
    # the gap grows as the sixth power of the angle; half the tolerance leaves a margin.
    quarters = abs(e.delta) / (math.pi / 2)
    needed = quarters * (max(e.rx, e.ry) * 2.8e-4 / (ARC_TOLERANCE / 2)) ** (1 / 6)
    if not needed <= MAX_ARC_PIECES:
        raise InputError(f"path data: an arc of radius {max(e.rx, e.ry):g} is too large to "
                         "draw")
    return max(1, math.ceil(needed), math.ceil(quarters))


def bounds(seg: Segment) -> tuple[Point, ...]:
    """Points whose box holds all a segment draws: its own points (a Bézier stays inside
    them), and for an arc also the ellipse's leftmost, rightmost, top and bottom points that
    the arc sweeps over."""
    if not _is_curved(seg):
        return seg.points
    e = _ellipse(seg)
    extremes = []
    # Where x (then y) of cx + R(phi) (rx cos t, ry sin t) turns, and half a turn later.
    for t0 in (math.atan2(-e.ry * e.sin, e.rx * e.cos), math.atan2(e.ry * e.cos, e.rx * e.sin)):
        for t in (t0, t0 + math.pi):
            swept = ((t - e.theta) if e.delta > 0 else (e.theta - t)) % math.tau
            if swept <= abs(e.delta):
                ex, ey = e.rx * math.cos(t), e.ry * math.sin(t)
                extremes.append((e.cos * ex - e.sin * ey + e.cx, e.sin * ex + e.cos * ey + e.cy))
    return (*seg.points, *extremes)


def _arc_cubics(seg: Segment) -> list[Cubic]:
    """An elliptical arc (SVG's endpoint form) as cubics, each spanning a small enough angle
    that the usual 4/3 tan(angle / 4) handles stay within ARC_TOLERANCE."""
    (x1, y1), (x2, y2) = seg.points
    if (x1, y1) == (x2, y2):  # parse_path drops these; a map that collapses points makes them
        return []
    if not _is_curved(seg):  # SVG: a straight line
        return cubics([Segment("L", seg.points)])
    e = _ellipse(seg)
    pieces = _pieces(e)
    cx, cy, rx, ry, cos, sin, theta = e.cx, e.cy, e.rx, e.ry, e.cos, e.sin, e.theta
    step = e.delta / pieces
    k = 4 / 3 * math.tan(step / 4)

    def at(t: float, scale: float = 1.0, tangent: bool = False) -> Point:
        ex, ey = (-math.sin(t), math.cos(t)) if tangent else (math.cos(t), math.sin(t))
        ex, ey = ex * rx * scale, ey * ry * scale
        return (cos * ex - sin * ey + (0 if tangent else cx),
                sin * ex + cos * ey + (0 if tangent else cy))

    out: list[Cubic] = []
    for i in range(pieces):
        t0, t1 = theta + i * step, theta + (i + 1) * step
        a = (x1, y1) if i == 0 else at(t0)
        b = (x2, y2) if i == pieces - 1 else at(t1)
        da, db = at(t0, k, tangent=True), at(t1, k, tangent=True)
        out.append((a, (a[0] + da[0], a[1] + da[1]), (b[0] - db[0], b[1] - db[1]), b))
    return out


def fit_cubic(pieces: Sequence[Cubic], samples: int = 16) -> Cubic:
    """One cubic through the first start and the last end of ``pieces``, its two inner control
    points the least-squares fit to points sampled along them. Each piece spans a share of the
    parameter proportional to its length, uniformly in its own parameter: a cubic split into
    pieces is found again. One piece is returned as it is."""
    if len(pieces) == 1:
        return pieces[0]
    sampled = [[_bezier(c, i / samples) for i in range(samples + 1)] for c in pieces]
    lengths = [sum(math.dist(a, b) for a, b in itertools.pairwise(points))
               for points in sampled]
    total = sum(lengths)
    p0, p3 = pieces[0][0], pieces[-1][3]
    if total == 0:
        return (p0, p0, p3, p3)
    pairs, before = [], 0.0
    for points, length in zip(sampled, lengths, strict=True):
        pairs += [((before + length * i / samples) / total, q) for i, q in enumerate(points)]
        before += length
    # Normal equations of min sum |B(t) - point|^2 over the two inner control points.
    a11 = a12 = a22 = 0.0
    r1 = [0.0, 0.0]
    r2 = [0.0, 0.0]
    for t, q in pairs:
        b0, b1, b2, b3 = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t ** 3
        a11, a12, a22 = a11 + b1 * b1, a12 + b1 * b2, a22 + b2 * b2
        for axis in (0, 1):
            rest = q[axis] - b0 * p0[axis] - b3 * p3[axis]
            r1[axis] += b1 * rest
            r2[axis] += b2 * rest
    det = a11 * a22 - a12 * a12
    c1 = tuple((a22 * r1[i] - a12 * r2[i]) / det for i in (0, 1))
    c2 = tuple((a11 * r2[i] - a12 * r1[i]) / det for i in (0, 1))
    return (p0, c1, c2, p3)  # type: ignore[return-value]


def _bezier(c: Cubic, t: float) -> Point:
    u = 1 - t
    w = (u ** 3, 3 * t * u * u, 3 * t * t * u, t ** 3)
    return (sum(wi * p[0] for wi, p in zip(w, c, strict=True)),
            sum(wi * p[1] for wi, p in zip(w, c, strict=True)))


def transformed(segments: Iterable[Segment], m: Matrix) -> list[Segment]:
    """The segments under the affine map ``m`` (an arc's ellipse mapped exactly)."""
    out = []
    for seg in segments:
        points = tuple(apply(m, p) for p in seg.points)
        arc = None if seg.arc is None else _arc_under(seg.arc, m)
        out.append(replace(seg, points=points, arc=arc))
    return out


def apply(m: Matrix, p: Point) -> Point:
    a, b, c, d, e, f = m
    return (a * p[0] + c * p[1] + e, b * p[0] + d * p[1] + f)


def _arc_under(arc: tuple[float, float, float, bool, bool], m: Matrix
               ) -> tuple[float, float, float, bool, bool]:
    """The ellipse of an arc under the linear part of ``m``: the axes of M R diag(rx, ry)
    from its Gram matrix; a mirroring map turns the sweep around."""
    rx, ry, angle, large, sweep = arc
    a, b, c, d = m[:4]
    phi = math.radians(angle)
    cos, sin = math.cos(phi), math.sin(phi)
    # Columns: the images of the ellipse's two semi-axes.
    u = (rx * (a * cos + c * sin), rx * (b * cos + d * sin))
    v = (ry * (-a * sin + c * cos), ry * (-b * sin + d * cos))
    sxx, sxy, syy = u[0] ** 2 + v[0] ** 2, u[0] * u[1] + v[0] * v[1], u[1] ** 2 + v[1] ** 2
    mean, half = (sxx + syy) / 2, math.hypot((sxx - syy) / 2, sxy)
    new_angle = math.degrees(0.5 * math.atan2(2 * sxy, sxx - syy))
    return (math.sqrt(mean + half), math.sqrt(max(0.0, mean - half)), new_angle, large,
            sweep if a * d - b * c > 0 else not sweep)


def multiply(m: Matrix, n: Matrix) -> Matrix:
    """``m`` after ``n``."""
    a, b, c, d, e, f = m
    return (a * n[0] + c * n[1], b * n[0] + d * n[1], a * n[2] + c * n[3], b * n[2] + d * n[3],
            a * n[4] + c * n[5] + e, b * n[4] + d * n[5] + f)


_TRANSFORM = re.compile(r"\s*(matrix|translate|scale|rotate|skewX|skewY)\s*\(([^)]*)\)\s*,?")


def parse_transform(text: str | None) -> Matrix:
    """An SVG ``transform`` attribute as one matrix (an absent one is the identity)."""
    m, at = IDENTITY, 0
    text = text or ""
    while text[at:].strip():
        match = _TRANSFORM.match(text, at)
        if match is None:
            raise InputError(f"unreadable transform {text!r}")
        try:
            args = [float(v) for v in re.split(r"[\s,]+", match[2].strip()) if v]
        except ValueError:
            raise InputError(f"unreadable transform {text!r}") from None
        m = multiply(m, _one_transform(match[1], args, text))
        at = match.end()
    return m


def _one_transform(name: str, args: list[float], text: str) -> Matrix:
    counts = {"matrix": (6,), "translate": (1, 2), "scale": (1, 2), "rotate": (1, 3),
              "skewX": (1,), "skewY": (1,)}
    if len(args) not in counts[name] or not all(map(math.isfinite, args)):
        raise InputError(f"unreadable transform {text!r}")
    if name == "matrix":
        return tuple(args)  # type: ignore[return-value]
    if name == "translate":
        return (1.0, 0.0, 0.0, 1.0, args[0], args[1] if len(args) == 2 else 0.0)
    if name == "scale":
        return (args[0], 0.0, 0.0, args[-1], 0.0, 0.0)
    if name in ("skewX", "skewY"):
        t = math.tan(math.radians(args[0]))
        return (1.0, 0.0, t, 1.0, 0.0, 0.0) if name == "skewX" else (1.0, t, 0.0, 1.0, 0.0, 0.0)
    r = math.radians(args[0])
    turn = (math.cos(r), math.sin(r), -math.sin(r), math.cos(r), 0.0, 0.0)
    if len(args) == 1:
        return turn
    cx, cy = args[1:]
    return multiply(multiply((1.0, 0.0, 0.0, 1.0, cx, cy), turn), (1.0, 0.0, 0.0, 1.0, -cx, -cy))
