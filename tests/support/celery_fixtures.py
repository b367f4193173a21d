"""Real processes for the Celery tests: a redis-server on a free loopback port, workers, a front.

Everything binds 127.0.0.1 and is stopped by the fixture that started it.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import PIL.Image
import PIL.ImageDraw
import redis
from tiny_models import TinyModels

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until(condition: Callable[[], object], timeout_s: float, what: str,
               every_s: float = 0.1) -> object:
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(every_s)


def stop_process(proc: subprocess.Popen, timeout_s: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it does not exit in time."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


class RedisServer:
    """One redis-server without persistence: a stop + start loses everything, like a reboot."""

    def __init__(self, workdir: Path, password: str | None = None) -> None:
        self.port = free_port()
        self.password = password
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{HOST}:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host=HOST, port=self.port, password=self.password,
                           socket_connect_timeout=2, socket_timeout=5)

    def start(self) -> None:
        cmd = [shutil.which("redis-server") or "redis-server", "--port", str(self.port),
               "--bind", HOST, "--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        if self.password:
            cmd += ["--requirepass", self.password]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def ready() -> bool:
            try:
                return bool(self.client().ping())
            except redis.RedisError:
                assert self.proc.poll() is None, "redis-server exited at start-up"
                return False

        wait_until(ready, 20, f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


def sketchify_cmd(*args: str) -> list[str]:
    """The console script, run with this interpreter (works without the venv on PATH)."""
    return [sys.executable, "-c", "import sys; from sketchify.backend.cli import main; "
            "sys.exit(main())", *args]


def single_thread_env() -> dict[str, str]:
    """Each worker gets one CPU thread, like one GPU each: they must not fight over cores."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def image_bytes() -> bytes:
    picture = PIL.Image.new("RGB", (64, 48), "white")
    PIL.ImageDraw.Draw(picture).ellipse((16, 12, 48, 36), fill="black")
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def model_flags(tiny_models: TinyModels) -> list[str]:
    return ["--loss-model", str(tiny_models.loss_config),
            "--loss-weights", str(tiny_models.loss_weights),
            "--saliency-model", str(tiny_models.saliency_config),
            "--saliency-weights", str(tiny_models.saliency_weights)]
