"""`sketchify worker`: one Celery worker per GPU, running the jobs an API front hands out.

It loads the models once, measures what one optimization step costs on its device (the
front's estimates use it), then takes one job at a time from the shared Redis queue until
SIGTERM/SIGINT (a job interrupted by that goes straight back to the queue). A heartbeat key in
Redis says it is alive; if it dies, the front hands its job to another worker once the key has
expired. Celery is an optional extra, imported only when the command runs.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from dataclasses import asdict
from typing import Any

from sketchify.backend import limits
from sketchify.core.commands.cli import add_device_argument, add_model_arguments, models_from


def connect_broker(prog: str, url: str) -> Any:
    """Import the optional Celery extra and ping the broker: the redis client, or None after
    one clear line on stderr (no traceback, no hang)."""
    try:
        from sketchify.backend.executors import celery_app
    except ImportError:
        print(f"{prog}: error: Celery is not installed; "
              "run: pip install 'sketchify-clipasso[celery]'", file=sys.stderr)
        return None
    try:
        return celery_app.check_broker(url)
    except celery_app.BrokerError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return None


def add_worker_command(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "worker", help="run sketch jobs from a shared Redis queue (one per GPU)",
        description="Take sketch jobs from the queue of a `sketchify serve --executor celery` "
                    "front, one at a time, on one device.")
    broker = os.environ.get("SKETCHIFY_BROKER") or None  # keeps the password out of `ps`
    p.add_argument("--broker", required=broker is None, default=broker, metavar="URL",
                   help="the front's Redis URL, e.g. redis://:PASSWORD@host:6379/0 "
                   "(default: $SKETCHIFY_BROKER)")
    p.add_argument("--name", default=None,
                   help="worker name recorded on its jobs (default sketchify-<pid>@<host>)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--visibility-timeout", type=float, default=None, metavar="S",
                   help="seconds after which the broker itself redelivers the task of a worker "
                   "that died (a fallback: heartbeats hand the job on sooner); must exceed the "
                   "longest job (default 4 hours)")
    p.add_argument("--heartbeat-s", type=float, default=limits.HEARTBEAT_S, metavar="S",
                   help="how often this worker tells the front it is alive (default %(default)g)")
    p.add_argument("--heartbeat-ttl-s", type=float, default=limits.HEARTBEAT_TTL_S, metavar="S",
                   help="silence after which the front takes this worker for dead and hands its "
                   "job to another worker (default %(default)g; more than --heartbeat-s)")
    add_device_argument(p)
    add_model_arguments(p)
    p.set_defaults(run=run_worker)


def run_worker(args: argparse.Namespace) -> int:
    """Check the broker, load the models, then serve jobs until told to stop."""
    if not 0 < args.heartbeat_s < args.heartbeat_ttl_s:
        print("sketchify worker: error: --heartbeat-ttl-s must be longer than --heartbeat-s "
              "(and both above 0).", file=sys.stderr)
        return 2
    client = connect_broker("sketchify worker", args.broker)
    if client is None:
        return 2
    from celery.signals import worker_shutting_down

    from sketchify.backend.executors import celery_app
    from sketchify.backend.executors.celery_jobs import (  # the engine: slow to import
        Heartbeat,
        JobRunner,
    )
    from sketchify.backend.executors.step_costs import StepCosts
    from sketchify.core.engine import Sketcher

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    name = args.name or f"sketchify-{os.getpid()}@{socket.gethostname()}"
    sketcher = Sketcher(args.device, **asdict(models_from(args)))
    heartbeat = Heartbeat(client, name, str(sketcher.device), interval_s=args.heartbeat_s,
                          ttl_s=args.heartbeat_ttl_s)
    heartbeat.costs = StepCosts(sketcher)
    heartbeat.costs.measure()  # the default precision; others before their first job
    runner = JobRunner(sketcher, client, name, heartbeat)
    visibility = args.visibility_timeout or celery_app.DEFAULT_VISIBILITY_TIMEOUT_S
    app = celery_app.make_celery(args.broker, visibility_timeout_s=visibility,
                           restore_interval_s=min(10.0, visibility / 4))
    app.conf.worker_enable_remote_control = False  # nothing here listens for remote commands
    app.task(name=celery_app.TASK_NAME, acks_late=True, reject_on_worker_lost=True)(runner.run)
    worker_shutting_down.connect(lambda **_: runner.stopping.set(), weak=False)
    worker = app.Worker(
        hostname=name, pool_cls="solo", concurrency=1, queues=[celery_app.QUEUE], loglevel="INFO",
        without_mingle=True, without_gossip=True, without_heartbeat=True, quiet=True,
    )
    heartbeat.start()
    try:
        worker.start()
    finally:
        heartbeat.stop()
    return worker.exitcode or 0
