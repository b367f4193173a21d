#!/usr/bin/env python3
"""Install the Sketchify extension into Inkscape, check it, or remove it again.

    python install.py                  # copy the extension into Inkscape's extensions folder
    python install.py --check          # what is installed, does Inkscape see it, backend up?
    python install.py --uninstall      # remove exactly what the last install put there
    python install.py --backend        # also `pip install -e .` this repository (the backend)
    python install.py --zip DIR        # write a zip to unzip into Inkscape's extensions folder

The extension needs the `requests` package in the Python that Inkscape runs extensions with
(on Debian/Ubuntu that is /usr/bin/python3, often without it). When that Python lacks it, a
copy of requests and its dependencies is taken from the Python running this script and put
beside the extension in `sketchify_vendor/`, so nothing in Inkscape's own Python changes.
Everything installed is listed in `sketchify_manifest.json` in the extensions folder.
The zip holds the same files in a `sketchify/` folder with requests always bundled (pure
Python only, so one zip serves every system). Only the standard library is used here, so any
Python 3.8+ can run it; run it with the Python Sketchify is installed in, which has requests
to copy. A later run by a Python without requests keeps the copy an earlier run made.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from xml.etree import ElementTree

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "inkscape_ext"
MANIFEST = "sketchify_manifest.json"
VENDOR = "sketchify_vendor"
PACKAGE = "sketchify_ink"  # the modules the entry scripts share
DEFAULT_BACKEND = "http://127.0.0.1:8765"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="report what is installed")
    mode.add_argument("--uninstall", action="store_true", help="remove what was installed")
    mode.add_argument("--zip", type=Path, metavar="DIR",
                      help="write a zip for installing by hand into DIR (nothing is installed)")
    parser.add_argument("--extensions-dir", type=Path,
                        help="Inkscape's user extensions folder (found automatically)")
    parser.add_argument("--python", help="the Python Inkscape runs extensions with "
                        "(found automatically)")
    parser.add_argument("--backend", action="store_true",
                        help="also install the Sketchify backend (pip install -e this repo)")
    parser.add_argument("--backend-url", default=DEFAULT_BACKEND,
                        help=f"backend to ask in --check (default {DEFAULT_BACKEND})")
    parser.add_argument("--token", default=os.environ.get("SKETCHIFY_TOKEN", ""),
                        help="the backend's bearer token for --check (default: the "
                        "SKETCHIFY_TOKEN environment variable)")
    args = parser.parse_args(argv)
    if args.zip:
        return write_zip(args.zip)
    inkscape = shutil.which("inkscape")
    folder = (args.extensions_dir or extensions_dir(inkscape)).expanduser().resolve()
    if args.uninstall:
        return uninstall(folder)
    if args.check:
        return check(folder, inkscape, args)
    status = install(folder, inkscape, args.python)
    if status == 0 and args.backend:
        status = install_backend()
    return status


def extensions_dir(inkscape: str | None) -> Path:
    """Where Inkscape looks for the user's extensions."""
    if inkscape:
        answer = _run([inkscape, "--user-data-directory"])
        lines = answer.stdout.strip().splitlines() if answer and answer.returncode == 0 else []
        if lines and Path(lines[-1]).is_absolute():
            return Path(lines[-1]) / "extensions"
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA", Path.home())) / "inkscape" / "extensions"
    if sys.platform == "darwin":
        return (Path.home() / "Library" / "Application Support" / "org.inkscape.Inkscape"
                / "config" / "inkscape" / "extensions")
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "inkscape" / "extensions"


def inkscape_python(folder: Path, inkscape: str | None, override: str | None) -> str | None:
    """The Python Inkscape runs extensions with: its preference if set, else `python3` looked
    up the way Inkscape does (its own folder first: on Linux that is /usr/bin/python3)."""
    if override:
        return override
    prefs = folder.parent / "preferences.xml"
    if prefs.is_file():
        try:
            for group in ElementTree.parse(prefs).getroot().iter("group"):
                if group.get("id") == "extensions" and group.get("python-interpreter"):
                    return group.get("python-interpreter")
        except ElementTree.ParseError:
            pass
    name = "python.exe" if sys.platform == "win32" else "python3"
    search = [str(Path(inkscape).resolve().parent)] if inkscape else []
    if inkscape and sys.platform == "darwin":  # Inkscape.app/Contents/MacOS/inkscape
        search.append(str(Path(inkscape).resolve().parents[1] / "Resources" / "bin"))
    search.append(os.environ.get("PATH", ""))
    return shutil.which(name, path=os.pathsep.join(search))


