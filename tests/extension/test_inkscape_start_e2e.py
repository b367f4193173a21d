"""Start strokes end to end in a real Inkscape under Xvfb, against a real `sketchify serve`
(tiny random-weight models): a transformed photo and three hand-drawn paths (a line and an
arc in the photo's layer, a pencil-like stroke in another layer with its own transform), kept,
in a 16-stroke sketch; the kept strokes coincide with the drawn ones within 0.01 document
units in the saved file, with their style; the drawn paths are untouched. "Sketch again" on
that layer makes a new layer above it whose kept strokes are the first layer's, with a new
seed, and leaves the first layer as it was. With "wait" off, the placeholder (format 2)
remembers the start, Update sketches places the kept strokes the same way, and Sketch again
asks 20 strokes keeping the layer's 16 where they are."""

from __future__ import annotations

import base64
import json

import inkex
import pytest
import test_inkscape_e2e as e2e
from lxml import etree
from path_samples import farthest, samples

pytestmark = pytest.mark.slow

# The fixtures of the other real-Inkscape tests: a backend and an installed extension.
server, profile = e2e.server, e2e.profile
SVG, LABEL = e2e.SVG, e2e.LABEL
COUNT = 16
PHOTO_LAYER = inkex.Transform("translate(20,15)")
OWN = inkex.Transform("rotate(8)")  # the photo's and the strokes drawn beside it
INK_LAYER = inkex.Transform("translate(30,10) rotate(-6) scale(1.1)")
LINE = "M 70 50 L 120 72 L 150 58"
ARC = "M 62 100 A 30 18 15 0 1 132 96"


def pencil() -> str:
    """Two cubics drawn over the photo, in the ink layer's own units."""
    to_ink = -INK_LAYER @ PHOTO_LAYER @ OWN  # from the photo's own frame
    points = [to_ink.apply_to_point(p) for p in
              ((90, 35), (110, 25), (140, 45), (160, 40), (175, 36), (180, 60), (170, 85))]
    text = [f"{p.x:.4f} {p.y:.4f}" for p in points]
    return "M {} C {} {} {} C {} {} {}".format(*text)


PENCIL = pencil()
DRAWN = {"line": (LINE, PHOTO_LAYER @ OWN, "#d40000"), "arc": (ARC, PHOTO_LAYER @ OWN, "#0044aa"),
         "pencil": (PENCIL, INK_LAYER, "#008000")}


# The kept strokes' widths in the sketch layer: as drawn, times the scale of their transforms
# (the ink layer scales by 1.1).
WIDTHS = {"line": 1.2, "arc": 0.8, "pencil": 1.65}


def write_drawing(folder) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    cat = base64.b64encode((e2e.EXAMPLES / "cat.jpg").read_bytes()).decode()
    path = folder / "drawing.svg"
    path.write_text(f"""<svg xmlns="http://www.w3.org/2000/svg"
     xmlns:xlink="http://www.w3.org/1999/xlink"
     xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape"
     width="297mm" height="210mm" viewBox="0 0 297 210">
  <g id="photos" inkscape:groupmode="layer" inkscape:label="Photos"
     transform="translate(20,15)">
    <image id="cat" xlink:href="data:image/jpeg;base64,{cat}" x="30" y="20" width="160"
           height="100" preserveAspectRatio="xMidYMid meet" transform="rotate(8)"
           inkscape:label="cat"/>
    <path id="line" d="{LINE}" transform="rotate(8)"
          style="fill:none;stroke:#d40000;stroke-width:1.2"/>
    <path id="arc" d="{ARC}" transform="rotate(8)"
          style="fill:none;stroke:#0044aa;stroke-width:0.8"/>
  </g>
  <g id="ink" inkscape:groupmode="layer" inkscape:label="Ink"
     transform="translate(30,10) rotate(-6) scale(1.1)">
    <path id="pencil" d="{PENCIL}" style="fill:none;stroke:#008000;stroke-width:1.5"/>
  </g>
</svg>
""", encoding="utf-8")
    return path


def provenance(layer) -> dict:
    (metadata,) = layer.iterchildren(f"{SVG}metadata")
    return json.loads(metadata.text)


