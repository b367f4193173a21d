"""What one running API holds: the job store, the executor, limits, the plot-ready SVGs made
lately, and the retention sweep."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sketchify.backend.executors.protocol import Executor
from sketchify.backend.storage.jobs import JobStore
from sketchify.backend.storage.plot_cache import PlotCache

log = logging.getLogger(__name__)


@dataclass
class Service:
    store: JobStore
    executor: Executor
    version: str
    max_pixels: int
    formats: tuple[str, ...]
    retention_s: float
    # Why an `auto` mask cannot run where jobs run (None: it can, or the executor cannot tell).
    mask_problem: Callable[[], str | None] = lambda: None
    plots: PlotCache = field(default_factory=PlotCache)  # plot-ready SVGs made lately
    _stop: threading.Event = field(default_factory=threading.Event)
    _sweeper: threading.Thread | None = None

    def start(self) -> None:
        self.executor.start()
        self._sweeper = threading.Thread(target=self._sweep, name="sketchify-retention",
                                         daemon=True)
        self._sweeper.start()

    def close(self, timeout: float | None = 30) -> None:
        self._stop.set()
        self.executor.stop(timeout)
        if self._sweeper is not None:
            self._sweeper.join(timeout)

    def _sweep(self) -> None:
        # A sweep a few times per retention period keeps old jobs from piling up.
        interval = min(3600.0, max(1.0, self.retention_s / 4))
        while True:
            try:
                removed = self.store.purge_finished(self.retention_s)
            except Exception:  # e.g. a busy database: the next sweep tries again
                log.exception("retention sweep failed")
            else:
                if removed:
                    log.info("removed %d finished jobs older than %.0f s", removed,
                             self.retention_s)
            if self._stop.wait(interval):
                break
        self.store.close()
