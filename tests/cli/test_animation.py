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
from sketchify.core.method.strokes import Strokes
from sketchify.core.output.animation import animated_svg
from sketchify.core.output.pen_paths import ends, path_text, reverse
from sketchify.core.output.plot import plot_svg, sketch_paths
from sketchify.core.output.plot_settings import plot_settings
from sketchify.core.output.timelapse import MAX_FRAMES, MAX_SIDE, timelapse_gif
from sketchify.core.paths import parse_path
from sketchify.core.photo.geometry import Placement

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
        last = float(re.search(r"animation-duration: ([\d.]+)s", paths[-1].get("style"))[1])
        assert delays[-1] + last == pytest.approx(6, abs=1e-3)  # the last stroke ends at 6 s
        # The sketch's own strokes, each drawn forwards or backwards.
        own = {path_text(parse_path(p.get("d")))
               for p in etree.parse(str(folder / f"cat.{n}.svg")).getroot().iter(f"{SVG}path")}
        for path in paths:
            data = parse_path(path.get("d"))
            assert {path_text(data), path_text(reverse(data))} & own
        with Image.open(gif) as image:
            assert image.format == "GIF" and image.size == (451, 300)
            assert image.n_frames >= 2  # the start strokes, then the final ones


def _ends_in_order(svg: str) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """Where each path of ``svg`` starts and ends, in document order."""
    return [ends(parse_path(p.get("d")))
            for p in etree.fromstring(svg.encode()).iter(f"{SVG}path")]


def _assert_drawn_in_plotted_order(sketch: str, animated: str, plotted: str, page: str) -> None:
    """The animation's strokes, put on the page, are the plot's: same order, same direction."""
    _, width, height = sketch_paths(sketch)
    layout = plot_settings(page=page).layout(width, height)

    def paper(point: tuple[float, float]) -> tuple[float, float]:
        return layout.dx + layout.scale * point[0], layout.dy + layout.scale * point[1]

    on_page = [(paper(a), paper(b)) for a, b in _ends_in_order(animated)]
    assert len(on_page) == len(_ends_in_order(plotted))
    for (a, b), (c, d) in zip(on_page, _ends_in_order(plotted), strict=True):
        assert a == pytest.approx(c, abs=1e-2) and b == pytest.approx(d, abs=1e-2)


def test_on_a_page_the_animation_draws_in_the_plotted_order():
    # From the photo's corner the stroke at (0, 25) is the nearest; from the corner of the A4
    # sheet (the square photo centred on it, 53.5 mm down) the one at (30, 0) is.
    sketch = ('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
              '<path d="M 0 25 L 0 26" stroke="#000" fill="none"/>'
              '<path d="M 30 0 L 31 0" stroke="#000" fill="none"/></svg>')
    plotted = plot_svg(sketch, plot_settings(page="A4")).svg
    animated = animated_svg(sketch, plot=plot_settings(page="A4"))
    _assert_drawn_in_plotted_order(sketch, animated, plotted, "A4")
    # Unplotted, the pen starts from the photo's corner.
    assert _ends_in_order(animated_svg(sketch))[0] == ((0, 25), (0, 26))


def test_plot_on_a_page_and_animate_together_draw_the_same_order(photo, models):
    # This seed's 4-stroke sketch is one whose order from the photo's corner is not the
    # order from the A4 sheet's corner.
    folder = photo.parent
    run = ["sketch", str(photo), *QUICK, "--steps", "1", "--seed", "1", "--strokes", "4",
           *models]
    assert main([*run, "--plot", "--page", "A4", "--animate", str(folder / "drawn.svg"),
                 "--out-dir", str(folder / "plot")]) == 0
    assert main([*run, "--out-dir", str(folder / "sketch")]) == 0
    _assert_drawn_in_plotted_order((folder / "sketch" / "cat.4.svg").read_text(),
                                   (folder / "drawn.svg").read_text(),
                                   (folder / "plot" / "cat.4.svg").read_text(), "A4")


def test_a_timelapse_keeps_at_most_100_frames_of_at_most_512_px():
    placement = Placement(2000, 1000)
    generator = torch.Generator().manual_seed(0)
    frames = [(step, Strokes(torch.rand(4, 4, 2, generator=generator) * 224, 1.5, 1.0))
              for step in range(0, 3000, 10)]
    final = (3000, frames[-1][1])
    data = timelapse_gif(Image.new("RGB", (2000, 1000), "grey"), placement, frames, final)
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (MAX_SIDE, MAX_SIDE // 2)
        # 301 shots, 100 kept; the GIF writer may merge a frame equal to the one before
        assert MAX_FRAMES - 5 <= image.n_frames <= MAX_FRAMES


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
