"""End to end in a real Inkscape under Xvfb, against a real `sketchify serve` (tiny
random-weight models, a token, on 127.0.0.1):

- "Sketchify image…" waiting, on a document with two images (one linked by a relative path,
  one embedded), from a profile install.py filled;
- with "wait" off (from a profile filled from `install.py --zip`): it returns at once with
  placeholders; the backend is killed mid-job and restarted; the photo is moved in the saved
  document; "Update sketches" on the reopened document puts the strokes on the photo where it
  is now (within 0.05 mm), marks the job the restart failed, and a second update changes
  nothing;
- a path mask (every stroke starts inside the drawn outline);
- no backend: one message, the document unchanged.

Inkscape runs extensions with its own Python (on Debian /usr/bin/python3, without requests),
so this also checks that install.py and its zip make `requests` importable there. Every
Inkscape run is slow (seconds), so each checks as much as it can."""

from __future__ import annotations

import base64
import json
import math
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import inkex
import pytest
import requests
from extension_fixtures import xvfb_run
from lxml import etree
from tiny_models import make_tiny_models

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
INKSCAPE = shutil.which("inkscape") or "/usr/bin/inkscape"
SVG = "{http://www.w3.org/2000/svg}"
INKSCAPE_NS = "{http://www.inkscape.org/namespaces/inkscape}"
LABEL = f"{INKSCAPE_NS}label"
SKETCHIFY = "{urn:sketchify-clipasso:inkscape}"
COUNTS = (4, 8)
TOKEN = "e2e-token"
CAT_PIXELS = (451, 300)  # examples/cat.jpg


def sketchify_command() -> list[str]:
    script = Path(sys.executable).with_name("sketchify")
    found = str(script) if script.exists() else shutil.which("sketchify")
    assert found, "the `sketchify` command is not installed (pip install -e .)"
    return [found]


