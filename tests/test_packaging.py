"""What a built wheel holds: pyproject.toml names its packages by hand, so a new package folder
that is not listed would be silently missing from every wheel (an editable install hides it).
`.ci/check-wheel` builds and installs the real wheel; this catches the omission at once."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, before the standard library took it in
    import tomli as tomllib

from sketchify.backend.cli import main

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_package_folder_is_in_the_wheel_list():
    setuptools = PYPROJECT["tool"]["setuptools"]
    folders = {
        ".".join((package, *init.parent.relative_to(ROOT / folder).parts))
        for package, folder in setuptools["package-dir"].items()
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert set(setuptools["packages"]) == folders


def test_version_is_the_project_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"sketchify {PYPROJECT['project']['version']}\n"
