"""The default executor: one worker thread per device in this process, each running queued
jobs in order through ``sketch_task.run_sketch_task`` (how any executor runs one job)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

from sketchify.backend import joblog, limits
from sketchify.backend.executors.sketch_task import ProgressReport, run_sketch_task
from sketchify.backend.executors.step_costs import StepCosts
from sketchify.backend.storage.disk import RESULT_NOT_STORED, DiskFullError
from sketchify.backend.storage.jobs import QUEUED, Job, JobStore
from sketchify.core.config import resolve_preset
from sketchify.core.errors import SketchifyError, first_line
from sketchify.core.output.provenance import name_only

log = logging.getLogger(__name__)
_DISK_POLL_S = 2.0  # how often a worker looks whether a full disk has room again


def file_names_only(models: dict[str, Any]) -> dict[str, Any]:
    """Model settings as /v1/health shows them: a weights or config path becomes its file name
    (the server's folders are nobody else's business); tags such as `openai` stay."""
    return {kind: {key: name_only(value) if isinstance(value, str) else value
                   for key, value in settings.items()}
            for kind, settings in models.items()}


def failure_message(error: BaseException) -> str:
    """One sentence for the job's `error` field."""
    if isinstance(error, SketchifyError):
        return str(error)
    text = first_line(error)
    if "out of memory" in text.lower():
        return f"The device ran out of memory ({text}); try fewer strokes or seeds."
    return f"The engine failed: {type(error).__name__}: {text}"


