"""The seam between the HTTP layer and whatever runs jobs.

The HTTP layer only ever writes a queued job into the JobStore and then talks to an
``Executor``: ``submit(job)`` once the job is durable, ``cancel(id)`` after a cancel request
on a running job, ``describe()`` for /v1/health, ``start()``/``stop()`` around the server's
life. Executors move jobs through their states with the store's methods (claim_next,
set_progress, finish, mark_canceled, fail, requeue, recover_interrupted), so the store stays
the single source of truth. ``in_process.InProcessExecutor`` is the default;
``celery_executor.CeleryExecutor`` spreads jobs over machines.
"""

from __future__ import annotations

from typing import Any, Protocol

from sketchify.backend.storage.jobs import Job


class QueueUnavailable(Exception):
    """New jobs cannot be taken now (the message says why); the app answers 503 with
    ``retry_after_s`` as Retry-After."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Executor(Protocol):
    def start(self) -> None:
        """Recover jobs interrupted by a previous crash and start taking queued jobs."""

    def stop(self, timeout: float | None = None) -> None:
        """Stop taking jobs; a job interrupted by the stop goes back to the queue."""

    def submit(self, job: Job) -> None:
        """This job was just queued in the store (its row and input are durable)."""

    def cancel(self, job_id: str) -> None:
        """The store flagged this running job for cancelation; stop it cooperatively."""

    def check_accepting(self) -> None:
        """Raise QueueUnavailable when new jobs cannot be taken now; called before storing one."""

    def mask_problem(self) -> str | None:
        """Why an ``auto`` mask cannot run where jobs run (None: it can, or it is not known
        here); a submission asking for one gets it as a 422."""

    def describe(self) -> dict[str, Any]:
        """What /v1/health shows about the workers: kind, devices, models, running job ids."""

    def step_costs(self) -> dict[str, dict[str, float]]:
        """Measured seconds per sketch view per step, per device label and precision (as
        resolved there: fp32, fp16; estimates.py)."""
