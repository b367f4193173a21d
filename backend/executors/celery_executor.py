"""`sketchify serve --executor celery`: hand jobs to Celery workers, collect what they report.

The job store stays the single source of truth. One collector thread in the API process:
- hands every queued job that is not on the broker yet to Celery (image inside the task); a job
  the broker could not take stays queued in SQLite and is handed over when the broker is back,
  also when Redis lost its data in a restart (the ``EPOCH`` key is gone then);
- reads the workers' events stream and moves jobs through the store (started -> progress ->
  done / canceled / failed), ignoring anything for a job that is already over, so a job that
  two workers both finished is written once;
- keeps cancel flags in Redis in step with the store's cancel requests;
- reads the workers' heartbeats: a running job whose worker's heartbeat key has expired goes
  back to the queue and is handed over again under a new dispatch id (so the dead worker's own
  task, should the broker ever redeliver it, is recognized as a stale copy and dropped).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
import time
import uuid
from typing import Any

import kombu.exceptions
import redis

from sketchify.backend import joblog, limits
from sketchify.backend.executors import celery_app
from sketchify.backend.executors.protocol import QueueUnavailable
from sketchify.backend.executors.sketch_task import device_label
from sketchify.backend.storage.disk import RESULT_NOT_STORED, DiskFullError
from sketchify.backend.storage.jobs import FINISHED, QUEUED, RUNNING, Job, JobStore
from sketchify.core.config import resolved_precision

log = logging.getLogger(__name__)

BROKER_ERRORS = (redis.RedisError, kombu.exceptions.OperationalError, OSError)
_CONSUMER = "api"
_CHECK_WORKERS_EVERY_S = 1.0


def beat_costs(beat: dict[str, Any]) -> dict[str, float]:
    """A heartbeat's step costs per precision; a worker older than them beats its default
    precision's only."""
    costs = beat.get("step_costs")
    if isinstance(costs, dict):
        return {precision: cost for precision, cost in costs.items() if cost}
    if beat.get("step_cost"):
        return {resolved_precision("auto", beat["device"]): beat["step_cost"]}
    return {}


