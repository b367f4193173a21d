"""install.py against temporary Inkscape profiles: install (twice), --check, --uninstall,
making `requests` importable for an Inkscape Python that lacks it, and the zip for installing
by hand."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from extension_fixtures import StandInBackend

ROOT = Path(__file__).resolve().parents[2]
EXT = ROOT / "inkscape_ext"
SOURCES = sorted(p.relative_to(EXT).as_posix() for p in EXT.rglob("*")
                 if p.suffix in (".py", ".inx") and "__pycache__" not in p.parts)
ENTRIES = ("sketchify_again", "sketchify_image", "sketchify_update")
# The modules the entry scripts share, as release 0.3.0 laid them out beside them.
FLAT_030 = [f"sketchify_{name}.py" for name in (
    "client", "durations", "geometry", "layers", "mask", "pixels", "placeholders", "plot",
    "preview", "progress", "source", "start")]


def install(profile: Path, *args: str, runner: str = sys.executable
            ) -> subprocess.CompletedProcess:
    env = {**os.environ, "INKSCAPE_PROFILE_DIR": str(profile)}
    return subprocess.run(
        [runner, str(ROOT / "install.py"), "--extensions-dir",
         str(profile / "extensions"), *args],
        env=env, capture_output=True, text=True, timeout=180,
    )


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def backend():
    server = StandInBackend()
    yield server
    server.close()


def test_install_twice_check_and_uninstall_exactly(tmp_path, backend):
    profile = tmp_path / "profile"
    extensions = profile / "extensions"
    extensions.mkdir(parents=True)
    (extensions / "someone_else.inx").write_text("<not ours/>")
    first = install(profile, "--python", sys.executable)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "already importable" in first.stdout
    installed = tree(extensions)
    for name in SOURCES:
        assert installed[name] == (EXT / name).read_bytes()
    manifest = json.loads(installed["sketchify_manifest.json"])
    assert manifest["files"] == SOURCES

    second = install(profile, "--python", sys.executable)
    assert second.returncode == 0, second.stdout + second.stderr
    assert tree(extensions) == installed

    check = install(profile, "--check", "--python", sys.executable,
                    "--backend-url", backend.url)
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"installed in {extensions}" in check.stdout
    assert "inkscape sees it: yes" in check.stdout
    assert "requests: importable" in check.stdout
    assert (f"backend: answers at {backend.url} (version stand-in; devices cpu, cuda:0)"
            in check.stdout)

    removed = install(profile, "--uninstall")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert tree(extensions) == {"someone_else.inx": b"<not ours/>"}

    after = install(profile, "--check", "--python", sys.executable,
                    "--backend-url", "http://127.0.0.1:9")
    assert after.returncode == 1
    assert "not installed" in after.stdout
    assert "not answering at http://127.0.0.1:9" in after.stdout
    assert "sketchify serve" in after.stdout


def test_the_entry_scripts_at_the_top_the_modules_they_share_in_one_package():
    top = {f"{entry}{suffix}" for entry in ENTRIES for suffix in (".py", ".inx")}
    assert {name for name in SOURCES if "/" not in name} == top
    assert {name.split("/")[0] for name in SOURCES if "/" in name} == {"sketchify_ink"}
    assert [name.split("/")[1] for name in SOURCES if "/" in name] == sorted(
        name.removeprefix("sketchify_") for name in FLAT_030)


def test_an_upgrade_from_the_flat_layout_removes_the_modules_it_moved(tmp_path):
    # What release 0.3.0's install.py left: every file beside the entry scripts, listed in the
    # manifest, and the bytecode Inkscape's Python cached for the modules it imported.
    profile = tmp_path / "profile"
    extensions = profile / "extensions"
    cache = extensions / "__pycache__"
    cache.mkdir(parents=True)
    entries = [f"{entry}{suffix}" for entry in ENTRIES for suffix in (".py", ".inx")]
    for name in [*entries, *FLAT_030]:
        (extensions / name).write_text("# release 0.3.0\n")
    for name in FLAT_030:
        (cache / name.replace(".py", ".cpython-312.pyc")).write_bytes(b"old")
    (extensions / "sketchify_mine.py").write_text("# not installed by Sketchify\n")
    (extensions / "sketchify_manifest.json").write_text(json.dumps(
        {"files": sorted([*entries, *FLAT_030]), "python": sys.executable,
         "source": "/old/checkout"}, indent=1) + "\n")

    done = install(profile, "--python", sys.executable)
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(tree(extensions)) == {*SOURCES, "sketchify_manifest.json", "sketchify_mine.py"}
    assert not cache.exists()
    for name in SOURCES:
        assert (extensions / name).read_bytes() == (EXT / name).read_bytes()

    # Once Inkscape has run it, the package has its own bytecode: an uninstall takes that too.
    (extensions / "sketchify_ink" / "__pycache__").mkdir()
    (extensions / "sketchify_ink" / "__pycache__" / "client.cpython-312.pyc").write_bytes(b"")
    assert install(profile, "--uninstall").returncode == 0
    assert sorted(p.name for p in extensions.iterdir()) == ["sketchify_mine.py"]


def test_check_with_a_token_protected_backend(tmp_path, backend, monkeypatch):
    backend.behaviour.token = "s3cret"
    profile = tmp_path / "profile"
    monkeypatch.delenv("SKETCHIFY_TOKEN", raising=False)
    without = install(profile, "--check", "--python", sys.executable,
                      "--backend-url", backend.url)
    assert f"backend: answers at {backend.url}, but needs a token" in without.stdout
    assert "--token" in without.stdout
    wrong = install(profile, "--check", "--python", sys.executable,
                    "--backend-url", backend.url, "--token", "nope")
    assert "the one given was refused" in wrong.stdout
    monkeypatch.setenv("SKETCHIFY_TOKEN", "s3cret")
    from_env = install(profile, "--check", "--python", sys.executable,
                       "--backend-url", backend.url)
    assert f"backend: answers at {backend.url} (version stand-in;" in from_env.stdout


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> str:
    """A Python without requests, like Debian's /usr/bin/python3 that Inkscape runs."""
    bare = tmp_path_factory.mktemp("bare-python")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True,
                   timeout=120)
    python = str(bare / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))
    assert subprocess.run([python, "-c", "import requests"], capture_output=True).returncode
    return python