class Server:
    """`sketchify serve` on one port that survives a restart, with its data folder; a job
    interrupted by a crash is failed at once (one attempt) rather than run again."""

    def __init__(self, work: Path) -> None:
        self.models = make_tiny_models(work / "models")
        self.data = work / "data"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        models = self.models
        self.process = subprocess.Popen(
            [*sketchify_command(), "serve", "--port", str(self.port), "--data-dir",
             str(self.data), "--device", "cpu", "--token", TOKEN, "--max-attempts", "1",
             "--loss-model", str(models.loss_config), "--loss-weights",
             str(models.loss_weights), "--saliency-model", str(models.saliency_config),
             "--saliency-weights", str(models.saliency_weights)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.process.stdout],
                         daemon=True).start()
        seen, deadline = [], time.monotonic() + 180
        while True:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"sketchify serve did not start: {''.join(seen)}")
                continue
            seen.append(line)
            if "serving on" in line:
                return

    def crash(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)

    def get(self, path: str) -> requests.Response:
        response = requests.get(self.url + path, timeout=30,
                                headers={"Authorization": f"Bearer {TOKEN}"})
        response.raise_for_status()
        return response

    def job(self, job_id: str) -> dict:
        return self.get(f"/v1/sketches/{job_id}").json()

    def wait_until(self, job_id: str, statuses: tuple[str, ...], timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            state = self.job(job_id)
            if state["status"] in statuses:
                return state
            assert time.monotonic() < deadline, f"job {job_id} still {state['status']}"
            time.sleep(0.2)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    backend = Server(tmp_path_factory.mktemp("backend"))
    yield backend
    backend.stop()


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


@pytest.fixture(scope="module")
def zip_profile(tmp_path_factory):
    """A fresh Inkscape profile with the extension unzipped by hand from `install.py --zip`."""
    folder = tmp_path_factory.mktemp("inkscape-zip-profile")
    made = subprocess.run([sys.executable, str(ROOT / "install.py"), "--zip", str(folder)],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stdout + made.stderr
    (archive,) = folder.glob("*.zip")
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(folder / "extensions")
    return folder


def preferences(profile: Path, url: str, timeout: int = 240, again: dict | None = None,
                **image) -> None:
    """The extensions' parameters, as their dialogs would have saved them."""
    values = {"url": url, "token": TOKEN, "timeout": timeout, "preset": "draft", "steps": 10,
              "seed": 3, "strokes_16": "false", **{f"strokes_{n}": "true" for n in COUNTS},
              **image}
    attrs = [f'org.sketchify.image.{key}="{value}"' for key, value in values.items()]
    attrs += [f'org.sketchify.update.{key}="{value}"' for key, value in
              (("url", url), ("token", TOKEN))]
    attrs += [f'org.sketchify.again.{key}="{value}"' for key, value in
              {"url": url, "token": TOKEN, "timeout": timeout, **(again or {})}.items()]
    (profile / "preferences.xml").write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<inkscape version="1">\n'
        f'  <group id="extensions" {" ".join(attrs)} />\n</inkscape>\n', encoding="utf-8")


def write_document(folder: Path, extra: str = "") -> Path:
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
  </g>{extra}
</svg>
""", encoding="utf-8")
    return path


def run_inkscape(profile: Path, document: Path, output: Path, select: str = "astro,cat",
                 action: str = "org.sketchify.image") -> tuple[int, int, str]:
    """Run an extension on the selection and save: the exit code, the dialogs closed and the
    driver's log of the windows it saw."""
    actions = (f"select-by-id:{select};" if select else "") + (
        f"{action}.noprefs;export-filename:{output};export-do")
    env = {**os.environ, "INKSCAPE_PROFILE_DIR": str(profile)}
    for attempt in range(3):
        if attempt:
            time.sleep(2)
        result = subprocess.run(
            ["timeout", "400", *xvfb_run(), sys.executable,
             str(ROOT / "tests" / "extension" / "helpers" / "inkscape_driver.py"),
             INKSCAPE, "--batch-process", f"--actions={actions}", str(document)],
            env=env, capture_output=True, text=True, timeout=450,
        )
        # An X server that died under us is the machine's hiccup, not the extension's; but
        # without one Inkscape skips the extension and saves the document unchanged, so it
        # must never pass for a run.
        if "No GUI available" not in result.stdout:
            break
    assert "No GUI available" not in result.stdout, f"no X display, 3 tries: {result.stdout}"
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


def sketch_layers(root) -> dict[str, etree._Element]:
    return {g.get(LABEL): g for g in root.iterchildren(f"{SVG}g")
            if " strokes · " in (g.get(LABEL) or "")}


def visible(element) -> bool:
    return "display:none" not in (element.get("style") or "").replace(" ", "")


def curve_points(d: str) -> list[tuple[float, float]]:
    values = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", d)]
    return list(zip(values[0::2], values[1::2], strict=True))


def test_sketch_layers_in_real_inkscape(server, profile, tmp_path):
    preferences(profile, server.url)
    document = write_document(tmp_path / "doc")
    output = tmp_path / "out.svg"
    code, dialogs, log = run_inkscape(profile, document, output)
    assert (code, dialogs) == (0, 0), f"the extension reported an error: {log}"
    root = inkex.load_svg(str(output)).getroot()
    layers = {g.get(LABEL): g for g in root.iterchildren(f"{SVG}g")}
    expected = {f"{n} strokes · {name}": (n, ident)
                for n in COUNTS for name, ident in (("astronaut.jpg", "astro"), ("cat", "cat"))}
    assert set(expected) <= set(layers), sorted(layers)
    assert len(layers) == len(expected) + 1  # the photo layer + one per count and image
    for label, (count, ident) in expected.items():
        layer = layers[label]
        assert layer.get(f"{INKSCAPE_NS}groupmode") == "layer"
        assert visible(layer) == (count == max(COUNTS)), label  # only the largest shows
        (metadata,) = layer.iterchildren(f"{SVG}metadata")
        assert json.loads(metadata.text)["strokes"] == count
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


def test_wait_off_then_update_sketches_in_real_inkscape(server, zip_profile, tmp_path):
    # The astronaut's job is long (the crash below interrupts it); the cat's is short, and
    # queued behind it on the backend's one worker.
    preferences(zip_profile, server.url, wait="false", preset="standard", steps=2000)
    first = tmp_path / "first.svg"
    code, dialogs, log = run_inkscape(zip_profile, write_document(tmp_path / "doc"), first,
                                      select="astro")
    assert (code, dialogs) == (0, 0), log
    preferences(zip_profile, server.url, wait="false", steps=10)
    started = tmp_path / "started.svg"
    code, dialogs, log = run_inkscape(zip_profile, first, started, select="cat")
    assert (code, dialogs) == (0, 0), log

    # Returned at once: placeholders saved while both jobs are still on the backend.
    saved = started.read_bytes()
    assert TOKEN.encode() not in saved, "the token must never enter the document"
    placeholders = sketch_layers(inkex.load_svg(str(started)).getroot())
    assert len(placeholders) == 2 * len(COUNTS), sorted(placeholders)
    jobs = {}
    for label, layer in placeholders.items():
        assert re.fullmatch(r"\d+ strokes · (astronaut\.jpg|cat) · (queued|running \d+ %)",
                            label), label
        assert list(layer.iter(f"{SVG}path")) == []
        assert layer.get(f"{SKETCHIFY}url") == server.url
        assert visible(layer) == (int(label.split()[0]) == max(COUNTS)), label
        jobs[layer.get(f"{SKETCHIFY}image")] = layer.get(f"{SKETCHIFY}job")
    assert server.job(jobs["cat"])["status"] == "queued"
    server.wait_until(jobs["astro"], ("running",), timeout=60)

    # The backend dies mid-job and comes back: the interrupted job fails, the next runs.
    server.crash()
    server.start()
    failed = server.wait_until(jobs["astro"], ("failed",), timeout=30)
    server.wait_until(jobs["cat"], ("done",), timeout=180)

    # The photo moves in the saved document; the user shows the hidden 4-stroke layer.
    moved = tmp_path / "moved.svg"
    tree = etree.parse(str(started))
    tree.find(f".//{SVG}image[@id='cat']").set("x", "151.5")
    hidden = next(g for g in tree.getroot().iterchildren(f"{SVG}g")
                  if g.get(f"{SKETCHIFY}image") == "cat" and not visible(g))
    hidden.set("style", "display:inline")
    tree.write(str(moved))

    updated = tmp_path / "updated.svg"
    code, dialogs, log = run_inkscape(zip_profile, moved, updated, select="",
                                      action="org.sketchify.update")
    assert (code, dialogs) == (0, 0), log
    root = inkex.load_svg(str(updated)).getroot()
    layers = sketch_layers(root)
    reason = failed["error"]
    assert set(layers) == {*(f"{n} strokes · cat" for n in COUNTS),
                           *(f"{n} strokes · astronaut.jpg · failed: {reason}"
                             for n in COUNTS)}, sorted(layers)
    # The cat is now at x = 151.5 (+ the layer's 20): 451x300 px fit into 120x60 mm, xMidYMid.
    scale = min(120 / CAT_PIXELS[0], 60 / CAT_PIXELS[1])
    left = 20 + 151.5 + (120 - CAT_PIXELS[0] * scale) / 2
    top = 15 + 20 + (60 - CAT_PIXELS[1] * scale) / 2
    for count in COUNTS:
        layer = layers[f"{count} strokes · cat"]
        assert visible(layer), "an update never changes visibility"
        source = etree.fromstring(server.get(
            f"/v1/sketches/{jobs['cat']}/svg?strokes={count}").content)
        sources = [p.get("d") for p in source.iter(f"{SVG}path")]
        placed = [p.get("d") for p in layer.iter(f"{SVG}path")]
        assert len(placed) == len(sources) == count
        for got, sent in zip(placed, sources, strict=True):
            for (gx, gy), (px, py) in zip(curve_points(got), curve_points(sent), strict=True):
                assert math.hypot(gx - (left + px * scale), gy - (top + py * scale)) < 0.05
        (metadata,) = layer.iterchildren(f"{SVG}metadata")
        assert json.loads(metadata.text)["strokes"] == count
    for count in COUNTS:
        layer = layers[f"{count} strokes · astronaut.jpg · failed: {reason}"]
        assert list(layer.iter(f"{SVG}path")) == []
        assert layer.get(f"{SKETCHIFY}status") == "failed"

    # A second update: one message ("nothing to update"), the drawing as it was.
    again = tmp_path / "again.svg"
    code, dialogs, log = run_inkscape(zip_profile, updated, again, select="",
                                      action="org.sketchify.update")
    assert (code, dialogs) == (0, 1), log
    assert drawing(inkex.load_svg(str(again)).getroot()) == drawing(root)


def test_path_mask_in_real_inkscape(server, profile, tmp_path):
    # A closed outline over the cat's middle, in a layer of its own with its own transform.
    outline = [(40, 10), (80, 14), (76, 50), (36, 44)]
    d = "M " + " L ".join(f"{x} {y}" for x, y in outline) + " Z"
    extra = ('\n  <g id="ink" inkscape:groupmode="layer" transform="translate(110,20)">'
             f'<path id="outline" d="{d}" style="fill:none;stroke:#f00"/></g>')
    steps = 1
    preferences(profile, server.url, steps=steps, strokes_8="false")
    document = write_document(tmp_path / "doc", extra)
    output = tmp_path / "out.svg"
    code, dialogs, log = run_inkscape(profile, document, output, select="cat,outline")
    assert (code, dialogs) == (0, 0), f"the extension reported an error: {log}"
    root = inkex.load_svg(str(output)).getroot()
    (layer,) = sketch_layers(root).values()
    polygon = [(110 + x, 20 + y) for x, y in outline]
    # Optimization moves a start point up to lr (1 canvas px) per step and axis; the canvas
    # is the photo's long side in 224 px, each photo pixel `scale` mm.
    scale = min(120 / CAT_PIXELS[0], 60 / CAT_PIXELS[1])
    slack = steps * math.sqrt(2) * max(CAT_PIXELS) / 224 * scale
    paths = list(layer.iter(f"{SVG}path"))
    assert len(paths) == 4
    for path in paths:
        start = curve_points(path.get("d"))[0]
        assert inside_or_near(start, polygon, slack), (start, polygon, slack)


def inside_or_near(point, polygon, slack: float) -> bool:
    x, y = point
    inside = False
    for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside or min(_distance(point, a, b) for a, b in
                         zip(polygon, polygon[1:] + polygon[:1], strict=True)) <= slack


def _distance(p, a, b) -> float:
    (px, py), (ax, ay), (bx, by) = p, a, b
    t = max(0.0, min(1.0, ((px - ax) * (bx - ax) + (py - ay) * (by - ay))
                     / ((bx - ax) ** 2 + (by - ay) ** 2)))
    return math.hypot(px - ax - t * (bx - ax), py - ay - t * (by - ay))


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


def drawing(root) -> list[bytes]:
    """Every layer, to the byte."""
    return [etree.tostring(g) for g in root.iterchildren(f"{SVG}g")]


def plotted_curves(layer) -> list[list[tuple[float, float]]]:
    return [curve_points(p.get("d")) for p in layer.iter(f"{SVG}path")]


def pen_travel(curves: list[list[tuple[float, float]]], origin: tuple[float, float]) -> float:
    total, here = 0.0, origin
    for points in curves:
        total += math.dist(here, points[0])
        here = points[-1]
    return total


def check_plot_layer(editable, plot, pen: float, corner: tuple[float, float]) -> None:
    """The plot layer holds the editable layer's strokes (each maybe drawn backwards), every
    one the pen's width, in an order with no more pen-up travel from the image's corner."""
    assert not visible(plot) and plot.get(f"{INKSCAPE_NS}groupmode") == "layer"
    sketch, ordered = plotted_curves(editable), plotted_curves(plot)
    assert len(ordered) == len(sketch) > 0
    for curve in ordered:
        assert any(len(curve) == len(other) and (
            all(math.dist(a, b) < 0.01 for a, b in zip(curve, other, strict=True))
            or all(math.dist(a, b) < 0.01 for a, b in zip(curve[::-1], other, strict=True)))
            for other in sketch), curve
    widths = [float(p.style["stroke-width"]) for p in plot.iter(f"{SVG}path")]
    assert widths == [pytest.approx(pen, abs=1e-6)] * len(widths)
    assert pen_travel(ordered, corner) <= pen_travel(sketch, corner) + 1e-6


def test_plot_ready_layers_waiting_and_after_update_in_real_inkscape(server, profile,
                                                                    tmp_path):
    # The cat: 451 x 300 px fit into 120 x 60 mm (xMidYMid), in a layer moved by (20, 15).
    scale = min(120 / CAT_PIXELS[0], 60 / CAT_PIXELS[1])
    corner = (20 + 130 + (120 - CAT_PIXELS[0] * scale) / 2, 15 + 20)
    preferences(profile, server.url, steps=2, strokes_8="false", plot="true", pen="0.7")
    output = tmp_path / "out.svg"
    code, dialogs, log = run_inkscape(profile, write_document(tmp_path / "doc"), output,
                                      select="cat")
    assert (code, dialogs) == (0, 0), log
    layers = sketch_layers(inkex.load_svg(str(output)).getroot())
    assert set(layers) == {"4 strokes · cat", "4 strokes · cat · plot 0.7 mm"}, sorted(layers)
    assert visible(layers["4 strokes · cat"])  # the editable sketch, as without the option
    check_plot_layer(layers["4 strokes · cat"], layers["4 strokes · cat · plot 0.7 mm"], 0.7,
                     corner)
    (metadata,) = layers["4 strokes · cat · plot 0.7 mm"].iterchildren(f"{SVG}metadata")
    assert json.loads(metadata.text)["plot"] == {"size_mm": pytest.approx(CAT_PIXELS[0] * scale,
                                                                          abs=1e-3),
                                                 "pen_mm": 0.7, "margin_mm": 0.0}

    # Wait off: a placeholder for each layer, the plot one recording its settings.
    preferences(profile, server.url, steps=2, strokes_8="false", plot="true", pen="0.3",
                wait="false")
    started = tmp_path / "started.svg"
    code, dialogs, log = run_inkscape(profile, write_document(tmp_path / "doc2"), started,
                                      select="cat")
    assert (code, dialogs) == (0, 0), log
    placeholders = sketch_layers(inkex.load_svg(str(started)).getroot())
    plot = next(layer for label, layer in placeholders.items() if "plot 0.3 mm" in label)
    assert json.loads(plot.get(f"{SKETCHIFY}plot"))["pen_mm"] == 0.3
    assert plot.get(f"{SKETCHIFY}format") == "2"
    server.wait_until(plot.get(f"{SKETCHIFY}job"), ("done",), timeout=180)
    updated = tmp_path / "updated.svg"
    code, dialogs, log = run_inkscape(profile, started, updated, select="",
                                      action="org.sketchify.update")
    assert (code, dialogs) == (0, 0), log
    layers = sketch_layers(inkex.load_svg(str(updated)).getroot())
    assert set(layers) == {"4 strokes · cat", "4 strokes · cat · plot 0.3 mm"}, (
        sorted(layers), log)
    check_plot_layer(layers["4 strokes · cat"], layers["4 strokes · cat · plot 0.3 mm"], 0.3,
                     corner)