def has_requests(python: str, vendor: Path | None) -> bool:
    code = "import sys\nif sys.argv[1]: sys.path.append(sys.argv[1])\nimport requests"
    answer = _run([python, "-c", code, str(vendor or "")])
    return answer is not None and answer.returncode == 0


def install(folder: Path, inkscape: str | None, override: str | None) -> int:
    old = read_manifest(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for name in extension_files():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(SOURCE / name, folder / name)
        files.append(name)
    print(f"Installed the Sketchify extension into {folder}")
    python = inkscape_python(folder, inkscape, override)
    status = 0
    vendor = folder / VENDOR
    if python is None:
        print("! Inkscape's Python was not found; if the extension reports that 'requests' "
              "is missing, rerun with --python PATH_TO_INKSCAPES_PYTHON.")
    elif has_requests(python, None):
        print(f"requests: already importable by Inkscape's Python ({python})")
    else:
        vendored = [f for f in old if f.startswith(VENDOR + "/")]
        supply = requests_files()
        if supply:
            _remove(folder, vendored)
            files += [f"{VENDOR}/{f}" for f in vendor_requests(vendor, supply)]
        else:  # this Python has no requests to copy: keep the copy an earlier install made
            files += vendored
        if has_requests(python, vendor):
            print(f"requests: {'copied into' if supply else 'kept in'} {vendor} for Inkscape's "
                  f"Python ({python})")
        else:
            status = 1
            print(f"! requests could not be made importable by {python}: the Python running "
                  f"this script ({sys.executable}) has no requests to copy. Run it with the "
                  "Python Sketchify is installed in (its virtual environment's python3), or "
                  "install your system's python3-requests package.")
    _remove(folder, [f for f in old if f not in files])
    write_manifest(folder, files, python)
    print(f"Restart Inkscape, then use Extensions > Sketchify > Sketchify image… "
          f"(the backend: `sketchify serve`, default {DEFAULT_BACKEND}).")
    return status


def extension_files() -> list[str]:
    """The extension's files by their names under ``SOURCE``: the entry scripts and their
    ``.inx`` files at the top (where Inkscape looks), the modules they share in ``PACKAGE``."""
    top = [p.name for p in SOURCE.iterdir() if p.suffix in (".inx", ".py")]
    shared = [f"{PACKAGE}/{p.name}" for p in (SOURCE / PACKAGE).iterdir() if p.suffix == ".py"]
    return sorted(top + shared)


def vendor_requests(target: Path, supply: list[tuple[Path, str]]) -> list[str]:
    """Copy ``supply`` (``requests_files()``) into ``target``."""
    copied = []
    for source, name in supply:
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
        copied.append(name)
    return copied


def requests_files() -> list[tuple[Path, str]]:
    """requests and everything it needs, as installed in this Python: (file, relative name)."""
    wanted, seen, found = ["requests"], set(), []
    while wanted:
        name = wanted.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            if name == "requests":
                return found  # nothing to copy: the caller reports the fix
            continue
        for requirement in dist.requires or []:
            if "extra ==" not in requirement:
                wanted.append(re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0))
        for file in dist.files or []:
            parts = Path(file).parts
            if ".." in parts or "__pycache__" in parts or file.suffix == ".pyc":
                continue
            found.append((Path(dist.locate_file(file)), Path(file).as_posix()))
    return found


def write_zip(folder: Path) -> int:
    """``sketchify-inkscape-VERSION.zip`` in ``folder``: the extension in a ``sketchify/``
    folder with requests bundled. Compiled modules are left out: charset_normalizer (a
    dependency of requests) falls back to pure Python, so the zip works on any system."""
    version = re.search(r'^version\s*=\s*"([^"]+)"', (HERE / "pyproject.toml").read_text(
        encoding="utf-8"), re.M)
    target = folder.expanduser().resolve() / (
        f"sketchify-inkscape-{version.group(1) if version else 'dev'}.zip")
    vendored = [(source, name) for source, name in requests_files()
                if Path(name).suffix not in (".so", ".pyd", ".dylib")]
    if not vendored:
        print("! requests is not installed in this Python, so it cannot be bundled: "
              f"{sys.executable} -m pip install requests, then run this again.")
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in extension_files():
            archive.write(SOURCE / name, f"sketchify/{name}")
        for source, name in vendored:
            archive.write(source, f"sketchify/{VENDOR}/{name}")
    partial.replace(target)
    print(f"Wrote {target}")
    print("Unzip it into Inkscape's user extensions folder (Inkscape: Edit > Preferences > "
          "System > User extensions), restart Inkscape, then use Extensions > Sketchify.")
    return 0


