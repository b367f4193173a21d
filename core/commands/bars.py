"""The command line's progress bars (tqdm, on a terminal only): the whole batch's and the
current photo's, with the time left said the way people say it ("about 4 min left")."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

from tqdm import tqdm

from sketchify.core.timing.durations import about

if TYPE_CHECKING:
    from sketchify.core.optimize import Progress

# tqdm's own "[00:12<03:40, 1.2s/step]" shows raw clock times; the postfix says it better.
BAR_FORMAT = "{desc}{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} {unit}s [{elapsed}{postfix}]"


def photo_postfix(progress: Progress) -> str:
    """What the current photo's bar says after its counter."""
    return f"loss {progress.losses['total']:.4g}, {left(progress.eta_s)}"


def left(seconds: float | None) -> str:
    return "time left unknown" if seconds is None else f"{about(seconds)} left"


class ProgressBars:
    """``photos`` given: a batch, with an overall bar above the current photo's."""

    def __init__(self, photos: int | None = None, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.overall = None
        if photos is not None:
            self.overall = self._bar(total=photos, unit="photo", desc="all photos ", position=0)
        self.photo: tqdm | None = None
        self.queued_s = 0.0

    def _bar(self, **options) -> tqdm:
        return tqdm(file=self.stream, disable=not self.enabled, bar_format=BAR_FORMAT,
                    dynamic_ncols=True, **options)

    def start(self, name: str, steps: int, queued_s: float) -> None:
        """A new photo of ``steps`` steps; ``queued_s``: the estimate for the photos after it."""
        self.queued_s = queued_s
        batch = self.overall is not None
        self.photo = self._bar(total=steps, unit="step", desc=f"{name} ",
                               position=1 if batch else 0, leave=not batch)

    def show(self, progress: Progress) -> None:
        """The optimizer's progress callback."""
        if self.photo is None:
            return
        self.photo.update(progress.step - self.photo.n)
        self.photo.set_postfix_str(photo_postfix(progress), refresh=False)
        if self.overall is not None:
            self.overall.set_postfix_str(left(progress.eta_s + self.queued_s), refresh=False)

    def finish(self) -> None:
        """The current photo is over (sketched, failed or stopped)."""
        if self.photo is not None:
            self.photo.close()
            self.photo = None
        if self.overall is not None:
            self.overall.update(1)

    def write(self, line: str, file: TextIO | None = None) -> None:
        """A line that does not tear the bars (stdout for results, stderr for messages)."""
        tqdm.write(line, file=file or self.stream)

    def close(self) -> None:
        if self.photo is not None:
            self.photo.close()
        if self.overall is not None:
            self.overall.close()
