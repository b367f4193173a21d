"""The worker side of the Celery executor: one sketch job, run on this process's loaded models.

A job reports everything back on the events stream (it never writes job state or results
anywhere else). Cancel is a Redis key that the job's cancel token looks at every optimization
step, but at most every ``CANCEL_POLL_S`` seconds; the same look tells whether the front has
meanwhile handed the job to another worker (this one was taken for dead), which stops it too.
A ``Heartbeat`` thread keeps this worker's heartbeat key alive while the process lives.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
import time
from typing import Any

import redis
from celery.exceptions import Reject

from sketchify.backend import limits
from sketchify.backend.executors import celery_app
from sketchify.backend.executors.in_process import failure_message
from sketchify.backend.executors.sketch_task import ProgressReport, run_sketch_task
from sketchify.backend.executors.step_costs import StepCosts
from sketchify.core.config import resolve_preset

log = logging.getLogger(__name__)

CANCEL_POLL_S = 0.5
RESEND_FOR_S = 3600.0  # how long a finished job's result waits for Redis to come back


class RedisCancel:
    """``is_set()`` for the engine: the job's cancel key in Redis, read at most every ``poll_s``,
    or the worker shutting down (then the job goes back to the queue, it is not canceled), or
    the job handed to another worker since this one started it (``superseded``)."""

    def __init__(self, client: redis.Redis, job_id: str, stopping: threading.Event,
                 poll_s: float = CANCEL_POLL_S, dispatch: str | None = None) -> None:
        self.client = client
        self.key = celery_app.cancel_key(job_id)
        self.dispatch_key = celery_app.dispatch_key(job_id)
        self.dispatch = dispatch
        self.stopping = stopping
        self.poll_s = poll_s
        self.requested = False
        self.superseded = False
        self._checked = float("-inf")

    def is_set(self) -> bool:
        if self.requested or self.superseded or self.stopping.is_set():
            return True
        now = time.monotonic()
        if now - self._checked >= self.poll_s:
            self._checked = now
            # Broker away for a moment: keep working, ask again later.
            with contextlib.suppress(redis.RedisError):
                pipe = self.client.pipeline(transaction=False)
                pipe.exists(self.key)
                pipe.get(self.dispatch_key)
                cancel, current = pipe.execute()
                self.requested = bool(cancel)
                self.superseded = _superseded(self.dispatch, current)
        return self.requested or self.superseded


def _superseded(dispatch: str | None, current: bytes | None) -> bool:
    """Whether the front handed the job over again since the task with ``dispatch`` was sent
    (no key: Redis lost it, or 0.1.0's front, which sends no dispatch id: run it)."""
    return dispatch is not None and current is not None and current.decode() != dispatch


class Heartbeat:
    """Renews this worker's heartbeat key every ``interval_s`` with a ``ttl_s`` time-to-live,
    naming its device, measured step cost and current job; the front hands the job of a worker
    whose key has expired to another worker."""

    def __init__(self, client: redis.Redis, name: str, device: str, *,
                 interval_s: float = limits.HEARTBEAT_S, ttl_s: float = limits.HEARTBEAT_TTL_S,
                 ) -> None:
        self.client = client
        self.name = name
        self.device = device
        self.interval_s = interval_s
        self.ttl_s = ttl_s
        self.costs: StepCosts | None = None  # this worker's step costs, once it measures
        self.job: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sketchify-heartbeat",
                                        daemon=True)

    def start(self) -> None:
        self.beat()  # alive before the first job can arrive
        self._thread.start()

    def beat(self) -> None:
        costs = self.costs
        # `step_cost` (the default precision's) is what a front older than `step_costs` reads.
        state = {"format": celery_app.EVENT_FORMAT, "worker": self.name, "device": self.device,
                 "step_cost": None if costs is None else costs.default(),
                 "step_costs": {} if costs is None else costs.by_precision(),
                 "job": self.job, "ttl_s": self.ttl_s}
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(celery_app.WORKERS, self.name, json.dumps({"ttl_s": self.ttl_s}))
        pipe.set(celery_app.worker_key(self.name), json.dumps(state), px=int(self.ttl_s * 1000))
        pipe.execute()

    def stop(self) -> None:
        """A clean stop: the front need not wait for the key to expire."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.interval_s + 5)
        with contextlib.suppress(redis.RedisError):
            pipe = self.client.pipeline(transaction=True)
            pipe.delete(celery_app.worker_key(self.name))
            pipe.hdel(celery_app.WORKERS, self.name)
            pipe.execute()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.beat()
            except redis.RedisError as error:  # the key may expire: the front then hands
                log.warning("heartbeat not sent: %s", error)  # the job on (at most once)


class JobRunner:
    """The task body, bound to this process's loaded Sketcher and Redis connection."""

    def __init__(self, sketcher: Any, client: redis.Redis, worker_name: str,
                 heartbeat: Heartbeat | None = None) -> None:
        self.sketcher = sketcher
        self.client = client
        self.worker_name = worker_name
        self.heartbeat = heartbeat
        self.stopping = threading.Event()

    def run(self, payload: dict[str, Any]) -> None:
        job_id = payload["job"]
        try:
            celery_app.message_format(payload.get("format"), "This job's task message",
                                f"the worker {self.worker_name}")
        except celery_app.NewerMessageError as error:
            log.error("job %s: %s", job_id, error)
            self._finish(job_id, "failed", error=str(error))
            return
        if self._reliably(lambda: self.client.exists(celery_app.finished_key(job_id))):
            log.info("job %s was already finished by another worker; dropping this copy", job_id)
            return
        dispatch = payload.get("dispatch")
        if _superseded(dispatch, self._reliably(lambda: self.client.get(
                celery_app.dispatch_key(job_id)))):
            log.info("job %s was handed to another worker since; dropping this copy", job_id)
            return
        if self._reliably(lambda: self.client.exists(celery_app.cancel_key(job_id))):
            self._finish(job_id, "canceled", previews={})
            return
        attempt = self._reliably(lambda: self._count_attempt(job_id))
        if attempt > payload["max_attempts"]:
            self._finish(job_id, "failed", error=(
                f"Workers stopped while running this job {attempt - 1} times; giving up."))
            return
        # Where it runs decides what `auto` means: the front records both from this event.
        self._send(job_id, "started", attempt=attempt, worker=self.worker_name,
                   device=str(self.sketcher.device),
                   resolved_preset=resolve_preset(payload["params"]["preset"],
                                                  self.sketcher.device))
        token = RedisCancel(self.client, job_id, self.stopping, dispatch=dispatch)
        self._set_current(job_id)
        try:
            if self.heartbeat is not None and self.heartbeat.costs is not None:
                # The first job in a precision this worker has not timed: a few steps first.
                self.heartbeat.costs.measure(payload["params"].get("precision", "auto"))
            result = run_sketch_task(
                self.sketcher,
                base64.b64decode(payload["image"]),
                payload["params"],
                on_progress=lambda report: self._progress(job_id, report),
                cancel=token,
                # Payloads from a front older than masks carry no mask image.
                mask_image=_unb64(payload.get("mask_image")),
                max_pixels=payload["max_pixels"],
            )
        except Exception as error:  # one bad job must not take the worker down
            log.exception("job %s failed", job_id)
            self._finish(job_id, "failed", error=failure_message(error))
            return
        finally:
            self._set_current(None)
        if token.superseded:  # taken for dead and handed on: the other worker reports it
            log.warning("job %s was handed to another worker meanwhile; stopped here", job_id)
            return
        costs = self.heartbeat.costs if self.heartbeat is not None else None
        if result.step_cost_s is not None and costs is not None:
            # The next heartbeat carries it: the front's estimates follow.
            costs.refresh(result.precision, result.step_cost_s, result.steps)
        if not result.canceled:
            self._finish(job_id, "done", svgs=result.svgs, steps=result.steps)
        elif token.requested:
            self._finish(job_id, "canceled", previews=result.svgs)
        else:
            # Interrupted by this worker's shutdown. The token stops asking Redis once the
            # worker is stopping, so ask here: a job handed on meanwhile is the other worker's.
            if _superseded(dispatch, self._reliably(lambda: self.client.get(
                    celery_app.dispatch_key(job_id)))):
                log.warning("job %s was handed to another worker meanwhile; stopped here",
                            job_id)
                return
            # Give the job back at once, uncounted.
            self._reliably(lambda: self.client.decr(celery_app.attempts_key(job_id)))
            self._send(job_id, "requeued", worker=self.worker_name)
            raise Reject("worker shutting down", requeue=True)

    def _set_current(self, job_id: str | None) -> None:
        if self.heartbeat is not None:
            self.heartbeat.job = job_id

    def _count_attempt(self, job_id: str) -> int:
        pipe = self.client.pipeline()
        pipe.incr(celery_app.attempts_key(job_id))
        pipe.expire(celery_app.attempts_key(job_id), celery_app.FINISHED_TTL_S)
        return pipe.execute()[0]

    def _progress(self, job_id: str, report: ProgressReport) -> None:
        try:  # progress is best effort: the next report replaces a lost one
            self.client.xadd(celery_app.EVENTS, _event(
                job_id, "progress", step=report.step, total=report.total, eta_s=report.eta_s,
                previews=report.previews, worker=self.worker_name),
                maxlen=celery_app.EVENTS_MAXLEN, approximate=True)
        except redis.RedisError as error:
            log.warning("could not report progress of job %s: %s", job_id, error)

    def _send(self, job_id: str, kind: str, **data: Any) -> None:
        event = _event(job_id, kind, **data)
        self._reliably(lambda: self.client.xadd(
            celery_app.EVENTS, event, maxlen=celery_app.EVENTS_MAXLEN, approximate=True))

    def _finish(self, job_id: str, kind: str, **data: Any) -> None:
        """The outcome and the finished mark in one transaction: both land or neither does."""
        event = _event(job_id, kind, worker=self.worker_name, **data)

        def send() -> None:
            pipe = self.client.pipeline(transaction=True)
            pipe.xadd(celery_app.EVENTS, event, maxlen=celery_app.EVENTS_MAXLEN, approximate=True)
            pipe.set(celery_app.finished_key(job_id), self.worker_name,
                     ex=celery_app.FINISHED_TTL_S)
            pipe.execute()

        self._reliably(send)

    def _reliably(self, call: Any) -> Any:
        """Retry a Redis call while the broker is away (a restart must not lose a result)."""
        deadline = time.monotonic() + RESEND_FOR_S
        while True:
            try:
                return call()
            except redis.RedisError as error:
                if time.monotonic() > deadline:
                    raise
                log.warning("Redis unavailable (%s); retrying", error)
                time.sleep(1.0)


def _event(job_id: str, kind: str, **data: Any) -> dict[str, str]:
    return {"format": str(celery_app.EVENT_FORMAT), "job": job_id, "type": kind,
            "data": json.dumps(data)}


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)