def test_kept_strokes_and_sketch_again_in_real_inkscape(server, profile, tmp_path):
    e2e.preferences(profile, server.url, selected_paths="keep", strokes_4="false",
                    strokes_8="false", strokes_16="true", again={"again": "seed"})
    document = write_drawing(tmp_path / "doc")
    first = tmp_path / "first.svg"
    code, dialogs, log = e2e.run_inkscape(profile, document, first,
                                          select="cat,line,arc,pencil")
    assert (code, dialogs) == (0, 0), f"the extension reported an error: {log}"
    root = inkex.load_svg(str(first)).getroot()
    layer = root.getElementById("sketch16-cat")
    assert layer.get(LABEL) == "16 strokes · cat"
    paths = list(layer.iter(f"{SVG}path"))
    assert len(paths) == COUNT
    for path, (name, (d, to_root, colour)) in zip(paths, DRAWN.items(), strict=False):
        assert farthest(samples(path.get("d")), samples(d, to_root)) < 1e-3, name
        style = dict(inkex.Style(path.get("style")))
        style["stroke-width"] = round(float(style["stroke-width"]), 9)
        assert style == {"fill": "none", "stroke": colour, "stroke-width": WIDTHS[name]}, name
    original = inkex.load_svg(str(document)).getroot()
    for ident in DRAWN:  # the drawn paths, as they were
        before, after = original.getElementById(ident), root.getElementById(ident)
        assert {k: before.get(k) for k in ("d", "transform", "style")} == \
            {k: after.get(k) for k in ("d", "transform", "style")}

    again = tmp_path / "again.svg"
    code, dialogs, log = e2e.run_inkscape(profile, first, again, select="sketch16-cat",
                                          action="org.sketchify.again")
    assert (code, dialogs) == (0, 0), f"Sketch again reported an error: {log}"
    root = inkex.load_svg(str(again)).getroot()
    kept_layer = root.getElementById("sketch16-cat")
    assert etree.tostring(kept_layer) == etree.tostring(layer), "the first layer changed"
    new = kept_layer.getnext()
    assert new.get(LABEL) == "16 strokes · cat"
    assert provenance(new)["first_seed"] != provenance(layer)["first_seed"]
    new_paths = list(new.iter(f"{SVG}path"))
    assert len(new_paths) == COUNT
    for path, then in zip(new_paths[:len(DRAWN)], paths, strict=False):
        assert farthest(samples(path.get("d")), samples(then.get("d"))) < 0.01
        assert path.get("style") == then.get("style")


def test_wait_off_update_and_more_strokes_in_real_inkscape(server, profile, tmp_path):
    e2e.preferences(profile, server.url, wait="false", selected_paths="keep",
                    strokes_4="false", strokes_8="false", strokes_16="true",
                    again={"again": "more", "strokes": 20, "layer_strokes": "keep"})
    started = tmp_path / "started.svg"
    code, dialogs, log = e2e.run_inkscape(profile, write_drawing(tmp_path / "doc"), started,
                                          select="cat,line,arc,pencil")
    assert (code, dialogs) == (0, 0), log
    placeholder = inkex.load_svg(str(started)).getroot().getElementById("sketch16-cat")
    assert placeholder.get(f"{e2e.SKETCHIFY}format") == "2"
    assert len(json.loads(placeholder.get(f"{e2e.SKETCHIFY}start"))) == len(DRAWN)
    server.wait_until(placeholder.get(f"{e2e.SKETCHIFY}job"), ("done",), timeout=180)

    updated = tmp_path / "updated.svg"
    code, dialogs, log = e2e.run_inkscape(profile, started, updated, select="",
                                          action="org.sketchify.update")
    assert (code, dialogs) == (0, 0), log
    layer = inkex.load_svg(str(updated)).getroot().getElementById("sketch16-cat")
    paths = list(layer.iter(f"{SVG}path"))
    assert len(paths) == COUNT
    for path, (name, (d, to_root, colour)) in zip(paths, DRAWN.items(), strict=False):
        assert farthest(samples(path.get("d")), samples(d, to_root)) < 0.01, name
        assert inkex.Style(path.get("style"))["stroke"] == colour, name

    more = tmp_path / "more.svg"
    code, dialogs, log = e2e.run_inkscape(profile, updated, more, select="sketch16-cat",
                                          action="org.sketchify.again")
    assert (code, dialogs) == (0, 0), log
    new = inkex.load_svg(str(more)).getroot().getElementById("sketch16-cat").getnext()
    assert new.get(LABEL) == "20 strokes · cat"
    new_paths = list(new.iter(f"{SVG}path"))
    assert len(new_paths) == 20
    for path, then in zip(new_paths, paths, strict=False):  # all 16 kept, where they were
        assert farthest(samples(path.get("d")), samples(then.get("d"))) < 0.01
