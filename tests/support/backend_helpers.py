"""Helpers of the backend tests: test images, polling, a controllable engine, a real server."""

from __future__ import annotations

import io
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import PIL.Image
import requests
from PIL import ImageDraw


def sketcher_args(tiny_models: Any) -> dict[str, str]:
    """The Sketcher / `sketchify serve` model arguments for the tiny models
    (tests/support/tiny_models.py)."""
    return {
        "loss_model": str(tiny_models.loss_config),
        "loss_weights": str(tiny_models.loss_weights),
        "saliency_model": str(tiny_models.saliency_config),
        "saliency_weights": str(tiny_models.saliency_weights),
    }


def png_bytes(width: int = 64, height: int = 48, mode: str = "RGB", fmt: str = "PNG") -> bytes:
    """A small picture with some structure (a dark disc on white) in the given format."""
    image = PIL.Image.new(mode, (width, height), "white")
    ImageDraw.Draw(image).ellipse(
        (width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill="black"
    )
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def wait_for(check: Callable[[], Any], timeout: float = 60.0, every: float = 0.02) -> Any:
    """Poll ``check`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")


class ControlledSketcher:
    """Wraps the real Sketcher so a test decides when a job starts and when it moves on.

    ``start_gate`` closed: sketch() waits before running. ``step_gate`` closed: each progress
    report waits after it has been delivered (the job stays 'running' with a preview).
    ``fail_with`` set: sketch() raises it (an engine failure, e.g. out of memory).
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.device = inner.device
        self.start_gate = threading.Event()
        self.step_gate = threading.Event()
        self.start_gate.set()
        self.step_gate.set()
        self.entered = threading.Event()
        self.reported = threading.Event()
        self.fail_with: BaseException | None = None

    def __getattr__(self, name: str) -> Any:  # the loaded models etc. (step cost timing)
        return getattr(self.inner, name)

    def open(self) -> None:
        self.start_gate.set()
        self.step_gate.set()

    def sketch(self, image: Any, *, progress: Callable[[Any], None], **kwargs: Any) -> Any:
        self.entered.set()
        assert self.start_gate.wait(30)
        if self.fail_with is not None:
            raise self.fail_with

        def report(p: Any) -> None:
            progress(p)
            self.reported.set()
            assert self.step_gate.wait(30)

        return self.inner.sketch(image, progress=report, **kwargs)


def example_image() -> bytes:
    return (Path(__file__).parents[2] / "examples" / "cat.jpg").read_bytes()


TOKEN = "server-test-token"


def sketchify_command() -> list[str]:
    script = Path(sys.executable).parent / "sketchify"
    if script.exists():
        return [str(script)]
    found = shutil.which("sketchify")
    assert found, "the sketchify console script is not installed"
    return [found]


class Server:
    """One `sketchify serve` subprocess; ``url`` once it printed its address."""

    def __init__(self, data_dir: Path, models: dict[str, str], *extra: str,
                 log: Path | None = None) -> None:
        self.data_dir = data_dir
        self.log = log or data_dir.with_suffix(".log")  # its stderr
        args = [*sketchify_command(), "serve", "--port", "0", "--data-dir", str(data_dir),
                "--device", "cpu", "--token", TOKEN, *extra]
        for name, value in models.items():
            args += [f"--{name.replace('_', '-')}", value]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log)
        self.url = self._address()
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {TOKEN}"

    def _address(self, timeout: float = 60) -> str:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline().decode() if ready else ""
        if "serving on" not in line:
            self.proc.kill()
            raise AssertionError(f"server did not start: {line!r}\n{self.log.read_text()}")
        return line.split("serving on ")[1].split()[0]

    def submit(self, headers: dict | None = None, image: bytes | None = None, **fields: Any):
        files = {"image": ("picture.png", png_bytes() if image is None else image)}
        data = {"preset": "draft", "seeds": "1", **{k: str(v) for k, v in fields.items()}}
        return self.http.post(f"{self.url}/v1/sketches", files=files, data=data,
                              headers=headers, timeout=30)

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.http.get(f"{self.url}/v1/sketches/{job_id}", timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def finished(self, job_id: str, timeout: float = 90) -> dict[str, Any]:
        return wait_for(lambda: (j := self.job(job_id))["status"] in ("done", "failed",
                                                                        "canceled") and j,
                        timeout=timeout, every=0.05)

    def stop(self) -> int:
        """SIGTERM (a clean shutdown), SIGKILL only if that hangs; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        return self.proc.returncode
