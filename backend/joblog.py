"""One log line per job event, naming the job: what `sketchify serve` says while it works."""

from __future__ import annotations

import logging

from sketchify.backend.storage.jobs import CANCELED, DONE, FINISHED, Job

log = logging.getLogger("sketchify.jobs")


def received(job: Job) -> None:
    name = f" ({job.filename})" if job.filename else ""
    log.info("job %s received%s: strokes %s, preset %s", job.id, name,
             ",".join(map(str, job.strokes)), job.params.get("preset"))


def started(job: Job) -> None:
    where = f"{job.device} of worker {job.worker}" if job.worker else job.device
    log.info("job %s started on %s (preset %s, attempt %d)", job.id, where,
             job.resolved_preset, job.attempts)


def ended(job: Job | None) -> None:
    """The job's outcome as stored: done, failed or canceled, how long it ran, steps run."""
    if job is None or job.status not in FINISHED:  # e.g. back in the queue
        return
    if job.started_at is None or job.finished_at is None:  # canceled while queued
        log.info("job %s %s before it started", job.id, job.status)
        return
    took = f"{job.finished_at - job.started_at:.1f} s, {job.step} steps"
    if job.status == DONE:
        log.info("job %s done (%s)", job.id, took)
    elif job.status == CANCELED:
        log.info("job %s canceled (%s)", job.id, took)
    else:
        log.info("job %s %s (%s): %s", job.id, job.status, took, job.error)


def requeued(job_id: str, why: str) -> None:
    log.info("job %s back in the queue: %s", job_id, why)
