"""Fixtures of the web page's Flask-level tests (loaded with ``pytest_plugins``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from sketchify.backend.app import create_app


@pytest.fixture
def make_app(tmp_path, tiny_sketcher) -> Iterator[Callable[..., Flask]]:
    """Apps whose executor never starts (START False): jobs stay where a test puts them."""
    apps: list[Flask] = []

    def make(**config: Any) -> Flask:
        app = create_app({"DATA_DIR": tmp_path / f"data{len(apps)}",
                          "SKETCHERS": [tiny_sketcher], "START": False, **config})
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["sketchify"].close()
