"""The plot-ready SVG: stroke order that never lengthens the pen-up travel nor touches a
stroke's geometry, millimetres checked by parsing, and whole multi-segment paths."""

from __future__ import annotations

import json
import math
import random

import pytest
import torch
from lxml import etree

from sketchify.core.errors import InputError
from sketchify.core.output import order, provenance
from sketchify.core.output.pen_paths import (
    ends,
    moved,
    path_text,
    pen_down_length,
    read_path_data,
    reverse,
)
from sketchify.core.output.plot import PEN_DOWN_MM_S, PEN_UP_MM_S, plot_svg
from sketchify.core.output.plot_settings import from_json, length_mm, plot_settings
from sketchify.core.output.svg import to_svg
from sketchify.core.photo.geometry import Placement
from sketchify.core.strokes import Strokes

SVG = "{http://www.w3.org/2000/svg}"
WIDTH, HEIGHT = 451, 300


def random_ends(rng: random.Random, n: int) -> list:
    return [((rng.uniform(0, 400), rng.uniform(0, 300)), (rng.uniform(0, 400),
                                                           rng.uniform(0, 300)))
            for _ in range(n)]


def sketch_svg(n: int, seed: int = 0, width: int = WIDTH, height: int = HEIGHT) -> str:
    """An n-stroke sketch SVG as the engine writes it (random strokes, with provenance)."""
    generator = torch.Generator().manual_seed(seed)
    points = torch.rand(n, 4, 2, generator=generator, dtype=torch.float64) * 224
    strokes = Strokes(points, torch.full((n,), 1.5, dtype=torch.float64),
                      torch.full((n,), 0.8, dtype=torch.float64))
    return to_svg(strokes, Placement(width, height),
                  provenance.record(strokes=n, steps=3, plot=None))


def geometry(d: str, scale: float = 1.0) -> list:
    """A path's lines as sorted undirected segments (end points and controls, in the units
    ``x / scale``, flat): the same whichever way and order it is drawn."""
    found = []
    for sub in read_path_data(d):
        here = sub.start
        lines = [(here, *segment.points) for segment in sub.segments]
        for segment in sub.segments:
            here = segment.points[-1]
        if sub.closed:
            lines.append((here, sub.start))
        for points in lines:
            if len(points) == 2 and points[0] == points[1]:
                continue  # a closing line of no length: drawn or not, nothing on paper
            key = tuple(v / scale for point in points for v in point)
            turned = tuple(v / scale for point in points[::-1] for v in point)
            found.append(min(key, turned))
    return sorted(found)


def same_geometry(a: list, b: list) -> bool:
    flat = [v for path in sorted(a) for segment in path for v in segment]
    return len(a) == len(b) and flat == pytest.approx(
        [v for path in sorted(b) for segment in path for v in segment], abs=1e-3)


def paths_of(svg: str) -> list:
    return etree.fromstring(svg.encode()).findall(f"{SVG}path")


@pytest.mark.parametrize("n", [1, 2, 3, 8, 16, 32, 64])
def test_ordering_never_lengthens_travel_and_draws_every_stroke_once(n):
    rng = random.Random(n)
    for _ in range(30):
        stroke_ends = random_ends(rng, n)
        steps = order.plan(stroke_ends)
        assert sorted(i for i, _ in steps) == list(range(n))
        original = order.travel(stroke_ends, [(i, False) for i in range(n)])
        assert order.travel(stroke_ends, steps) <= original


def test_an_order_already_best_is_kept():
    # Strokes along a line, each starting where the previous one ended: no travel to save.
    stroke_ends = [((10.0 * k, 0.0), (10.0 * k + 10, 0.0)) for k in range(12)]
    assert order.plan(stroke_ends) == [(k, False) for k in range(12)]
    assert order.travel(stroke_ends, order.plan(stroke_ends)) == 0.0


def test_a_stroke_is_turned_when_its_far_end_is_nearer():
    stroke_ends = [((100.0, 100.0), (1.0, 1.0)), ((101.0, 101.0), (200.0, 200.0))]
    assert order.plan(stroke_ends) == [(0, True), (1, False)]