def test_requests_is_copied_for_an_inkscape_python_without_it(tmp_path, bare_python):
    python = bare_python
    profile = tmp_path / "profile"
    extensions = profile / "extensions"

    done = install(profile, "--python", python)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "copied into" in done.stdout
    vendor = extensions / "sketchify_vendor"
    probe = "import sys; sys.path.append(sys.argv[1]); import requests, urllib3, idna; print(1)"
    assert subprocess.run([python, "-c", probe, str(vendor)], capture_output=True,
                          text=True).stdout.strip() == "1"
    manifest = json.loads((extensions / "sketchify_manifest.json").read_text())
    assert "sketchify_vendor/requests/__init__.py" in manifest["files"]
    # The shared modules, a folder below the copy, find it (inkex stood in: that Python has none).
    found = ("import sys, types; sys.modules['inkex'] = types.ModuleType('inkex'); "
             "sys.path.insert(0, sys.argv[1]); from sketchify_ink import client; "
             "print(client.requests.__file__)")
    answer = subprocess.run([python, "-c", found, str(extensions)], capture_output=True,
                            text=True)
    assert answer.stdout.strip() == str(vendor / "requests" / "__init__.py"), answer.stderr
    assert set(tree(extensions)) == {*manifest["files"], "sketchify_manifest.json"}

    # The check finds it through the copy, and a second install is as harmless as the first.
    assert install(profile, "--check", "--python", python).returncode == 0
    again = install(profile, "--python", python)
    assert again.returncode == 0
    assert json.loads((extensions / "sketchify_manifest.json").read_text()) == manifest

    # Once Inkscape's Python has requests itself, a reinstall drops the copy.
    install(profile, "--python", sys.executable)
    assert not vendor.exists()
    assert install(profile, "--uninstall").returncode == 0
    assert not any(extensions.iterdir())


def test_a_second_run_by_a_python_without_requests_keeps_the_working_install(tmp_path,
                                                                             bare_python):
    # The user met this: a good install, then `python3 install.py` again with Debian's Python.
    profile = tmp_path / "profile"
    extensions = profile / "extensions"
    assert install(profile, "--python", bare_python).returncode == 0
    installed = tree(extensions)
    assert any(name.startswith("sketchify_vendor/requests/") for name in installed)

    again = install(profile, "--python", bare_python, runner=bare_python)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "kept in" in again.stdout
    assert tree(extensions) == installed  # the vendored requests and the manifest unchanged
    assert install(profile, "--check", "--python", bare_python).returncode == 0


def test_no_copy_to_keep_says_which_python_to_run_it_with(tmp_path, bare_python):
    done = install(tmp_path / "profile", "--python", bare_python, runner=bare_python)
    assert done.returncode == 1
    assert "Run it with the Python Sketchify is installed in" in done.stdout
    assert "pip install --user" not in done.stdout  # Debian's Python refuses it


def test_zip_for_installing_by_hand(tmp_path, bare_python):
    made = subprocess.run([sys.executable, str(ROOT / "install.py"), "--zip",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stdout + made.stderr
    version = re.search(r'^version = "(.+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    archive = tmp_path / "out" / f"sketchify-inkscape-{version.group(1)}.zip"
    assert f"Wrote {archive}" in made.stdout
    with zipfile.ZipFile(archive) as opened:
        names = opened.namelist()
        for name in SOURCES:
            assert opened.read(f"sketchify/{name}") == (EXT / name).read_bytes()
        opened.extractall(tmp_path / "extensions")
    assert all(name.startswith("sketchify/") for name in names)
    assert "sketchify/sketchify_vendor/requests/__init__.py" in names
    # Pure Python only, so one zip serves Linux, Windows and macOS alike.
    assert not [n for n in names if n.endswith((".so", ".pyd", ".dylib"))]
    vendor = tmp_path / "extensions" / "sketchify" / "sketchify_vendor"
    probe = ("import sys; sys.path.append(sys.argv[1]); import requests, charset_normalizer; "
             "print(requests.get.__module__)")
    answer = subprocess.run([bare_python, "-c", probe, str(vendor)], capture_output=True,
                            text=True)
    assert answer.stdout.strip() == "requests.api", answer.stderr
