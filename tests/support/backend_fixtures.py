"""Backend test fixtures (loaded with ``pytest_plugins``): the real engine on tiny models."""

from __future__ import annotations

from typing import Any

import pytest
from backend_helpers import sketcher_args


@pytest.fixture(scope="session")
def tiny_model_args(tiny_models: Any) -> dict[str, str]:
    """Sketcher keyword arguments that load the tiny random-weight models from files."""
    return sketcher_args(tiny_models)


@pytest.fixture(scope="session")
def tiny_sketcher(tiny_model_args: dict[str, str]) -> Any:
    from sketchify.core.engine import Sketcher

    return Sketcher(device="cpu", **tiny_model_args)
