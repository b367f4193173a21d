"""Fixtures of the command-line tests (loaded with ``pytest_plugins``): the tiny random-weight
models as `sketchify` flags, and photos to sketch. Their sketches see nothing: the tests check
files, flags and arithmetic, never quality."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import CAT


@pytest.fixture(scope="session")
def models(tiny_models: Any) -> list[str]:
    """The model flags that load the tiny models from files."""
    return [
        "--loss-model", str(tiny_models.loss_config),
        "--loss-weights", str(tiny_models.loss_weights),
        "--saliency-model", str(tiny_models.saliency_config),
        "--saliency-weights", str(tiny_models.saliency_weights),
    ]


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    return Path(shutil.copy(CAT, tmp_path / "cat.jpg"))


@pytest.fixture
def no_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to load the models fails the test: for errors that must come first."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the models were loaded")

    monkeypatch.setattr("sketchify.core.engine.Sketcher.__init__", refuse)
