"""`sketchify serve`: load the models once, then serve the job API with waitress."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sketchify.backend import limits
from sketchify.backend.api.security import is_loopback
from sketchify.backend.storage.schema import DatabaseVersionError, check_database
from sketchify.backend.worker import connect_broker
from sketchify.core.commands.cli import add_model_arguments, models_from

log = logging.getLogger(__name__)


def default_data_dir() -> Path:
    """Per-user data folder: XDG on Linux, Application Support on macOS, LOCALAPPDATA on Windows."""
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "sketchify"


def add_serve_command(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve", help="run the sketch job service (HTTP API for Inkscape and other clients)"
    )
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; any other needs --token)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = any free)")
    p.add_argument("--token", default=os.environ.get("SKETCHIFY_TOKEN") or None,
                   help="bearer token clients must send (default: $SKETCHIFY_TOKEN)")
    p.add_argument("--data-dir", type=Path, default=default_data_dir(),
                   help="job database, inputs and results (default: %(default)s)")
    p.add_argument("--device", action="append", default=None,
                   help="auto, cpu, cuda, cuda:1, mps ...; repeat for one worker per device")
    add_model_arguments(p)
    p.add_argument("--max-upload-mb", type=float, default=limits.MAX_UPLOAD_MB,
                   help="largest request body (default %(default)g)")
    p.add_argument("--max-megapixels", type=float, default=limits.MAX_PIXELS / 1e6,
                   help="largest image accepted (default %(default).1f)")
    p.add_argument("--retention-hours", type=float, default=limits.RETENTION_HOURS,
                   help="keep finished jobs this long (default %(default)g)")
    p.add_argument("--max-attempts", type=int, default=limits.MAX_ATTEMPTS,
                   help="runs a crashing job gets before it fails (default %(default)d)")
    p.add_argument("--min-free-mb", type=float, default=limits.MIN_FREE_MB,
                   help="refuse new sketches (HTTP 507) while the data folder has less free "
                   "space than this (default %(default)g)")
    p.add_argument("--cors-origin", default=None,
                   help="one web origin allowed to call the API from a browser")
    p.add_argument("--threads", type=int, default=8, help="HTTP threads (default 8)")
    p.add_argument("--hold-jobs", action="store_true",
                   help="accept and store jobs but run none (they stay queued until canceled, "
                   "or run at a later start without this flag): for testing clients and the "
                   "API without spending compute")
    p.add_argument("--executor", choices=("in-process", "celery"), default="in-process",
                   help="in-process: run jobs here (default); celery: hand them to "
                   "`sketchify worker` processes through --broker (no models load here)")
    p.add_argument("--broker", metavar="URL", default=os.environ.get("SKETCHIFY_BROKER") or None,
                   help="Redis URL for --executor celery, e.g. redis://:PASSWORD@host:6379/0 "
                   "(default: $SKETCHIFY_BROKER)")
    p.add_argument("--visibility-timeout", type=float, default=None, metavar="S",
                   help="with --executor celery: seconds before the broker itself redelivers the "
                   "task of a worker that died (a fallback: workers' heartbeats hand it on "
                   "sooner); must exceed the longest job (default 4 hours)")
    p.set_defaults(run=serve)


def _stop_on_sigterm(*_: Any) -> None:
    raise KeyboardInterrupt  # the same clean shutdown as Ctrl-C


def serve(args: argparse.Namespace) -> int:
    if args.hold_jobs and args.executor == "celery":
        print("sketchify serve: error: --hold-jobs holds jobs in this process's own queue; "
              "with --executor celery, start no `sketchify worker` instead.", file=sys.stderr)
        return 2
    if not is_loopback(args.host) and not args.token:
        print(f"sketchify serve: error: refusing to listen on {args.host} without a token; pass "
              "--token or set SKETCHIFY_TOKEN.", file=sys.stderr)
        return 2
    try:  # before the models load: a database this release cannot read is refused at once
        check_database(args.data_dir)
    except DatabaseVersionError as error:
        print(f"sketchify serve: error: {error}", file=sys.stderr)
        return 2
    _configure_logging()
    runs_jobs = _celery_executor(args) if args.executor == "celery" else {}
    if runs_jobs is None:
        return 2
    if not runs_jobs:  # seconds of silence otherwise: importing torch, loading both models
        log.info("loading the models (%s, %s) on %s", args.loss_model, args.saliency_model,
                 ", ".join(args.device or ["auto"]))
    from sketchify.backend.app import create_app  # imports torch: after the cheap checks

    try:
        args.data_dir.mkdir(parents=True, exist_ok=True)
        runs_jobs = runs_jobs or _load_sketchers(args)
    except OSError as error:  # e.g. an unwritable data dir; engine errors reach main()
        print(f"sketchify serve: error: {error}", file=sys.stderr)
        return 2
    app = create_app({
        "DATA_DIR": args.data_dir, "HOST": args.host, "TOKEN": args.token,
        "CORS_ORIGIN": args.cors_origin, **runs_jobs,
        "MAX_CONTENT_LENGTH": int(args.max_upload_mb * 2**20),
        "MAX_PIXELS": int(args.max_megapixels * 1e6), "RETENTION_HOURS": args.retention_hours,
        "MAX_ATTEMPTS": args.max_attempts, "MIN_FREE_BYTES": int(args.min_free_mb * 2**20),
        "START": not args.hold_jobs,  # no worker threads, no retention sweep
    })
    if args.hold_jobs:
        log.warning("--hold-jobs: jobs are accepted and stored, none runs")
    service = app.extensions["sketchify"]
    try:
        return _run_waitress(app, args)
    finally:
        log.info("stopping")
        service.close()
        log.info("stopped")


def _configure_logging() -> None:
    """Our own INFO lines (one per job event) on stderr; of the libraries only warnings:
    open_clip logs each model-loading step on the root logger, waitress its address, Celery
    and kombu every connection."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("sketchify").setLevel(logging.INFO)


