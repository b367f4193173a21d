"""`--animate` and `--timelapse`: the sketch drawn as CSS keyframes, the optimization as a GIF."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import torch
from cli_helpers import QUICK
from lxml import etree
from PIL import Image

from sketchify.backend.cli import main
from sketchify.core.output.pen_paths import path_text, reverse
from sketchify.core.output.timelapse import MAX_FRAMES, MAX_SIDE, timelapse_gif
from sketchify.core.paths import parse_path
from sketchify.core.photo.geometry import Placement
from sketchify.core.strokes import Strokes

pytest_plugins = ["cli_fixtures"]
SVG = "{http://www.w3.org/2000/svg}"


def test_animate_and_timelapse_for_each_count_even_after_one_step(photo, models, capsys):
    folder = photo.parent
    assert main(["sketch", str(photo), *QUICK, "--steps", "1", "--strokes", "3,5", *models,
                 "--animate", str(folder / "drawn.svg"),
                 "--timelapse", str(folder / "run.gif")]) == 0
    out = capsys.readouterr().out.splitlines()
    for n in (3, 5):
        animated, gif = folder / f"drawn.{n}.svg", folder / f"run.{n}.gif"
        assert str(animated) in out and str(gif) in out
        text = animated.read_text()
        root = etree.fromstring(text.encode())
        assert "6 s" in root.find(f"{SVG}desc").text
        style = root.find(f"{SVG}style").text
        assert "@keyframes" in style and "stroke-dashoffset" in style
        assert root.find(f".//{SVG}script") is None
        assert not [a for e in root.iter() for a in e.attrib if a.lower().startswith("on")]
        paths = root.findall(f"{SVG}path")
        assert len(paths) == n and {p.get("pathLength") for p in paths} == {"1"}
        delays = [float(re.search(r"animation-delay: ([\d.]+)s", p.get("style"))[1])
                  for p in paths]
        assert delays[0] == 0 and delays == sorted(delays) and delays[-1] < 6
        # The sketch's own strokes, each drawn forwards or backwards.
        own = {path_text(parse_path(p.get("d")))
               for p in etree.parse(str(folder / f"cat.{n}.svg")).getroot().iter(f"{SVG}path")}
        for path in paths:
            data = parse_path(path.get("d"))
            assert {path_text(data), path_text(reverse(data))} & own
        with Image.open(gif) as image:
            assert image.format == "GIF" and image.size == (451, 300)
            assert image.n_frames >= 2  # the start strokes, then the final ones


def test_a_timelapse_keeps_at_most_100_frames_of_at_most_512_px():
    placement = Placement(2000, 1000)
    generator = torch.Generator().manual_seed(0)
    frames = [(step, Strokes(torch.rand(4, 4, 2, generator=generator) * 224, 1.5, 1.0))
              for step in range(0, 3000, 10)]
    final = (3000, frames[-1][1])
    data = timelapse_gif(Image.new("RGB", (2000, 1000), "grey"), placement, frames, final)
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (MAX_SIDE, MAX_SIDE // 2)
        assert 2 <= image.n_frames <= MAX_FRAMES


@pytest.mark.parametrize(("extra", "said"), [
    (["--animate", "drawn.gif"], "--animate writes an SVG: name it *.svg"),
    (["--timelapse", "run.svg"], "--timelapse writes a GIF: name it *.gif"),
    (["--timelapse", "/nonexistent/dir/run.gif"], "does not exist"),
    (["-o", "{dir}/x.svg", "--animate", "{dir}/x.svg"], "--animate would overwrite"),
    (["--strokes", "4,8", "--animate", "{dir}/cat.svg"], "--animate would overwrite"),
])
def test_bad_animation_files_are_refused_before_anything_runs(photo, extra, said, no_models,
                                                               capsys):
    extra = [arg.format(dir=photo.parent) for arg in extra]
    assert main(["sketch", str(photo), *QUICK, *extra]) == 2
    assert said in capsys.readouterr().err


def test_animate_draws_one_photo(photo, no_models, capsys):
    other = Path(photo.parent / "b.jpg")
    other.write_bytes(photo.read_bytes())
    assert main(["sketch", str(photo), str(other), *QUICK, "--animate", "x.svg"]) == 2
    assert "--animate draws one photo" in capsys.readouterr().err
