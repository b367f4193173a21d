"""`sketchify sketch PHOTO --start FILE.svg [--lock]` end to end, in-process, with tiny
random-weight models: the given strokes come first, locked ones exactly as drawn."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import QUICK
from lxml import etree
from PIL import Image, ImageSequence

from sketchify.backend.cli import main
from sketchify.core.given.strokes import from_svg
from sketchify.core.output import provenance
from sketchify.core.paths import parse_path, transformed

pytest_plugins = ["cli_fixtures"]
SVG = "{http://www.w3.org/2000/svg}"
# Drawn over the 451 x 300 cat at half size (viewBox 0 0 225.5 150), in a translated group: a
# line, a cubic and an arc.
START = """<svg xmlns="http://www.w3.org/2000/svg" width="225.5" height="150"
     viewBox="0 0 225.5 150">
  <rect width="20" height="20"/>
  <g transform="translate(10, 5)">
    <path d="M 10 10 L 100 60" style="fill:none;stroke-width:1.5"/>
    <path d="M 20 100 C 40 50 80 50 100 100"/>
    <path d="M 150 40 a 30 20 0 1 0 40 10"/>
  </g>
</svg>"""
DOUBLE = (2.0, 0.0, 0.0, 2.0, 20.0, 10.0)  # the group's translation, then the viewBox's x2


def paths_of(svg: Path) -> list:
    return etree.parse(str(svg)).getroot().findall(f".//{SVG}path")


@pytest.mark.parametrize("lock", [True, False])
def test_a_start_svg_is_laid_over_the_photo_and_comes_first(photo, models, tmp_path, lock):
    start = tmp_path / "mine.svg"
    start.write_text(START)
    out = tmp_path / "out.svg"
    assert main(["sketch", str(photo), *QUICK, *models, "--strokes", "5", "--start", str(start),
                 "-o", str(out), "--sheet", str(tmp_path / "sheet.png"),
                 *(["--lock"] if lock else [])]) == 0
    found = paths_of(out)
    assert len(found) == 5
    given = [parse_path(d) for d in ("M 10 10 L 100 60", "M 20 100 C 40 50 80 50 100 100",
                                     "M 150 40 a 30 20 0 1 0 40 10")]
    if lock:
        for element, segments in zip(found[:3], given, strict=True):
            assert parse_path(element.get("d")) == transformed(segments, DOUBLE)
        assert float(found[0].get("stroke-width")) == 3.0  # 1.5 user units, x2
    for element in found[3:] if lock else found:
        assert " C " in element.get("d") and element.get("d").count(" C ") == 1
    record = provenance.read(out.read_bytes())
    wanted = from_svg(START.encode(), 451, 300, lock=lock).summary()
    assert record["start"] == wanted and record["start"]["locked"] == (3 if lock else 0)
    assert (tmp_path / "sheet.png").stat().st_size > 0


def test_nothing_is_written_when_the_start_is_refused(photo, models, tmp_path, no_models,
                                                      capsys):
    start = tmp_path / "mine.svg"
    start.write_text(START)
    code = main(["sketch", str(photo), *QUICK, *models, "--strokes", "2", "--start", str(start),
                 "--out-dir", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--start" in err[0] and "ask at least 3" in err[0]
    assert not (tmp_path / "out").exists()


def test_locked_strokes_are_plotted_whole_animated_and_in_every_timelapse_frame(photo, models,
                                                                              tmp_path):
    start = tmp_path / "mine.svg"
    start.write_text(START)
    out = tmp_path / "out.svg"
    assert main(["sketch", str(photo), *QUICK, *models, "--strokes", "3,5", "--start",
                 str(start), "--lock", "-o", str(out), "--plot", "--animate",
                 str(tmp_path / "drawn.svg"), "--timelapse", str(tmp_path / "run.gif")]) == 0
    for n in (3, 5):
        plotted = paths_of(tmp_path / f"out.{n}.svg")
        assert len(plotted) == n and {p.get("stroke-width") for p in plotted} == {"0.5"}
        assert sum(" A " in p.get("d") for p in plotted) == 1  # the arc, still an arc
        assert len(paths_of(tmp_path / f"drawn.{n}.svg")) == n
        with Image.open(tmp_path / f"run.{n}.gif") as gif:
            frames = [frame.convert("L") for frame in ImageSequence.Iterator(gif)]
        # The middle of the locked line (photo px 130, 80) is ink in every frame, even where
        # every stroke is locked and nothing moves (3).
        assert frames and all(frame.getpixel((130, 80)) < 100 for frame in frames)
