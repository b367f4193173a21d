"""Many photos, one model load: the runner behind `sketchify sketch` and `sketchify evaluate`.

In a batch, a sketch whose SVG already exists with provenance matching the settings asked for
is skipped (``--force`` redoes it), a photo that fails is one line on stderr while the rest go
on, and a summary closes the run. A single photo keeps the plain behaviour: any bad input is an
error (exit 2). Ctrl-C stops the current photo at its next step, writes its best strokes so far
(marked as interrupted, so a later batch does them again) and ends the run.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from sketchify.core.clip.models import resolve_device
from sketchify.core.commands.bars import ProgressBars
from sketchify.core.commands.preflight import PhotoJob
from sketchify.core.config import (
    NAMED_MASK_MODES,
    Execution,
    Models,
    SketchConfig,
    preset,
    resolved_precision,
)
from sketchify.core.engine import Sketcher, SketchResult
from sketchify.core.errors import InputError, SketchifyError
from sketchify.core.given.canvas import photo_strokes
from sketchify.core.given.strokes import Start
from sketchify.core.optimize import Progress
from sketchify.core.output import provenance
from sketchify.core.output.animation import animated_svg
from sketchify.core.output.files import write_all
from sketchify.core.output.plot import plot_svg
from sketchify.core.output.plot_settings import PlotSettings
from sketchify.core.output.timelapse import Recorder, timelapse_gif
from sketchify.core.photo.image import load_image, open_image
from sketchify.core.photo.mask import ObjectMask, mask_option
from sketchify.core.timing.durations import about
from sketchify.core.timing.estimate import job_seconds, measure_step_cost


@dataclass(frozen=True)
class Request:
    """What a command asks of the runner: the device, the preset and the SketchConfig fields
    set over it, the models, and ``mask`` (none, alpha, auto or a mask image's path);
    ``force`` redoes a batch's sketches that are up to date; ``execution``: how CLIP runs on
    the device; ``start``: the user's strokes (a single photo); ``plot``: when set, the SVGs
    are written plot-ready with these settings."""

    device: str = "auto"
    preset: str = "auto"
    overrides: dict[str, Any] = field(default_factory=dict)
    models: Models = field(default_factory=Models)
    mask: str = "none"
    force: bool = False
    execution: Execution = field(default_factory=Execution)
    start: Start | None = None
    plot: PlotSettings | None = None


@dataclass(frozen=True)
class Extras:
    """Files one photo's run makes besides its SVGs: the ``sheet``, and per stroke count the
    ``animate`` SVG and the ``timelapse`` GIF."""

    sheet: Path | None = None
    animate: dict[int, Path] = field(default_factory=dict)
    timelapse: dict[int, Path] = field(default_factory=dict)


@dataclass
class BatchOutcome:
    """How a run went. ``sketcher`` is None when nothing had to be sketched."""

    done: list[PhotoJob] = field(default_factory=list)
    skipped: list[PhotoJob] = field(default_factory=list)
    failed: list[tuple[PhotoJob, str]] = field(default_factory=list)
    canceled: bool = False
    seconds: float = 0.0
    sketcher: Sketcher | None = None

    def summary(self) -> str:
        stopped = ", stopped by Ctrl-C" if self.canceled else ""
        return (f"sketchify: {len(self.done)} done, {len(self.skipped)} skipped (up to date), "
                f"{len(self.failed)} failed, in {about(self.seconds)}{stopped}.")


def config_from(request: Request, device: Any) -> SketchConfig:
    """The preset asked for, ``auto`` resolved for ``device``, with the overrides."""
    return preset(request.preset, device, **request.overrides)


def model_labels(models: Models) -> dict[str, str]:
    """The models as provenance names them (what a Sketcher loading ``models`` records)."""
    return provenance.models(models.loss_model, models.loss_weights, models.saliency_model,
                             models.saliency_weights)


def expected_provenance(config: SketchConfig, count: int, models: dict[str, str], device: Any,
                        mask: str = "none", execution: Execution = Execution(),
                        plot: PlotSettings | None = None) -> dict[str, Any]:
    """The settings part of the provenance a ``count``-stroke sketch made with ``config`` on
    ``device``, run as ``execution`` says and written plot-ready as ``plot`` says, gets."""
    precision = resolved_precision(execution.precision, device)
    return {**provenance.settings(config, mask, models, precision), "strokes": count,
            "plot": None if plot is None else plot.as_json()}


def is_up_to_date(path: Path, wanted: dict[str, Any], execution: Execution) -> bool:
    """Whether ``path`` holds a finished sketch made with the settings ``wanted`` (asked with
    ``execution``: an SVG from before the precision was recorded ran `auto`)."""
    try:
        existing = provenance.read(path.read_bytes())
    except (OSError, InputError):  # missing, unreadable, or from a newer release: make it anew
        return False
    defaults = ("precision",) if execution.precision == "auto" else ()
    return (provenance.settings_match(existing, wanted, defaults)
            and not existing.get("canceled", False))


def svg_text(result: SketchResult, count: int) -> str:
    if not result.canceled:
        return result.svg(count)
    # Marked so that the next batch sketches it again instead of skipping it as up to date.
    return result.svg(count, canceled=True)


def run(jobs: Sequence[PhotoJob], request: Request, *, batch: bool,
        extras: Extras = Extras()) -> BatchOutcome:
    """Sketch every job's ``todo`` counts (all of them, unless a batch finds some up to date).

    Engine errors of a single photo propagate; in a batch they become ``failed`` entries.
    """
    started = time.monotonic()
    outcome = BatchOutcome()
    device = resolve_device(request.device)
    config = config_from(request, device)
    models = model_labels(request.models)
    mode = request.mask if request.mask in NAMED_MASK_MODES else "file"
    for job in jobs:
        counts = tuple(job.outputs)
        job.todo = counts if request.force or not batch else tuple(
            n for n in counts
            if not is_up_to_date(job.outputs[n],
                                 expected_provenance(config, n, models, device, mask=mode,
                                                     execution=request.execution,
                                                     plot=request.plot),
                                 request.execution))
    outcome.skipped = [job for job in jobs if not job.todo]
    pending = [job for job in jobs if job.todo]
    # A single photo that is no image, or whose mask is unusable, fails before the models load;
    # in a batch each photo's mask is made (and may fail) on its turn. The photo is decoded
    # once: its mask and its picture come from that.
    photo = None if batch else open_image(jobs[0].photo)
    first = None if photo is None else load_image(photo)
    mask = mode if batch else mask_option(request.mask, photo, first, request.models.mask_model)
    if pending:
        outcome.sketcher = Sketcher(request.device, **asdict(request.models))
        cost = measure_step_cost(outcome.sketcher, execution=request.execution)
        estimates = [job_seconds(config, job.todo, cost) for job in pending]
        print(estimate_line(config, device, pending, sum(estimates), batch), file=sys.stderr)
        bars = ProgressBars(len(pending) if batch else None)
        cancel = threading.Event()
        try:
            with _ctrl_c_sets(cancel):
                for i, job in enumerate(pending):
                    if cancel.is_set():
                        break
                    bars.start(job.photo.name, config.steps, sum(estimates[i + 1:]))
                    _one(job, first, mask, outcome, config, request, bars, cancel, batch, extras)
        finally:
            bars.close()
    outcome.seconds = time.monotonic() - started
    return outcome


def _one(job: PhotoJob, picture: Image.Image | None, mask: str | ObjectMask | None,
         outcome: BatchOutcome, config: SketchConfig, request: Request, bars: ProgressBars,
         cancel: threading.Event, batch: bool, extras: Extras) -> None:
    """Sketch one photo: ``picture`` is it loaded already with ``mask`` made from it (a single
    photo), or None and ``mask`` a mode the engine applies to the file (a batch: `alpha` needs
    the file's own transparency, `auto` runs on the Sketcher's model)."""
    recorder = Recorder(extras.timelapse, config.eval_every)
    progress = bars.show
    if extras.timelapse:
        def progress(report: Progress) -> None:
            bars.show(report)
            recorder(report)
    try:
        result = outcome.sketcher.sketch(job.photo if picture is None else picture, job.todo,
                                         config, progress=progress, cancel=cancel, mask=mask,
                                         execution=request.execution, start=request.start)
        files, notes = _files(job, result, extras, picture, request.plot, recorder)
        _write(files)
    except SketchifyError as exc:
        if not batch:
            raise
        bars.finish()
        bars.write(f"sketchify: {job.photo}: {exc}")
        outcome.failed.append((job, str(exc)))
        return
    bars.finish()
    for path in files:
        bars.write(f"{path}: {notes[path]}" if path in notes else str(path), file=sys.stdout)
    outcome.done.append(job)
    if result.canceled:
        outcome.canceled = True
        bars.write(f"sketchify: interrupted at step {result.steps} of {config.steps}; "
                   "wrote the best strokes found so far.")


def _files(job: PhotoJob, result: SketchResult, extras: Extras, picture: Image.Image | None,
           plot: PlotSettings | None, recorder: Recorder
           ) -> tuple[dict[Path, str | bytes], dict[Path, str]]:
    """The SVG of every count sketched (plot-ready if asked) and the extras asked for; with
    what to say of each file beyond its name."""
    svgs = {n: svg_text(result, n) for n in job.todo}
    files: dict[Path, str | bytes] = {job.outputs[n]: svgs[n] for n in job.todo}
    notes: dict[Path, str] = {}
    if plot is not None:
        for n in job.todo:
            plotted = plot_svg(svgs[n], plot)
            files[job.outputs[n]] = plotted.svg
            notes[job.outputs[n]] = plotted.summary()
    # The extras show the sketch's own strokes, whatever was plotted (the animation draws
    # them in the plotted order).
    photo = (picture if picture is not None else load_image(job.photo)) if (
        extras.sheet or extras.timelapse) else None
    if extras.sheet is not None:
        from sketchify.core.output.sheet import sheet_png

        files[extras.sheet] = sheet_png(photo, svgs)
    for n, path in extras.animate.items():
        files[path] = animated_svg(svgs[n], plot=plot)
    # The optimizer's strokes are the free and new ones; the locked ones are in every frame.
    locked = photo_strokes(result.start.locked) if result.start is not None else None
    for n, path in extras.timelapse.items():
        files[path] = timelapse_gif(photo, result.placement, recorder.frames[n],
                                    (result.steps, result.sketches[n].strokes), locked)
    return files, notes


def _write(files: dict[Path, str | bytes]) -> None:
    try:
        write_all(files)
    except OSError as exc:
        where = exc.filename or next(iter(files))
        raise SketchifyError(f"Cannot write {where}: {exc.strerror or exc}.") from exc


def estimate_line(config: SketchConfig, device: Any, pending: Sequence[PhotoJob], seconds: float,
                  batch: bool) -> str:
    """Said before the first step: how long the work will take on this device."""
    what = f"{len(pending)} photo{'s' * (len(pending) != 1)}" if batch else pending[0].photo.name
    strokes = ",".join(str(n) for n in sorted({n for job in pending for n in job.todo}))
    runs = f"{config.steps} steps, {config.seeds} seed{'s' * (config.seeds != 1)}"
    line = (f"sketchify: {what}, strokes {strokes}, preset {config.preset} ({runs}) on "
            f"{device}: ")
    # The patience rule may stop a draft earlier; the others run every step.
    line += f"up to {about(seconds)}" if config.patience is not None else about(seconds)
    if getattr(device, "type", str(device)) == "cpu" and config.preset != "draft":
        line += "; on a CPU, --preset draft finishes in minutes"
    return line + "."


@contextlib.contextmanager
def _ctrl_c_sets(event: threading.Event) -> Iterator[None]:
    """The first Ctrl-C asks the optimizer to stop after this step; a second one aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame) -> None:
        event.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
