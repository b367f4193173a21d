"""The ``auto`` object mask: U²-Net, the salient-object network the reference uses, through rembg.

rembg and onnxruntime are the optional extra ``sketchify-clipasso[mask]``, imported only when
``auto`` runs. The model is rembg's ``u2net.onnx``: a local file (``--mask-model FILE``), or
rembg's cache, downloaded into it on first use with a progress bar. Offline, the download is
given up after a few seconds with one sentence naming the file and where to put it.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from sketchify.core.config import MASK_HALF
from sketchify.core.errors import InputError, WeightsError, first_line

# Where rembg itself downloads u2net from (its U2netSession); named here for the manual way.
U2NET_URL = "https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2net.onnx"
U2NET_FILE = "u2net.onnx"
PROBE_TIMEOUT_S = 5.0
INSTALL = "pip install 'sketchify-clipasso[mask]'"


def extra_problem() -> str | None:
    """Why the ``[mask]`` extra cannot be used (None when it can). Checked without importing
    rembg: without onnxruntime, importing rembg exits the process."""
    missing = [name for name in ("onnxruntime", "rembg") if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return (f"mask 'auto' needs the optional mask extra ({' and '.join(missing)} "
            f"not installed): {INSTALL}.")


class SalientObjectModel:
    """U²-Net for ``auto`` masks; nothing is read before the first mask (then once).

    ``model_file``: a local u2net ONNX file; None: rembg's cache, downloading on first use.
    """

    def __init__(self, model_file: str | os.PathLike | None = None) -> None:
        self.model_file = Path(model_file).expanduser() if model_file else None
        if self.model_file is not None and not self.model_file.is_file():
            raise WeightsError(f"Mask model file not found: {self.model_file}.")
        self._session: Any = None
        self._lock = threading.Lock()

    def problem(self) -> str | None:
        """Why ``auto`` cannot run here without downloading anything first (None: it can)."""
        extra = extra_problem()
        if extra is not None:
            return extra
        if self.model_file is not None or _cached() is not None:
            return None
        return f"The u2net model for mask 'auto' is not downloaded yet: {_manual()}."

    def mask(self, picture: Image.Image) -> np.ndarray:
        """The object of an RGB picture, bool [height, width]: U²-Net's map, min-max
        normalized, above 0.5."""
        session = self.load()
        try:
            # A flat map divides 0 by 0 inside rembg; it then simply marks no object.
            with np.errstate(invalid="ignore", divide="ignore"):
                (level,) = session.predict(picture.convert("RGB"))[:1]
        except Exception as exc:  # onnxruntime raises its own types for a mismatched model
            raise WeightsError(f"The mask model {self._name()} could not run on the photo "
                               f"({first_line(exc)}); it must be a u2net ONNX model.") from exc
        pixels = np.asarray(level) >= MASK_HALF
        if not pixels.any():
            raise InputError("The salient-object network found no object in the photo; "
                             "send a mask image instead.", field="mask")
        return pixels

    def load(self) -> Any:
        """The rembg session, built once: from the file, the cache, or a fresh download."""
        with self._lock:
            if self._session is None:
                self._session = _session(self.ensure())
            return self._session

    def ensure(self) -> Path:
        """The model file on this machine, downloading it into rembg's cache if needed."""
        extra = extra_problem()
        if extra is not None:
            raise WeightsError(extra)
        if self.model_file is not None:
            return self.model_file
        return _cached() or _download()

    def _name(self) -> str:
        return self.model_file.name if self.model_file else U2NET_FILE


def _u2net() -> Any:
    from rembg.sessions.u2net import U2netSession

    return U2netSession


def _cached() -> Path | None:
    found = _u2net().resolve_existing(U2NET_FILE)
    return Path(found) if found else None


def _manual() -> str:
    folder = _u2net().model_dir()
    return (f"download {U2NET_URL} into {folder}{os.sep} or pass it with --mask-model FILE, "
            "or run once online to cache it there")


def _download() -> Path:
    import requests

    # rembg's downloader would wait through its own retries; ask once, briefly, first.
    try:
        reply = requests.head(U2NET_URL, timeout=PROBE_TIMEOUT_S, allow_redirects=True)
        reply.raise_for_status()
    except requests.RequestException as exc:
        raise WeightsError(f"Cannot reach {U2NET_URL.split('/')[2]} to download the u2net "
                           f"model for mask 'auto': {_manual()}.") from exc
    try:
        return Path(_u2net().download_models())
    except Exception as exc:
        raise WeightsError(f"Downloading the u2net model for mask 'auto' failed "
                           f"({first_line(exc)}): {_manual()}.") from exc


def _session(path: Path) -> Any:
    import onnxruntime

    base = _u2net()

    class FileSession(base):
        """rembg's u2net session on a given file. rembg's own custom-model session refuses
        files outside its model folder, and --mask-model takes any path."""

        @classmethod
        def download_models(cls, *args: Any, **kwargs: Any) -> str:
            return str(path)

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: the CLI's stderr is for one message
    # The same CPU budget as torch (`sketchify worker --threads N` sets it), not every core.
    options.intra_op_num_threads = torch.get_num_threads()
    try:
        return FileSession("u2net", options)
    except Exception as exc:  # onnxruntime's own exception types for unreadable files
        raise WeightsError(f"The mask model file {path} could not be loaded as an ONNX model "
                           f"({first_line(exc)}).") from exc
