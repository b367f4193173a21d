"""Shared fixtures. The tiny-model fixtures belong to the engine (see
tests/support/tiny_models.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The helpers every group of tests shares (each group's own sit beside its tests).
sys.path.insert(0, str(Path(__file__).parent / "support"))

from tiny_models import TinyModels, make_tiny_models


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    """Paths of a tiny random-weight loss model (ModifiedResNet) and saliency model (ViT)."""
    return make_tiny_models(tmp_path_factory.mktemp("tiny_models"))
