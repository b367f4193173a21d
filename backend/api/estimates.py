"""Honest waits: seconds until a job is done, from the step cost measured on each device.

A device's step cost is what one sketch view costs per optimization step there, in the
precision the job runs in (measured with ``core.timing.estimate.measure_step_cost``: the
default precision at start, another before the first job that asks for it; then refreshed from
the jobs it runs: executors/step_costs.py). A running job has its remaining steps left on its
own device; a queued one waits for the work ahead of it (running jobs' remainder and the queued
jobs before it, each estimated the same way) shared across the devices, then needs its own
time. Nothing measured in the job's precision: no estimate for it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sketchify.backend.executors.sketch_task import device_label, sketch_config
from sketchify.backend.storage.jobs import FINISHED, QUEUED, RUNNING, Job, JobStore
from sketchify.core.config import resolved_precision
from sketchify.core.timing.durations import about
from sketchify.core.timing.estimate import job_seconds, views_per_step


def _device(label: str) -> str:
    return label.split("@", 1)[0]


def default_step_costs(costs: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Each device's step cost in the precision its jobs run in by default (``auto``)."""
    return {label: by[default] for label, by in costs.items()
            if (default := resolved_precision("auto", _device(label))) in by}


class QueueSnapshot:
    """Queue positions and estimates for the jobs of one moment (one HTTP request): the queue
    is read once, however many jobs are shown."""

    def __init__(self, store: JobStore, step_costs: Mapping[str, Mapping[str, float]]) -> None:
        self.store = store
        self.costs = dict(step_costs)  # device label -> resolved precision -> cost
        self._jobs: list[Job] | None = None  # running and queued, in queue order
        self._ahead: dict[int, float] | None = None  # queued job seq -> work before it

    def position(self, job: Job) -> int | None:
        """How many queued jobs are ahead of ``job`` (0: it starts next); None unless queued."""
        if job.status != QUEUED:
            return None
        return sum(1 for other in self._queue() if other.status == QUEUED and other.seq < job.seq)

    def seconds(self, job: Job) -> float | None:
        """Seconds from now until ``job`` is done; None when finished or nothing is measured."""
        if job.status in FINISHED or not self.costs:
            return None
        if job.status == RUNNING:
            return self._remaining(job)
        if job.status != QUEUED:
            return None
        # Every job shown was read before the queue is (lazily, here), so one missing from the
        # queue has left it since: a worker took it, nothing is ahead and all is still to do.
        own = self._own(job)
        ahead = self._work_ahead().get(job.seq)
        if own is None or ahead is None:
            return own
        if math.isnan(ahead):
            return None
        return ahead / len(self.costs) + own

    def _cost(self, label: str, job: Job) -> float | None:
        """The step cost on ``label`` in the precision ``job`` runs in there."""
        precision = resolved_precision(job.params.get("precision", "auto"), _device(label))
        return self.costs.get(label, {}).get(precision)

    def _remaining(self, job: Job) -> float | None:
        cost = self._cost(device_label(job.device, job.worker) or "", job)
        if cost is None:
            return None
        config = sketch_config(job.params, job.device)
        total = job.total or config.steps
        return max(0, total - job.step) * views_per_step(config, job.strokes) * cost

    def _own(self, job: Job) -> float | None:
        """A queued job's time: the mean over the devices that may take it (those measured in
        its precision)."""
        times = [job_seconds(sketch_config(job.params, _device(label)), job.strokes, cost)
                 for label in self.costs if (cost := self._cost(label, job)) is not None]
        return sum(times) / len(times) if times else None

    def _queue(self) -> list[Job]:
        if self._jobs is None:
            # One read: a job claimed between two reads would be in neither.
            self._jobs = self.store.jobs(RUNNING, QUEUED)
        return self._jobs

    def _work_ahead(self) -> dict[int, float]:
        if self._ahead is None:
            jobs = self._queue()
            work = sum(self._remaining(job) or 0.0  # unmeasured device: not counted
                       for job in jobs if job.status == RUNNING)
            self._ahead = {}
            for queued in (job for job in jobs if job.status == QUEUED):
                self._ahead[queued.seq] = work
                # A precision no device has measured yet: the work behind it is unknown (NaN),
                # never a figure that leaves that job out.
                own = self._own(queued)
                work += math.nan if own is None else own
        return self._ahead


def estimate_fields(estimate: float | None) -> dict[str, Any]:
    """The job JSON's ``estimate_s`` and ``estimate_text``."""
    return {"estimate_s": None if estimate is None else round(estimate, 1),
            "estimate_text": about(estimate)}