def test_path_data_is_read_absolute_and_reversed_exactly():
    path = read_path_data("m1,2 l3,4 h5 v-2 z m 10 10 q 1 1 2 0 t 2 0 s 1 1 4 4")
    assert [s.kind for s in path[1].segments] == ["Q", "Q", "C"]
    assert path[1].segments[1].points == ((14.0, 11.0), (15.0, 12.0))  # T mirrors Q's control
    assert path[0].closed and path[0].segments[1].points == ((9.0, 6.0),)  # h is absolute now
    turned = reverse(path)
    assert ends(turned) == ends(path)[::-1]
    assert pen_down_length(turned) == pytest.approx(pen_down_length(path))
    assert reverse(turned)[1] == path[1]
    with pytest.raises(InputError, match="'B' is not SVG path data"):
        read_path_data("M 0 0 B 5 5")
    with pytest.raises(InputError, match="lacks numbers"):
        read_path_data("M 0 0 C 1 2 3")
    with pytest.raises(InputError, match="too large"):
        read_path_data("M 0 0 L 1e999 0")


def test_arcs_are_drawn_backwards_with_the_other_sweep_and_scale_with_the_paper():
    half_circle = read_path_data("M 10 0 a 10 10 0 0 1 -20 0")
    assert pen_down_length(half_circle) == pytest.approx(math.pi * 10, rel=1e-3)
    (sub,) = reverse(half_circle)
    assert sub.start == (-10.0, 0.0) and sub.segments[0].arc == (10.0, 10.0, 0.0, False, False)
    assert path_text(reverse(half_circle)) == "M -10 0 A 10 10 0 0 0 10 0"
    (moved_sub,) = moved(half_circle, 2.0, 5.0, 0.0)
    assert moved_sub.start == (25.0, 0.0) and moved_sub.segments[0].arc[:2] == (20.0, 20.0)
    assert pen_down_length(moved(half_circle, 2.0, 5.0, 0.0)) == pytest.approx(
        2 * pen_down_length(half_circle))
    # Radii too small to reach the end grow until they do (the SVG rule): a half ellipse.
    assert pen_down_length(read_path_data("M 0 0 A 1 1 0 0 1 30 0")) == pytest.approx(
        math.pi * 15, rel=1e-3)
    assert path_text(read_path_data("M 0 0 A 0 5 0 0 1 30 0")) == "M 0 0 L 30 0"


def test_plotting_changes_order_direction_and_scale_never_geometry():
    source = sketch_svg(32, seed=3)
    plotted = plot_svg(source, plot_settings(size_mm=120))
    scale = 120 / WIDTH
    before = [geometry(p.get("d")) for p in paths_of(source)]
    after = [geometry(p.get("d"), scale) for p in paths_of(plotted.svg)]
    assert same_geometry(after, before)
    assert plotted.travel_mm < plotted.travel_before_mm  # 32 random strokes: there is a gain
    assert [p.get("d") for p in paths_of(source)] != [
        p.get("d") for p in paths_of(plot_svg(source, plot_settings(size_mm=WIDTH)).svg)]


def test_units_are_millimetres_and_every_stroke_is_the_pen():
    source = sketch_svg(16)
    plotted = plot_svg(source, plot_settings(size_mm=length_mm("15cm"),
                                             pen_mm=length_mm("0.3mm")))
    root = etree.fromstring(plotted.svg.encode())
    height = 150 * HEIGHT / WIDTH
    assert root.get("width") == "150mm"
    assert root.get("height") == f"{height:.5f}".rstrip("0") + "mm"
    assert [float(v) for v in root.get("viewBox").split()] == pytest.approx([0, 0, 150, height])
    paths = root.findall(f"{SVG}path")
    assert len(paths) == 16
    for path in paths:
        assert path.get("stroke-width") == "0.3" and path.get("fill") == "none"
    # 1 unit = 1 mm: the photo's pixels times 150 / its width, no margin.
    assert same_geometry([geometry(p.get("d"), 150 / WIDTH) for p in paths],
                         [geometry(p.get("d")) for p in paths_of(source)])
    assert "opacity" not in plotted.svg  # the optimizer's stroke-opacity is gone
    data = provenance.read(plotted.svg)
    assert data["plot"] == {"size_mm": 150.0, "pen_mm": 0.3, "margin_mm": 0.0}
    assert data["format"] == provenance.FORMAT == 2 and data["strokes"] == 16
    assert plotted.seconds == pytest.approx(plotted.pen_down_mm / PEN_DOWN_MM_S
                                            + plotted.travel_mm / PEN_UP_MM_S)


