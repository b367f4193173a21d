"""End to end in a real Inkscape under Xvfb: install.py into a temporary profile, a real
`sketchify serve` with tiny random-weight models on 127.0.0.1, the extension's action run on
a document with two images (one linked by a relative path, one embedded), and the saved
document checked. A second run with no backend leaves the document unchanged.

Inkscape runs extensions with its own Python (on Debian /usr/bin/python3), so this also
checks that install.py makes `requests` importable there."""

from __future__ import annotations

import base64
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import inkex
import pytest
from extension_fixtures import xvfb_run
from tiny_models import make_tiny_models

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
INKSCAPE = shutil.which("inkscape") or "/usr/bin/inkscape"
SVG = "{http://www.w3.org/2000/svg}"
LABEL = "{http://www.inkscape.org/namespaces/inkscape}label"
COUNTS = (4, 8)


def sketchify_command() -> list[str]:
    script = Path(sys.executable).with_name("sketchify")
    found = str(script) if script.exists() else shutil.which("sketchify")
    assert found, "the `sketchify` command is not installed (pip install -e .)"
    return [found]


@pytest.fixture(scope="module")
def backend_url(tmp_path_factory):
    work = tmp_path_factory.mktemp("backend")
    models = make_tiny_models(work / "models")
    server = subprocess.Popen(
        [*sketchify_command(), "serve", "--port", "0", "--data-dir", str(work / "data"),
         "--device", "cpu", "--loss-model", str(models.loss_config),
         "--loss-weights", str(models.loss_weights),
         "--saliency-model", str(models.saliency_config),
         "--saliency-weights", str(models.saliency_weights)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in server.stdout],
                     daemon=True).start()
    seen, deadline = [], time.monotonic() + 180
    try:
        while True:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"sketchify serve did not start: {''.join(seen)}")
                continue
            seen.append(line)
            match = re.search(r"serving on (http://\S+)", line)
            if match:
                break
        yield match.group(1)
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    """A fresh Inkscape profile with the extension installed by install.py."""
    folder = tmp_path_factory.mktemp("inkscape-profile")
    env = {**os.environ, "INKSCAPE_PROFILE_DIR": str(folder)}
    result = subprocess.run(
        [sys.executable, str(ROOT / "install.py"), "--extensions-dir",
         str(folder / "extensions")], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return folder


def preferences(profile: Path, url: str, timeout: int = 240) -> None:
    """The extension's parameters, as the dialog would have saved them."""
    values = {"url": url, "timeout": timeout, "preset": "draft", "steps": 10, "seed": 3,
              "strokes_16": "false", **{f"strokes_{n}": "true" for n in COUNTS}}
    attrs = " ".join(f'org.sketchify.image.{key}="{value}"' for key, value in values.items())
    (profile / "preferences.xml").write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<inkscape version="1">\n'
        f'  <group id="extensions" {attrs} />\n</inkscape>\n', encoding="utf-8")


def write_document(folder: Path) -> Path:
    """A mm document: a linked photo (relative href) rotated in a translated layer, and an
    embedded photo letterboxed into a wide box."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLES / "astronaut.jpg", folder / "astronaut.jpg")
    embedded = base64.b64encode((EXAMPLES / "cat.jpg").read_bytes()).decode()
    path = folder / "drawing.svg"
    path.write_text(f"""<svg xmlns="http://www.w3.org/2000/svg"
     xmlns:xlink="http://www.w3.org/1999/xlink"
     xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape"
     width="297mm" height="210mm" viewBox="0 0 297 210">
  <g id="photos" inkscape:groupmode="layer" inkscape:label="Photos"
     transform="translate(20,15)">
    <image id="astro" xlink:href="astronaut.jpg" x="10" y="10" width="100" height="100"
           transform="rotate(10)"/>
    <image id="cat" xlink:href="data:image/jpeg;base64,{embedded}" x="130" y="20"
           width="120" height="60" preserveAspectRatio="xMidYMid meet"
           inkscape:label="cat"/>
  </g>
