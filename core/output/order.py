"""The order a pen plotter draws strokes in: pen-up travel from the paper's origin, no return.

Every stroke is drawn whole, forwards or backwards, so only its two ends matter. The plan is the
greedy nearest end, then 2-opt moves (a run of strokes drawn in reverse, each stroke turned;
a run of one turns a single stroke) until none shortens the travel; the original order is kept
when the plan is not strictly shorter, so ordering never lengthens the travel.
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
    found = _two_opt(ends, _greedy(ends, origin), origin)
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


def _two_opt(ends: Ends, steps: list[Step], origin: Point) -> list[Step]:
    """Reverse the run of positions i..j (each stroke turned) while some run shortens travel,
    the best such run first."""
    points = np.asarray(ends, dtype=np.float64)
    while True:
        drawn = np.stack([points[i, ::-1] if back else points[i] for i, back in steps])
        starts, finishes = drawn[:, 0], drawn[:, 1]
        before = np.vstack([np.asarray(origin, dtype=np.float64)[None], finishes[:-1]])

        def gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return np.hypot(a[..., 0] - b[..., 0], a[..., 1] - b[..., 1])

        # Run i..j reversed: the pen comes from before[i] to finishes[j], and leaves from
        # starts[i] to starts[j + 1]; the last run has nothing after it.
        after = np.vstack([starts[1:], np.full((1, 2), np.nan)])
        old = gap(before, starts)[:, None] + np.nan_to_num(gap(finishes, after))[None, :]
        new = gap(before[:, None], finishes[None, :]) + np.nan_to_num(
            gap(starts[:, None], after[None, :]))
        gain = np.triu(old - new)
        i, j = np.unravel_index(int(np.argmax(gain)), gain.shape)
        if gain[i, j] <= 1e-9 * (1.0 + float(np.abs(points).max())):
            return steps
        steps = steps[:i] + [(k, not back) for k, back in reversed(steps[i:j + 1])] + steps[j + 1:]