@pytest.mark.parametrize(("size", "paper", "scale"), [
    ((451, 300), (297, 210), (297 - 20) / 451),  # wide photo: landscape, width-bound
    ((300, 451), (210, 297), (297 - 20) / 451),  # tall photo: portrait
    ((100, 100), (210, 297), (210 - 20) / 100),
])
def test_a_page_is_turned_to_fit_and_the_drawing_centred(size, paper, scale):
    layout = plot_settings(page="a4").layout(*size)
    assert (layout.width, layout.height) == paper
    assert layout.scale == pytest.approx(scale)
    assert layout.dx == pytest.approx((paper[0] - size[0] * scale) / 2)
    assert layout.dy == pytest.approx((paper[1] - size[1] * scale) / 2)
    assert min(layout.dx, layout.dy) == pytest.approx(10)


def test_plot_alone_is_150_mm_and_a_half_millimetre_pen():
    assert plot_settings().as_json() == {"size_mm": 150.0, "pen_mm": 0.5, "margin_mm": 0.0}
    assert plot_settings(page="Letter").as_json() == {"page": "Letter", "pen_mm": 0.5,
                                                      "margin_mm": 10.0}
    assert plot_settings().label() == "plot 0.5 mm"
    assert from_json(json.loads('{"page": "A5", "pen_mm": 0.7}')) == plot_settings(
        page="A5", pen_mm=0.7)


@pytest.mark.parametrize(("data", "said"), [
    ({"size_mm": 0}, "more than 0"),
    ({"size_mm": -5}, "more than 0"),
    ({"size_mm": "150"}, "must be a number"),
    ({"size_mm": True}, "must be a number"),
    ({"pen_mm": float("inf")}, "at most"),
    ({"page": "A9"}, "unknown page 'A9'"),
    ({"page": 4}, "must be a page name"),
    ({"page": "A4", "size_mm": 100}, "not both"),
    ({"page": "A6", "margin_mm": 60}, "leaves no room"),
    ({"size_mm": 100, "margin_mm": -1}, "must be 0"),
    ({"size": 100}, "unknown keys size"),
    ([100], "must be an object"),
])
def test_bad_plot_settings_name_plot(data, said):
    with pytest.raises(InputError, match=said) as err:
        from_json(data)
    assert err.value.field == "plot"


def test_a_locked_multi_segment_path_is_ordered_whole():
    # What a result with locked given strokes holds: whole paths of several subpaths first.
    locked = ("M 10 10 L 60 10 C 70 10 80 20 80 30 Z M 200 200 Q 210 190 220 200 "
              "T 240 200")
    source = etree.fromstring(sketch_svg(6).encode())
    given = etree.Element(f"{SVG}path", d=locked, fill="none", stroke="#000")
    source.insert(2, given)
    text = etree.tostring(source).decode()
    plotted = plot_svg(text, plot_settings(size_mm=WIDTH))  # 1 mm per photo pixel
    paths = paths_of(plotted.svg)
    assert len(paths) == 7
    whole = [p for p in paths if len(read_path_data(p.get("d"))) == 2]
    assert len(whole) == 1 and same_geometry([geometry(whole[0].get("d"))], [geometry(locked)])
    assert all(p.get("stroke-width") == "0.5" for p in paths)


def test_a_foreign_or_broken_svg_is_refused_naming_the_svg():
    for text in ("<svg", '<svg xmlns="http://www.w3.org/2000/svg"/>'):
        with pytest.raises(InputError) as err:
            plot_svg(text, plot_settings())
        assert err.value.field == "svg"
