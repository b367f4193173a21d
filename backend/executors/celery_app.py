"""What the API front and the workers share: the Celery app, its settings, the Redis key names.

Celery and redis-py are an optional extra (``pip install sketchify-clipasso[celery]``): only the
``--executor celery`` front and ``sketchify worker`` import this module.

Jobs travel API -> worker as Celery tasks on the Redis broker; everything travels back on plain
Redis keys and one stream (``EVENTS``) that the API front consumes, so the API's job store stays
the only place where a job's state and results are written. Each worker also keeps a heartbeat
key alive (``worker_key``, with a time-to-live): when it vanishes, the front hands that worker's
job to another one.

Every message carries a format number (``MESSAGE_FORMAT``): what release 0.1.0 sent carries
none and is read as format 1; one from a newer release is refused with a sentence.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import redis
from celery import Celery

TASK_NAME = "sketchify.sketch"
QUEUE = "sketchify"
EVENTS = "sketchify:events"  # stream: worker -> API (started, progress, done, canceled, ...)
EVENTS_GROUP = "api"
EVENTS_MAXLEN = 100_000  # approximate cap; the API acknowledges events within a second
EPOCH = "sketchify:epoch"  # vanishes with the data when Redis restarts without persistence
FINISHED_TTL_S = 7 * 24 * 3600

# A task a dead worker held is put back on the queue by the broker after this long; keep it
# above the longest job. Heartbeats hand such a job on much sooner (limits.HEARTBEAT_TTL_S).
DEFAULT_VISIBILITY_TIMEOUT_S = 4 * 3600
WORKERS = "sketchify:workers"  # hash: name of every worker that sends heartbeats -> its TTL

# 2: task payloads carry `format`, `dispatch` and `mask`; events carry `format`; heartbeats.
# 3: a task whose params ask a `precision` other than `auto` or carry a `start` (a format-2
#    worker would ignore the field and run without it). Every other task, and every event and
#    heartbeat, is still written as format 2, so that mixed releases keep running what both
#    read alike.
MESSAGE_FORMAT = 3
EVENT_FORMAT = 2  # events and heartbeats: unchanged since format 2


class NewerMessageError(Exception):
    """A message from a newer Sketchify; ``str()`` is one sentence saying what to upgrade."""


def message_format(value: object, what: str, upgrade: str) -> int:
    """The format of a message (1 when it carries none, as 0.1.0's); NewerMessageError for
    one this release cannot read. ``what`` names the message, ``upgrade`` the side to upgrade."""
    try:
        version = 1 if value is None else int(value)
    except (TypeError, ValueError):
        raise NewerMessageError(f"{what} has an unreadable format number {value!r}.") from None
    if version > MESSAGE_FORMAT:
        raise NewerMessageError(
            f"{what} is in message format {version}, newer than this Sketchify reads "
            f"({MESSAGE_FORMAT}); upgrade {upgrade}.")
    return version


def task_format(params: dict[str, object]) -> int:
    """The oldest format that holds a task with ``params``: a worker too old to read a field
    the job needs refuses the task rather than run it without the field."""
    needs_3 = params.get("precision", "auto") != "auto" or params.get("start") is not None
    return 3 if needs_3 else 2


def worker_key(name: str) -> str:
    """A worker's heartbeat (JSON: device, step cost, current job); expires unless renewed."""
    return f"sketchify:worker:{name}"


def dispatch_key(job_id: str) -> str:
    """The id of the job's latest hand-over: a task with another id is a stale copy."""
    return f"sketchify:dispatch:{job_id}"


def cancel_key(job_id: str) -> str:
    return f"sketchify:cancel:{job_id}"


def handed_key(job_id: str) -> str:
    """Set by the API once the job's task is on the broker (it vanishes with the queue)."""
    return f"sketchify:handed:{job_id}"


def attempts_key(job_id: str) -> str:
    return f"sketchify:attempts:{job_id}"


def finished_key(job_id: str) -> str:
    """Set by the worker that finished the job: a redelivered copy is then dropped."""
    return f"sketchify:finished:{job_id}"


class BrokerError(Exception):
    """The broker URL is unusable or the broker cannot be reached; the message says which."""


def redact(url: str) -> str:
    """The broker URL without its password, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urllib.parse.urlunsplit(parts._replace(netloc=user + host))


def redis_client(url: str, *, timeout_s: float = 5.0) -> redis.Redis:
    """A redis-py client for the broker URL whose calls fail fast instead of hanging."""
    if urllib.parse.urlsplit(url).scheme not in ("redis", "rediss"):
        raise BrokerError(f"the broker URL {redact(url)!r} must start with redis:// or rediss://")
    return redis.Redis.from_url(
        url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s, health_check_interval=10
    )


def check_broker(url: str) -> redis.Redis:
    """Connect and ping once: one clear sentence instead of a traceback or a hang at start-up."""
    client = redis_client(url)
    try:
        client.ping()
    except redis.AuthenticationError as error:
        raise BrokerError(
            f"the Redis broker at {redact(url)} refused the password ({error}); "
            "put the right one in the URL as redis://:PASSWORD@host:port/db"
        ) from None
    except redis.RedisError as error:
        raise BrokerError(f"cannot reach the Redis broker at {redact(url)}: {error}") from None
    return client


def make_celery(broker: str, *, visibility_timeout_s: float = DEFAULT_VISIBILITY_TIMEOUT_S,
                restore_interval_s: float = 10.0) -> Celery:
    """The Celery app for long GPU jobs: one job at a time per worker, acknowledged only when
    it is over, so a worker that dies mid-job (even without a chance to say so) leaves its job
    on the broker to be handed to another worker after ``visibility_timeout_s``."""
    app = Celery("sketchify", broker=broker, set_as_current=False)
    transport: dict[str, Any] = {
        "visibility_timeout": visibility_timeout_s,
        # How often a worker looks for jobs abandoned by dead workers (one Redis scan each time).
        "unacked_restore_interval": restore_interval_s,
        "unacked_restore_throttle": 1,
        "socket_timeout": 30,
        "socket_connect_timeout": 5,
    }
    app.conf.update(
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,  # results go back through the events stream
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_track_started=False,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False,
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=5,
        broker_heartbeat=0,
    )
    return app
