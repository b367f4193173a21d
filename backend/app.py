"""The Flask app factory: config -> store, executor, guards, /v1 blueprint, JSON errors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from sketchify.backend import limits
from sketchify.backend.api.errors import ApiError, body_too_large
from sketchify.backend.api.openapi import docs
from sketchify.backend.api.routes import v1
from sketchify.backend.api.security import install_guards, is_loopback
from sketchify.backend.executors.in_process import InProcessExecutor
from sketchify.backend.executors.protocol import Executor, QueueUnavailable
from sketchify.backend.service import Service
from sketchify.backend.storage.disk import DiskFullError
from sketchify.backend.storage.jobs import JobStore
from sketchify.backend.web.page import web
from sketchify.core.config import API_FORMATS
from sketchify.core.output.provenance import package_version

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "HOST": "127.0.0.1",  # the address the server is bound to (decides the Host check)
    "TOKEN": None,
    "CORS_ORIGIN": None,
    "MAX_CONTENT_LENGTH": int(limits.MAX_UPLOAD_MB * 2**20),
    "MAX_PIXELS": limits.MAX_PIXELS,
    "IMAGE_FORMATS": API_FORMATS,
    "RETENTION_HOURS": limits.RETENTION_HOURS,
    "MAX_ATTEMPTS": limits.MAX_ATTEMPTS,
    "MIN_FREE_BYTES": limits.MIN_FREE_BYTES,  # less free in DATA_DIR: submissions get 507
    "PROGRESS_EVERY_S": 0.5,
    "MEASURE_STEP_COST": True,  # time a few steps per device at start (for estimates)
    # How jobs run: EXECUTOR_FACTORY(store) -> Executor wins; otherwise the in-process
    # executor with one thread per Sketcher in SKETCHERS (default: one Sketcher(**ENGINE)).
    "EXECUTOR_FACTORY": None,
    "SKETCHERS": None,
    "ENGINE": {},
    "MODELS": {},  # model names/weights, shown by /v1/health
    "START": True,  # start the executor and the retention sweep now
}


def _in_process(config: dict[str, Any]) -> Callable[[JobStore], Executor]:
    def build(store: JobStore) -> Executor:
        sketchers = config["SKETCHERS"]
        if sketchers is None:
            from sketchify.core.engine import Sketcher  # loads torch: only when needed

            sketchers = [Sketcher(**config["ENGINE"])]
        return InProcessExecutor(
            store, sketchers, models=config["MODELS"], max_attempts=config["MAX_ATTEMPTS"],
            max_pixels=config["MAX_PIXELS"], report_every_s=config["PROGRESS_EVERY_S"],
            measure=config["MEASURE_STEP_COST"],
        )

    return build


def _error(status: int, message: str, field: str | None = None) -> Response:
    response = jsonify({"error": message, "field": field})
    response.status_code = status
    return response


def _register_errors(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        response = _error(error.status, error.message, error.field)
        response.headers.update(error.headers)
        return response

    @app.errorhandler(QueueUnavailable)
    def queue_unavailable(error: QueueUnavailable) -> Response:
        response = _error(503, str(error))
        response.headers["Retry-After"] = str(error.retry_after_s)
        return response

    @app.errorhandler(DiskFullError)
    def disk_full(error: DiskFullError) -> Response:
        return _error(507, str(error))  # 507 Insufficient Storage: the cause is ours

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_: RequestEntityTooLarge) -> Response:
        return _error(413, body_too_large(app.config["MAX_CONTENT_LENGTH"]))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        response = _error(error.code or 500, f"{error.name}.")
        if error.code == 405 and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return _error(500, "Internal server error; see the server log.")


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the service. ``DATA_DIR`` (required) holds the job database and files."""
    app = Flask(__name__, static_folder=None)  # /static/ belongs to the web page's blueprint
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    if not app.config.get("DATA_DIR"):
        raise ValueError("create_app needs config['DATA_DIR']")
    store = JobStore(app.config["DATA_DIR"], min_free_bytes=app.config["MIN_FREE_BYTES"])
    factory = app.config["EXECUTOR_FACTORY"] or _in_process(app.config)
    executor = factory(store)
    service = Service(
        store=store,
        executor=executor,
        version=package_version(),
        max_pixels=app.config["MAX_PIXELS"],
        formats=tuple(app.config["IMAGE_FORMATS"]),
        retention_s=app.config["RETENTION_HOURS"] * 3600.0,
        # Remote workers' disks are out of sight: only an in-process executor can tell.
        mask_problem=executor.mask_problem,
    )
    app.extensions["sketchify"] = service
    install_guards(
        app, token=app.config["TOKEN"], cors_origin=app.config["CORS_ORIGIN"],
        loopback_only=is_loopback(app.config["HOST"]),
        public_blueprints=(web.name, docs.name),  # neither holds a secret
    )
    _register_errors(app)
    app.register_blueprint(v1)
    app.register_blueprint(docs)
    app.register_blueprint(web)
    if app.config["START"]:
        service.start()
    return app