def _load_sketchers(args: argparse.Namespace) -> dict[str, Any]:
    """The in-process executor's config: one loaded Sketcher per --device."""
    from sketchify.core.engine import Sketcher

    chosen = models_from(args)
    models = {
        "loss": {"name": chosen.loss_model, "weights": chosen.loss_weights},
        "saliency": {"name": chosen.saliency_model, "weights": chosen.saliency_weights},
    }
    sketchers = [Sketcher(device, **asdict(chosen)) for device in args.device or ["auto"]]
    return {"SKETCHERS": sketchers, "MODELS": models}


def _celery_executor(args: argparse.Namespace) -> dict[str, Any] | None:
    """The Celery executor's config (no models here: the workers hold them); None after one
    clear line on stderr when the broker is missing or unreachable."""
    if not args.broker:
        print("sketchify serve: error: --executor celery needs --broker redis://HOST:6379/0.",
              file=sys.stderr)
        return None
    if connect_broker("sketchify serve", args.broker) is None:
        return None
    from sketchify.backend.executors.celery_app import DEFAULT_VISIBILITY_TIMEOUT_S
    from sketchify.backend.executors.celery_executor import CeleryExecutor

    def build(store: Any) -> CeleryExecutor:
        return CeleryExecutor(
            store, args.broker, max_attempts=args.max_attempts,
            max_pixels=int(args.max_megapixels * 1e6),
            visibility_timeout_s=args.visibility_timeout or DEFAULT_VISIBILITY_TIMEOUT_S)

    return {"EXECUTOR_FACTORY": build}


def _run_waitress(app: Any, args: argparse.Namespace) -> int:
    from sketchify.backend.http_server import addresses, create_server

    try:
        server = create_server(app, host=args.host, port=args.port, threads=args.threads,
                               max_body_bytes=app.config["MAX_CONTENT_LENGTH"])
    except OSError as error:
        print(f"sketchify serve: error: cannot listen on {args.host}:{args.port} ({error}).",
              file=sys.stderr)
        return 2
    print(f"Sketchify serving on {' and '.join(addresses(server))} (data in {args.data_dir})",
          flush=True)
    log.info("ready at %s", " and ".join(addresses(server)))
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
