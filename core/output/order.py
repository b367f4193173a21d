"""The order a pen plotter draws strokes in: pen-up travel from the paper's origin, no return.

Every stroke is drawn whole, forwards or backwards, so only its two ends matter. The plan is the
greedy nearest end, then local moves until none shortens the travel: 2-opt (a run of strokes
drawn in reverse, each stroke turned; a run of one turns a single stroke) and Or-opt (a run of
up to three strokes moved elsewhere, turned or not). The original order is kept when the plan
is not strictly shorter, so ordering never lengthens the travel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Point = tuple[float, float]
Ends = Sequence[tuple[Point, Point]]  # each stroke's (start, end)
Step = tuple[int, bool]  # a stroke's index, and whether it is drawn backwards


def travel(ends: Ends, steps: Sequence[Step], origin: Point = (0.0, 0.0)) -> float:
    """Pen-up travel drawing the strokes as ``steps`` say, from ``origin``, no return."""
    total, here = 0.0, origin
    for index, backwards in steps:
        start, end = ends[index][::-1] if backwards else ends[index]
        total += float(np.hypot(start[0] - here[0], start[1] - here[1]))
        here = end
    return total


def plan(ends: Ends, origin: Point = (0.0, 0.0)) -> list[Step]:
    """The steps with the least pen-up travel this search finds, never more than the original
    order's."""
    original = [(i, False) for i in range(len(ends))]
    if not ends:
        return original
    found = _improve(ends, _greedy(ends, origin), origin)
    return found if travel(ends, found, origin) < travel(ends, original, origin) else original


def _greedy(ends: Ends, origin: Point) -> list[Step]:
    """From where the pen is, the stroke whose nearer end is nearest, drawn from that end."""
    points = np.asarray(ends, dtype=np.float64)  # [n, 2 (start, end), 2]
    left = np.ones(len(points), dtype=bool)
    here, steps = np.asarray(origin, dtype=np.float64), []
    for _ in range(len(points)):
        gaps = np.hypot(*(points - here).transpose(2, 0, 1))  # [n, 2]
        gaps[~left] = np.inf
        index, side = np.unravel_index(int(np.argmin(gaps)), gaps.shape)
        steps.append((int(index), bool(side)))
        left[index] = False
        here = points[index, 1 - side]
    return steps


def _gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances between points (broadcast); a missing point (NaN) costs nothing."""
    return np.nan_to_num(np.hypot(a[..., 0] - b[..., 0], a[..., 1] - b[..., 1]))


def _improve(ends: Ends, steps: list[Step], origin: Point) -> list[Step]:
    """Apply 2-opt moves, then Or-opt ones, while some move shortens the travel."""
    points = np.asarray(ends, dtype=np.float64)
    least = 1e-9 * (1.0 + float(np.abs(points).max()) + float(np.abs(origin).max()))
    while True:
        moved = _two_opt(points, steps, origin, least) or _or_opt(points, steps, origin, least)
        if moved is None:
            return steps
        steps = moved


def _drawn(points: np.ndarray, steps: list[Step]) -> tuple[np.ndarray, np.ndarray]:
    """Where each step's pen goes down and comes up, [n, 2] each."""
    drawn = np.stack([points[i, ::-1] if back else points[i] for i, back in steps])
    return drawn[:, 0], drawn[:, 1]


def _turned(steps: list[Step]) -> list[Step]:
    return [(k, not back) for k, back in reversed(steps)]


def _two_opt(points: np.ndarray, steps: list[Step], origin: Point, least: float
             ) -> list[Step] | None:
    """The best run i..j drawn reversed (each stroke turned), if it shortens the travel."""
    starts, finishes = _drawn(points, steps)
    before = np.vstack([np.asarray(origin, dtype=np.float64)[None], finishes[:-1]])
    after = np.vstack([starts[1:], np.full((1, 2), np.nan)])  # the last has none after it
    # Run i..j reversed: the pen comes from before[i] to finishes[j], and leaves from
    # starts[i] to after[j].
    old = _gap(before, starts)[:, None] + _gap(finishes, after)[None, :]
    new = _gap(before[:, None], finishes[None, :]) + _gap(starts[:, None], after[None, :])
    gain = np.triu(old - new)
    i, j = np.unravel_index(int(np.argmax(gain)), gain.shape)
    if gain[i, j] <= least:
        return None
    return steps[:i] + _turned(steps[i:j + 1]) + steps[j + 1:]


def _or_opt(points: np.ndarray, steps: list[Step], origin: Point, least: float
            ) -> list[Step] | None:
    """The first run of up to three strokes that, moved elsewhere (turned or not), shortens
    the travel, moved to its best place."""
    n = len(steps)
    starts, finishes = _drawn(points, steps)
    for length in (1, 2, 3):
        for i in range(n - length + 1):
            run, rest = steps[i:i + length], steps[:i] + steps[i + length:]
            if not rest:
                continue
            here = np.asarray(origin, dtype=np.float64) if i == 0 else finishes[i - 1]
            nxt = starts[i + length] if i + length < n else np.full(2, np.nan)
            saved = (_gap(here, starts[i]) + _gap(finishes[i + length - 1], nxt)
                     - _gap(here, nxt))
            rest_starts, rest_finishes = _drawn(points, rest)
            froms = np.vstack([np.asarray(origin, dtype=np.float64)[None], rest_finishes])
            tos = np.vstack([rest_starts, np.full((1, 2), np.nan)])
            # Between froms[k] and tos[k]; the run forwards, then turned.
            ways = [(starts[i], finishes[i + length - 1]), (finishes[i + length - 1], starts[i])]
            costs = np.stack([_gap(froms, a) + _gap(b, tos) - _gap(froms, tos) for a, b in ways])
            way, k = np.unravel_index(int(np.argmin(costs)), costs.shape)
            if costs[way, k] < saved - least:
                placed = _turned(run) if way else run
                return rest[:k] + placed + rest[k:]
    return None