class InProcessExecutor:
    """One thread per loaded Sketcher (one per device), each running queued jobs in order."""

    def __init__(
        self,
        store: JobStore,
        sketchers: list[Any],
        *,
        models: dict[str, Any] | None = None,
        max_attempts: int = limits.MAX_ATTEMPTS,
        max_pixels: int = limits.MAX_PIXELS,
        report_every_s: float = 0.5,
        measure: bool = True,
    ) -> None:
        if not sketchers:
            raise ValueError("InProcessExecutor needs at least one Sketcher")
        self.store = store
        self.sketchers = sketchers
        self.models = models or {}
        self.max_attempts = max_attempts
        self.max_pixels = max_pixels
        self.report_every_s = report_every_s
        # Time a few steps on each device before its first job, and in each other precision
        # before the first job that asks for it.
        self.measure = measure
        self._costs = {str(s.device): StepCosts(s) for s in sketchers}
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        self._cancels: dict[str, threading.Event] = {}  # running job id -> its cancel flag
        self._threads: list[threading.Thread] = []
        self._disk_paused = False

    # -- Executor ------------------------------------------------------------------------------

    def start(self) -> None:
        requeued, failed = self.store.recover_interrupted(self.max_attempts)
        if requeued or failed:
            log.warning("recovered interrupted jobs: requeued %s, failed %s", requeued, failed)
        for i, sketcher in enumerate(self.sketchers):
            thread = threading.Thread(
                target=self._work, args=(sketcher,), name=f"sketchify-worker-{i}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float | None = None) -> None:
        self._stopping.set()
        with self._wake:
            for event in self._cancels.values():
                event.set()
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def submit(self, job: Job) -> None:
        # Workers take jobs from the store in queue order; this only wakes one up.
        with self._wake:
            self._wake.notify()

    def cancel(self, job_id: str) -> None:
        with self._wake:
            event = self._cancels.get(job_id)
        if event is not None:
            event.set()

    def check_accepting(self) -> None:
        """Always: jobs wait in the store until a worker thread takes them."""

    def mask_problem(self) -> str | None:
        """Why an ``auto`` mask cannot run on these workers now (None: it can)."""
        return self.sketchers[0].mask_model.problem()

    def describe(self) -> dict[str, Any]:
        with self._wake:
            running = sorted(self._cancels)
        return {
            "executor": "in-process",
            "devices": [str(s.device) for s in self.sketchers],
            "models": file_names_only(self.models),
            "models_loaded": True,
            "running": running,
        }

    def step_costs(self) -> dict[str, dict[str, float]]:
        return {device: by for device, costs in self._costs.items()
                if (by := costs.by_precision())}

    # -- worker --------------------------------------------------------------------------------

    def _work(self, sketcher: Any) -> None:
        if self.measure:
            self._costs[str(sketcher.device)].measure()
        while not self._stopping.is_set():
            try:
                self._take_one(sketcher)
            except Exception:  # e.g. a busy database: keep the worker, retry shortly
                log.exception("worker error")
                self._stopping.wait(1.0)
        self.store.close()

    def _take_one(self, sketcher: Any) -> None:
        if not self._room_for_work():
            self._stopping.wait(_DISK_POLL_S)
            return
        if self.measure:
            self._measure_queued(sketcher)
        with self._wake:
            if self._stopping.is_set():  # stop() ran since the loop's check: take no new job
                return
            device = str(sketcher.device)
            job = self.store.claim_next(
                device, lambda params: resolve_preset(params["preset"], sketcher.device))
            if job is None:
                # The timeout is only a safety net; submit() wakes us.
                self._wake.wait(timeout=5.0)
                return
            cancel = threading.Event()
            self._cancels[job.id] = cancel
        try:
            self._run(sketcher, job, cancel)
        finally:
            with self._wake:
                del self._cancels[job.id]

    def _measure_queued(self, sketcher: Any) -> None:
        """Each precision the queued jobs ask for, timed on this device (once each)."""
        costs = self._costs[str(sketcher.device)]
        for precision in {job.params.get("precision", "auto") for job in self.store.jobs(QUEUED)}:
            costs.measure(precision)

    def _refresh_cost(self, device: str, result: Any) -> None:
        if result.step_cost_s is not None:
            self._costs[device].refresh(result.precision, result.step_cost_s, result.steps)

    def _room_for_work(self) -> bool:
        """Queued jobs wait while the disk is (nearly) full, and start once space is freed:
        no job is started that could not store its result."""
        accepting = self.store.space.accepting()
        with self._wake:
            if accepting == self._disk_paused:  # log each change once, not every poll
                self._disk_paused = not accepting
                if accepting:
                    log.info("disk space freed; taking queued jobs again")
                else:
                    log.warning("the data folder's disk is (nearly) full; queued jobs wait")
        return accepting

    def _run(self, sketcher: Any, job: Job, cancel: threading.Event) -> None:
        joblog.started(job)
        try:
            self._run_and_record(sketcher, job, cancel)
        finally:
            joblog.ended(self.store.get(job.id))

    def _run_and_record(self, sketcher: Any, job: Job, cancel: threading.Event) -> None:
        progress_lost: list[bool] = []  # whether a progress report already could not be stored
        try:
            result = run_sketch_task(
                sketcher,
                self.store.read_input(job.id),
                job.params,
                on_progress=lambda r: self._report(job.id, r, progress_lost),
                cancel=cancel,
                mask_image=self.store.read_mask(job.id),
                max_pixels=self.max_pixels,
                report_every_s=self.report_every_s,
            )
        except Exception as error:  # one bad job must not take the worker down
            log.exception("job %s failed", job.id)
            self.store.fail(job.id, failure_message(error))
            return
        self._refresh_cost(str(sketcher.device), result)
        try:
            self._record(job, result)
        except DiskFullError:
            log.error("job %s: the disk is full; its result could not be stored", job.id)
            self.store.fail(job.id, RESULT_NOT_STORED)
        except (OSError, sqlite3.Error) as error:  # e.g. a lost disk: not 'running' forever
            log.exception("could not store the outcome of job %s", job.id)
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            self.store.fail(job.id, f"The server could not store the job's result: {reason}.")

    def _record(self, job: Job, result: Any) -> None:
        if not result.canceled:
            self.store.finish(job.id, result.svgs, result.steps)
        elif self._stopping.is_set() and not self.store.get(job.id).cancel_requested:
            # Interrupted by a clean shutdown, not by the user: run it again next start.
            self.store.requeue(job.id, refund_attempt=True)
            joblog.requeued(job.id, "the service is stopping; it runs again at the next start")
        else:
            self.store.mark_canceled(job.id, result.svgs)

    def _report(self, job_id: str, report: ProgressReport, lost: list[bool]) -> None:
        try:
            self.store.set_progress(job_id, report.step, report.total, report.eta_s,
                                    report.previews)
        except DiskFullError:  # progress is best effort: the job runs on; its end decides
            if not lost:
                log.warning("job %s: the disk is full; progress is not stored", job_id)
                lost.append(True)