def install_backend() -> int:
    print(f"Installing the Sketchify backend: pip install -e {HERE}")
    return subprocess.call([sys.executable, "-m", "pip", "install", "-e", str(HERE)])


def uninstall(folder: Path) -> int:
    files = read_manifest(folder)
    if not (folder / MANIFEST).is_file():
        print(f"Nothing to remove: no Sketchify install in {folder}")
        return 0
    _remove(folder, files)
    (folder / MANIFEST).unlink()
    print(f"Removed the Sketchify extension ({len(files)} files) from {folder}")
    return 0


def check(folder: Path, inkscape: str | None, args: argparse.Namespace) -> int:
    ok = True
    files = read_manifest(folder)
    missing = [f for f in files if not (folder / f).is_file()]
    if not files:
        ok = False
        print(f"extension: not installed in {folder} (run `python install.py`)")
    elif missing:
        ok = False
        print(f"extension: installed in {folder}, but {len(missing)} files are missing "
              f"(e.g. {missing[0]}); run `python install.py` again")
    else:
        print(f"extension: installed in {folder} ({len(files)} files)")
    version = _run([inkscape, "--version"]) if inkscape else None
    if version is None or version.returncode != 0:
        print("inkscape: not found on PATH")
    else:
        print(f"inkscape: {version.stdout.strip().splitlines()[0]}")
        expected = extensions_dir(inkscape).resolve()
        seen = expected == folder and (folder / "sketchify_image.inx").is_file()
        ok = ok and seen
        print(f"inkscape sees it: {'yes' if seen else 'no'}"
              + ("" if expected == folder else f" (Inkscape reads extensions from {expected})"))
    python = inkscape_python(folder, inkscape, args.python)
    importable = python is not None and has_requests(python, folder / VENDOR)
    ok = ok and importable
    print(f"requests: {'importable' if importable else 'NOT importable'} by Inkscape's Python "
          f"({python or 'not found'})")
    print(f"backend: {backend_health(args.backend_url, args.token)}")
    return 0 if ok else 1


def backend_health(url: str, token: str = "") -> str:
    request = urllib.request.Request(url.rstrip("/") + "/v1/health")
    if token.strip():
        request.add_header("Authorization", f"Bearer {token.strip()}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            health = json.loads(response.read().decode())
    except urllib.error.HTTPError as err:
        if err.code == 401:
            return (f"answers at {url}, but needs a token"
                    + (" (the one given was refused)" if token.strip() else "")
                    + ": pass --token or set SKETCHIFY_TOKEN")
        return f"answers at {url} with HTTP {err.code}; is it a Sketchify backend?"
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        return (f"not answering at {url} ({reason}); start it with `sketchify serve`")
    details = [f"version {health['version']}"] if "version" in health else []
    if health.get("devices"):
        details.append("devices " + ", ".join(map(str, health["devices"])))
    return f"answers at {url}" + (f" ({'; '.join(details)})" if details else "")


def read_manifest(folder: Path) -> list[str]:
    try:
        return list(json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return []


def write_manifest(folder: Path, files: list[str], python: str | None) -> None:
    body = {"files": sorted(set(files)), "python": python, "source": str(HERE)}
    (folder / MANIFEST).write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")


def _remove(folder: Path, files: list[str]) -> None:
    """Delete the listed files (never anything outside ``folder``) and the bytecode Python
    cached for the modules among them (Inkscape's Python writes it beside them), then any
    folders that this left empty."""
    emptied = set()
    for name in files:
        path = (folder / name).resolve()
        if folder not in path.parents:
            continue
        cached = path.parent / "__pycache__"
        for stale in [path, *(cached.glob(f"{path.stem}.*.pyc") if path.suffix == ".py" else ())]:
            if stale.is_file():
                stale.unlink()
        emptied.update(p for p in (cached, *path.parents) if folder in p.parents)
    for directory in sorted(emptied, key=lambda p: len(p.parts), reverse=True):
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()


def _run(command: list[str], timeout: float = 60) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None


if __name__ == "__main__":
    sys.exit(main())
