"""docs/inkscape-start.png from a real run: the flow of the real-Inkscape test
tests/extension/test_inkscape_start_e2e.py::test_kept_strokes_and_sketch_again_in_real_inkscape
(its drawing, its helpers: Inkscape 1.2 under Xvfb, `sketchify serve` with tiny random-weight
models, 10 Draft steps): Sketchify image… keeping the three drawn strokes in 16, then Sketch
again with a new seed. Each panel is the saved document with one layer shown, exported by
Inkscape.

Run: .venv/bin/python benchmarks/inkscape_start_picture.py docs/inkscape-start.png
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / folder) for folder in
                 ("support", "extension", "extension/helpers")]

import test_inkscape_e2e as e2e  # noqa: E402
import test_inkscape_start_e2e as flow  # noqa: E402
from lxml import etree  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"
DPI = 64
BOX_MM = (40, 28, 222, 170)  # the photo and the strokes, in the document's root units (mm)
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
# Per panel: its title, the layer shown, the photo's opacity, whether the drawn paths show.
PANELS = (("1. Three strokes drawn over the photo", "ink", 1.0, True),
          ("2. Sketchify image…, 16 strokes, kept", "sketch16-cat", 0.3, False),
          ("3. Sketch again: same, new seed", "again", 0.3, False))


def run_flow(work: Path) -> Path:
    """The test's two runs in real Inkscape; the document saved after Sketch again."""
    server = e2e.Server(work / "backend")
    try:
        profile = work / "profile"
        subprocess.run([sys.executable, str(ROOT / "install.py"), "--extensions-dir",
                        str(profile / "extensions")], check=True, capture_output=True)
        e2e.preferences(profile, server.url, selected_paths="keep", strokes_4="false",
                        strokes_8="false", strokes_16="true", again={"again": "seed"})
        first, again = work / "first.svg", work / "again.svg"
        for document, output, select, action in (
                (flow.write_drawing(work / "doc"), first, "cat,line,arc,pencil",
                 "org.sketchify.image"),
                (first, again, "sketch16-cat", "org.sketchify.again")):
            code, dialogs, log = e2e.run_inkscape(profile, document, output, select, action)
            if (code, dialogs) != (0, 0):
                raise SystemExit(f"{action} failed in Inkscape: {log}")
    finally:
        server.stop()
    return again


def panel(saved: Path, show: str, photo_opacity: float, drawn: bool, work: Path
          ) -> Image.Image:
    tree = etree.parse(str(saved))
    root = tree.getroot()
    layers = [g for g in root.iterchildren(f"{SVG}g") if g.get("id") != "photos"]
    shown = root.find(f".//*[@id='{show}']")
    if show == "again":  # Sketch again's layer: just above the first
        shown = root.find(".//*[@id='sketch16-cat']").getnext()
    for layer in layers:
        layer.set("style", "display:inline" if layer is shown else "display:none")
    root.find(f".//{SVG}image[@id='cat']").set("opacity", str(photo_opacity))
    for ident in ("line", "arc"):
        element = root.find(f".//*[@id='{ident}']")
        element.set("style", element.get("style") + ("" if drawn else ";display:none"))
    source, png = work / f"{show}.svg", work / f"{show}.png"
    tree.write(str(source))
    subprocess.run([e2e.INKSCAPE, str(source), "--export-type=png", f"--export-filename={png}",
                    f"--export-dpi={DPI}", "--export-background=white",
                    "--export-background-opacity=1"], check=True, capture_output=True)
    scale = DPI / 25.4
    return Image.open(png).convert("RGB").crop(tuple(round(v * scale) for v in BOX_MM))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        saved = run_flow(work)
        images = [(title, panel(saved, show, opacity, drawn, work))
                  for title, show, opacity, drawn in PANELS]
    width, height = images[0][1].size
    pad, top, bottom = 12, 32, 32
    out = Image.new("RGB", (len(images) * (width + pad) + pad, height + top + bottom), "white")
    draw = ImageDraw.Draw(out)
    for number, (title, image) in enumerate(images):
        x = pad + number * (width + pad)
        out.paste(image, (x, top))
        draw.text((x, 8), title, fill="black", font=ImageFont.truetype(FONT, 15))
    draw.text((pad, top + height + 8), "Black strokes: tiny random-weight test models (not a "
              "real sketch). Coloured: the user's strokes, kept exactly.", fill=(90, 90, 90),
              font=ImageFont.truetype(FONT, 14))
    out.save(args.out, optimize=True)
    print(args.out, out.size)


if __name__ == "__main__":
    main()
