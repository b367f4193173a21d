"""One sketch job as the engine sees it: stored params + image bytes in, SVG texts out.

Free of the store and of HTTP so that any executor (the in-process thread, a Celery worker on
another machine) runs a job the same way and only moves the results differently.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sketchify.backend import limits
from sketchify.core.config import (
    EXECUTION_OVERRIDES,
    OVERRIDES,
    Execution,
    SketchConfig,
    preset,
    resolved_precision,
)
from sketchify.core.given.canvas import with_widths
from sketchify.core.given.strokes import from_items
from sketchify.core.output.svg import to_svg
from sketchify.core.photo.geometry import Placement
from sketchify.core.photo.image import load_image, open_image
from sketchify.core.timing.estimate import views_per_step


@dataclass(frozen=True)
class ProgressReport:
    step: int
    total: int
    eta_s: float | None
    previews: dict[int, str]  # stroke count -> SVG of the best strokes so far


@dataclass(frozen=True)
class TaskResult:
    svgs: dict[int, str]  # stroke count -> final SVG (best so far when canceled)
    canceled: bool
    steps: int
    precision: str  # what CLIP ran in (resolved): the step cost is that precision's
    step_cost_s: float | None = None  # measured seconds per sketch view per step, if it could be


def device_label(device: str | None, worker: str | None) -> str | None:
    """How step costs are keyed: the device, and with remote workers ``device@worker``."""
    if device is None:
        return None
    return device if worker is None else f"{device}@{worker}"


def sketch_config(params: dict[str, Any], device: Any) -> SketchConfig:
    """The engine's SketchConfig for validated request params on ``device`` (which decides
    the ``auto`` preset): the preset, then overrides."""
    overrides = {name: params[name] for name in OVERRIDES if params.get(name) is not None}
    # The HTTP `width` is the SVG stroke width at the canvas; the engine keeps a half-width.
    return preset(params["preset"], device, half_width=params["width"] / 2, **overrides)


def sketch_execution(params: dict[str, Any]) -> Execution:
    """How the job asks CLIP to run (its ``precision``; jobs stored before it had none)."""
    return Execution(**{name: params[name] for name in EXECUTION_OVERRIDES
                        if params.get(name) is not None})


def run_sketch_task(
    sketcher: Any,
    image: bytes,
    params: dict[str, Any],
    *,
    on_progress: Callable[[ProgressReport], None],
    cancel: Any,
    mask_image: bytes | None = None,
    max_pixels: int = limits.MAX_PIXELS,
    report_every_s: float = 0.5,
) -> TaskResult:
    """Run one job on a loaded Sketcher; ``on_progress`` is called at most every
    ``report_every_s`` seconds (previews cost an SVG per count, so they are throttled).
    ``mask_image`` is the job's stored mask image (``mask`` 'file')."""
    # The photo decoded once: its mask and the picture sketched both come from it.
    photo = open_image(image, max_pixels=max_pixels)
    picture = load_image(photo, max_pixels=max_pixels)
    # Jobs stored before masks existed have no "mask" param: they had none.
    mask = sketcher.object_mask(photo, params.get("mask", "none"), mask_image, picture=picture,
                                max_pixels=max_pixels)
    config = sketch_config(params, sketcher.device)
    execution = sketch_execution(params)
    placement = Placement(picture.width, picture.height, config.canvas)
    # Jobs stored before starts existed have no "start" param: they had none.
    start = None if params.get("start") is None else from_items(params["start"])
    drawn = None if start is None else with_widths(start, placement, config.half_width)
    last_report = float("-inf")
    first: tuple[int, float] | None = None  # step and time of the first progress call

    def progress(p: Any) -> None:
        nonlocal last_report, first
        now = time.monotonic()
        if first is None:
            first = (p.step, now)
        if now - last_report < report_every_s:
            return
        last_report = now
        previews = {count: to_svg(strokes, placement, start=drawn)
                    for count, strokes in p.best.items()}
        on_progress(ProgressReport(p.step, p.total, p.eta_s, previews))

    result = sketcher.sketch(
        picture, strokes=tuple(params["strokes"]), config=config, progress=progress, cancel=cancel,
        mask=mask, execution=execution, start=start,
    )
    end = time.monotonic()
    cost = None
    if first is not None and result.steps > first[0]:
        # Timed from the first step on: the start (saliency, setup) is not a per-step cost.
        views = views_per_step(config, params["strokes"])
        cost = (end - first[1]) / ((result.steps - first[0]) * views)
    svgs = {count: result.svg(count) for count in result.sketches}
    return TaskResult(svgs=svgs, canceled=result.canceled, steps=result.steps, step_cost_s=cost,
                      precision=resolved_precision(execution.precision, sketcher.device))