class CeleryExecutor:
    """The Executor seam (see protocol.py) over a Celery + Redis queue shared by many workers."""

    def __init__(
        self,
        store: JobStore,
        broker: str,
        *,
        max_attempts: int = 3,
        max_pixels: int = limits.MAX_PIXELS,
        visibility_timeout_s: float = celery_app.DEFAULT_VISIBILITY_TIMEOUT_S,
        block_ms: int = 500,
    ) -> None:
        self.store = store
        self.broker = broker
        self.max_attempts = max_attempts
        self.max_pixels = max_pixels
        self.block_ms = block_ms
        self.celery = celery_app.make_celery(broker, visibility_timeout_s=visibility_timeout_s)
        self.client = celery_app.redis_client(broker)
        self._submitted = threading.Event()  # a new job: hand it over without waiting
        self._handed: set[str] = set()  # jobs known to be on the broker in this Redis epoch
        self._flagged: set[str] = set()  # running jobs whose cancel flag is in Redis
        self._workers: set[str] = set()
        self._alive: dict[str, dict[str, Any]] = {}  # worker name -> its last heartbeat
        # Workers known to send heartbeats: remembered here too, for when Redis loses its data.
        self._beating: set[str] = set()
        self._workers_checked = float("-inf")
        self._deaths_from = 0.0  # no worker is taken for dead before this (monotonic) time
        self._regrace = True
        self._epoch: bytes | None = None
        self._read_from = "0"  # our own unacknowledged events first, then new ones (">")
        self._reachable = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- Executor ------------------------------------------------------------------------------

    def start(self) -> None:
        # Jobs left 'running' are not recovered here: their workers may still be on them, and a
        # worker that died leaves its task on the broker to be redelivered.
        self._thread = threading.Thread(target=self._collect, name="sketchify-collector",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.client.close()

    def submit(self, job: Job) -> None:
        # Only the collector talks to the broker about hand-overs: a request never waits on it.
        self._submitted.set()

    def cancel(self, job_id: str) -> None:
        try:
            self._flag(job_id)
        except BROKER_ERRORS as error:  # the collector flags it from the store later
            self._lost(error)

    def check_accepting(self) -> None:
        """Called before a submission is stored: no new work while the queue is unreachable."""
        if not self._reachable:
            raise QueueUnavailable("The job queue (Redis broker) is unreachable; "
                                   "try again in a minute.", retry_after_s=10)

    def mask_problem(self) -> None:
        """Not known here: the models, the mask model among them, live on the workers."""
        return None

    def step_costs(self) -> dict[str, dict[str, float]]:
        """Each live worker's measured step costs, as its heartbeat says."""
        return {device_label(beat["device"], name): costs
                for name, beat in dict(self._alive).items()
                if beat.get("device") and (costs := beat_costs(beat))}

    def describe(self) -> dict[str, Any]:
        alive = dict(self._alive)
        return {
            "executor": "celery",
            "broker": celery_app.redact(self.broker),
            "broker_reachable": self._reachable,
            "workers_seen": sorted(self._workers),
            "workers": [{"name": name, "device": beat.get("device"), "job": beat.get("job")}
                        for name, beat in sorted(alive.items())],
            "running": [job.id for job in self.store.jobs(RUNNING)],
        }

    # -- collector -----------------------------------------------------------------------------

    def _collect(self) -> None:
        while not self._stopping.is_set():
            self._submitted.clear()  # set again by a submission during this pass
            try:
                self._sync_epoch()
                self._check_workers()
                self._dispatch()
                self._flag_requested_cancels()
                self._reachable = True
                self._consume()
            except BROKER_ERRORS as error:
                self._lost(error)
                self._stopping.wait(1.0)
            except Exception:  # a bug in one event must not stop the collector for good
                log.exception("collector error")
                self._stopping.wait(1.0)
        self.store.close()

    def _lost(self, error: BaseException) -> None:
        if self._reachable:
            log.warning("Redis broker %s unreachable: %s", celery_app.redact(self.broker), error)
        self._reachable = False

    def _check_workers(self) -> None:
        """Read every heartbeat; hand the job of a worker whose heartbeat expired to another."""
        # At start and back after an outage, heartbeats sent meanwhile may have been lost with
        # Redis: every worker gets one time-to-live to be heard again before it is judged.
        self._regrace = self._regrace or not self._reachable
        now = time.monotonic()
        if now - self._workers_checked < _CHECK_WORKERS_EVERY_S:
            return
        self._workers_checked = now
        registered = {name.decode(): json.loads(info)
                      for name, info in self.client.hgetall(celery_app.WORKERS).items()}
        names = sorted(registered)
        beats = self.client.mget([celery_app.worker_key(n) for n in names]) if names else []
        self._alive = {n: _heartbeat(n, b) for n, b in zip(names, beats, strict=True) if b}
        if self._regrace:
            ttls = [info.get("ttl_s", limits.HEARTBEAT_TTL_S) for info in registered.values()]
            self._deaths_from = now + max(ttls, default=0.0)
            self._regrace = False
        self._beating.update(registered)
        if now < self._deaths_from:
            return
        running = self.store.jobs(RUNNING)
        for job in running:
            # Workers of 0.1.0 send no heartbeats (never registered): the broker's visibility
            # timeout still hands their jobs on.
            if job.worker in self._beating and job.worker not in self._alive:
                log.warning("job %s: worker %s stopped sending heartbeats; handing the job to "
                            "another worker", job.id, job.worker)
                self.store.requeue(job.id)  # the attempt counts: the worker did start it
                joblog.requeued(job.id, f"worker {job.worker} stopped sending heartbeats")
                self.client.delete(celery_app.handed_key(job.id))
                self._handed.discard(job.id)
        busy = {job.worker for job in running}
        gone = [n for n in names if n not in self._alive and n not in busy]
        if gone:
            self.client.hdel(celery_app.WORKERS, *gone)

    def _sync_epoch(self) -> None:
        """After a Redis restart without persistence the queue is empty: hand everything over
        again. The events group is (re)created reading from the start, so no event is missed."""
        epoch = self.client.get(celery_app.EPOCH)
        if epoch is not None and epoch == self._epoch:
            return
        if epoch is None:
            self.client.set(celery_app.EPOCH, uuid.uuid4().hex, nx=True)
            epoch = self.client.get(celery_app.EPOCH)
        try:
            self.client.xgroup_create(celery_app.EVENTS, celery_app.EVENTS_GROUP, id="0",
                                      mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        if self._epoch is not None:
            log.warning("Redis lost its data (restart?); handing queued jobs over again")
        self._handed.clear()
        self._flagged.clear()
        self._read_from = "0"
        self._epoch = epoch

    def _dispatch(self) -> None:
        """Hand over every queued job the broker does not hold yet; none while the disk is
        (nearly) full, as its result could not be stored."""
        if not self.store.space.accepting():
            return
        for job in self.store.jobs(QUEUED):
            if job.id not in self._handed:
                self._hand_over(job)

    def _hand_over(self, job: Job) -> None:
        if self.client.exists(celery_app.handed_key(job.id)):  # e.g. by our previous run
            self._handed.add(job.id)
            return
        dispatch = uuid.uuid4().hex
        payload = {
            "format": celery_app.task_format(job.params),
            "job": job.id,
            "dispatch": dispatch,
            "params": job.params,
            "image": base64.b64encode(self.store.read_input(job.id)).decode("ascii"),
            "mask_image": _b64(self.store.read_mask(job.id)),
            "max_attempts": self.max_attempts,
            "max_pixels": self.max_pixels,
        }
        # The id first: a worker that gets this task must not take it for a stale copy.
        self.client.set(celery_app.dispatch_key(job.id), dispatch, ex=celery_app.FINISHED_TTL_S)
        self.celery.send_task(celery_app.TASK_NAME, args=[payload], queue=celery_app.QUEUE,
                              retry=False)
        # Marked after sending: a crash in between sends it twice, and the worker that finishes
        # second is ignored, rather than never.
        self.client.set(celery_app.handed_key(job.id), "1", ex=celery_app.FINISHED_TTL_S)
        self._handed.add(job.id)

    def _flag(self, job_id: str) -> None:
        self.client.set(celery_app.cancel_key(job_id), "1", ex=celery_app.FINISHED_TTL_S)
        self._flagged.add(job_id)

    def _flag_requested_cancels(self) -> None:
        for job in self.store.jobs(RUNNING):
            if job.cancel_requested and job.id not in self._flagged:
                self._flag(job.id)

    def _consume(self) -> None:
        reply = self.client.xreadgroup(celery_app.EVENTS_GROUP, _CONSUMER,
                                       {celery_app.EVENTS: self._read_from}, count=100,
                                       block=None if self._submitted.is_set() else self.block_ms)
        entries = reply[0][1] if reply else []
        if self._read_from == "0" and not entries:
            self._read_from = ">"  # the backlog of our own unacknowledged events is done
        retry = False
        for entry_id, fields in entries:
            try:
                self._apply({k.decode(): v.decode() for k, v in fields.items()})
            except redis.RedisError:
                raise  # the broker is gone: the event stays pending and is read again
            except (KeyError, ValueError, TypeError, AttributeError):
                # Malformed: reading it again cannot help, and must not block the others.
                log.exception("dropping malformed event %s: %r", entry_id, fields)
            except Exception:  # e.g. a full disk or a busy database: try it again later
                log.exception("could not apply event %s; will retry", entry_id)
                retry = True
                continue
            self.client.xack(celery_app.EVENTS, celery_app.EVENTS_GROUP, entry_id)
            self.client.xdel(celery_app.EVENTS, entry_id)
        if retry:  # unacknowledged events are only read again from "0"
            self._read_from = "0"
            self._stopping.wait(1.0)

    def _apply(self, event: dict[str, str]) -> None:
        job_id, kind = event["job"], event["type"]
        job = self.store.get(job_id)
        if job is None:  # purged meanwhile
            return
        try:
            celery_app.message_format(event.get("format"), f"A worker's {kind!r} event",
                                "this front (sketchify serve)")
        except celery_app.NewerMessageError as error:  # never guess at what a newer worker meant
            log.error("job %s: %s", job_id, error)
            if job.status == QUEUED:  # fail() ends running jobs only
                self.store.mark_started(job_id, job.attempts, job.worker)
            self.store.fail(job_id, str(error))
            return
        data = json.loads(event["data"])
        if "worker" in data:
            self._workers.add(data["worker"])
        if job.status in FINISHED:
            if kind == "started":  # e.g. canceled while it waited on the broker: stop it
                self._flag(job_id)
            elif kind in ("done", "canceled", "failed"):
                log.info("ignoring a second outcome (%s) for job %s", kind, job_id)
            return
        if kind == "started" or (job.status == QUEUED and kind in ("done", "canceled", "failed")):
            started = self.store.mark_started(
                job_id, data.get("attempt", job.attempts + 1), data.get("worker"),
                device=data.get("device"), resolved_preset=data.get("resolved_preset"))
            if started is not None and kind == "started":
                joblog.started(started)
        if kind == "progress":
            with contextlib.suppress(DiskFullError):  # best effort: the next report may fit
                self.store.set_progress(job_id, data["step"], data["total"], data["eta_s"],
                                        _counts(data["previews"]))
        elif kind == "done":
            try:
                self.store.finish(job_id, _counts(data["svgs"]), data["steps"])
            except DiskFullError:
                log.error("job %s: the disk is full; its result could not be stored", job_id)
                self.store.fail(job_id, RESULT_NOT_STORED)
        elif kind == "canceled":
            self.store.mark_canceled(job_id, _counts(data["previews"]))
        elif kind == "failed":
            self.store.fail(job_id, data["error"])
        elif kind == "requeued" and data.get("worker", job.worker) != job.worker:
            # A worker taken for dead gives back a job that runs elsewhere now: not its own.
            log.info("ignoring job %s given back by %s: it runs on %s", job_id,
                     data["worker"], job.worker)
        elif kind == "requeued":
            self.store.requeue(job_id, refund_attempt=True)
            joblog.requeued(job_id, f"worker {job.worker} stopped; another one takes it")
        if kind in ("done", "canceled", "failed"):
            joblog.ended(self.store.get(job_id))
            self.client.delete(celery_app.handed_key(job_id))
            self._handed.discard(job_id)
            self._flagged.discard(job_id)


def _heartbeat(name: str, raw: bytes) -> dict[str, Any]:
    """A live worker's heartbeat; one from a newer worker proves it alive, but what else it
    says is not guessed at."""
    beat = json.loads(raw)
    try:
        celery_app.message_format(beat.get("format"), f"The heartbeat of worker {name}",
                            "this front (sketchify serve)")
    except celery_app.NewerMessageError as error:
        log.warning("%s", error)
        return {}
    return beat


def _counts(svgs: dict[str, str]) -> dict[int, str]:
    """JSON turned the stroke counts into strings on the way."""
    return {int(count): text for count, text in svgs.items()}


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")