</svg>
""", encoding="utf-8")
    return path


def run_inkscape(profile: Path, document: Path, output: Path) -> tuple[int, int, str]:
    """Run the extension on the images and save: the exit code, the dialogs closed and the
    driver's log of the windows it saw."""
    actions = (f"select-by-id:astro,cat;org.sketchify.image.noprefs;"
               f"export-filename:{output};export-do")
    env = {**os.environ, "INKSCAPE_PROFILE_DIR": str(profile)}
    for _attempt in range(2):
        result = subprocess.run(
            ["timeout", "400", *xvfb_run(), sys.executable,
             str(ROOT / "tests" / "inkscape_driver.py"),
             INKSCAPE, "--batch-process", f"--actions={actions}", str(document)],
            env=env, capture_output=True, text=True, timeout=450,
        )
        # An X server that died under us is the machine's hiccup, not the extension's.
        if "No GUI available" not in result.stdout:
            break
    assert result.returncode != 124, f"Inkscape hung: {result.stdout}"
    closed = re.search(r"DIALOGS (\d+)", result.stdout)
    assert closed, result.stdout + result.stderr
    return result.returncode, int(closed.group(1)), result.stdout


def image_box(root, ident: str, grow: float = 0.10) -> tuple[float, float, float, float]:
    """The image element's box in root user units (bounding box of its transformed corners),
    grown by ``grow`` of its size on every side."""
    image = root.getElementById(ident)
    transform = image.composed_transform()
    x, y = float(image.get("x")), float(image.get("y"))
    w, h = float(image.get("width")), float(image.get("height"))
    corners = [transform.apply_to_point((x + dx, y + dy)) for dx in (0, w) for dy in (0, h)]
    xs, ys = [c.x for c in corners], [c.y for c in corners]
    dx, dy = (max(xs) - min(xs)) * grow, (max(ys) - min(ys)) * grow
    return min(xs) - dx, min(ys) - dy, max(xs) + dx, max(ys) + dy


def test_sketch_layers_in_real_inkscape(backend_url, profile, tmp_path):
    preferences(profile, backend_url)
    document = write_document(tmp_path / "doc")
    output = tmp_path / "out.svg"
    code, dialogs, log = run_inkscape(profile, document, output)
    assert (code, dialogs) == (0, 0), f"the extension reported an error: {log}"
    root = inkex.load_svg(str(output)).getroot()
    layers = {g.get(LABEL): g for g in root.iterchildren(f"{SVG}g")}
    expected = {f"Sketch · {n} strokes · {name}": (n, ident)
                for n in COUNTS for name, ident in (("astronaut.jpg", "astro"), ("cat", "cat"))}
    assert set(expected) <= set(layers), sorted(layers)
    assert len(layers) == len(expected) + 1  # the photo layer + one per count and image
    for label, (count, ident) in expected.items():
        layer = layers[label]
        assert layer.get("{http://www.inkscape.org/namespaces/inkscape}groupmode") == "layer"
        paths = list(layer.iter(f"{SVG}path"))
        assert len(paths) == count, label
        left, top, right, bottom = image_box(root, ident)
        for path in paths:
            d = path.get("d")
            assert re.fullmatch(r"M[\d\s.,-]+C[\d\s.,-]+", d), d  # plain absolute cubics
            box = inkex.Path(d).bounding_box()
            assert left <= box.left and box.right <= right, (label, box, left, right)
            assert top <= box.top and box.bottom <= bottom, (label, box, top, bottom)
            assert float(path.style["stroke-width"]) > 0


def test_unreachable_backend_leaves_the_document_unchanged(profile, tmp_path):
    preferences(profile, "http://127.0.0.1:9")  # nothing listens on the discard port
    document = write_document(tmp_path / "doc")
    output = tmp_path / "out.svg"
    code, dialogs, log = run_inkscape(profile, document, output)
    assert dialogs == 1, f"Inkscape should have shown the extension's one message: {log}"
    assert code == 0
    saved = inkex.load_svg(str(output)).getroot()
    original = inkex.load_svg(str(document)).getroot()
    assert drawn(saved) == drawn(original)
    for ident in ("astro", "cat"):
        before, after = original.getElementById(ident), saved.getElementById(ident)
        for key in ("x", "y", "width", "height", "transform", "preserveAspectRatio"):
            assert before.get(key) == after.get(key)


def drawn(root) -> list[tuple[str, str | None, str | None]]:
    """Layers, groups, images and paths in document order (Inkscape adds its own metadata
    and rebases links when saving elsewhere; neither is a change to the drawing)."""
    kinds = {f"{SVG}{tag}" for tag in ("g", "image", "path", "rect")}
    return [(el.tag, el.get("id"), el.get(LABEL)) for el in root.iter() if el.tag in kinds]
