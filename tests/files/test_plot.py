"""The plot-ready SVG: stroke order that never lengthens the pen-up travel nor touches a
stroke's geometry, millimetres checked by parsing, and whole multi-segment paths."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch
from lxml import etree
from path_geometry import geometry, same_geometry

from sketchify.core.errors import InputError
from sketchify.core.method.strokes import Strokes
from sketchify.core.output import order, provenance
from sketchify.core.output.pen_paths import ends, path_text, pen_down_length, reverse
from sketchify.core.output.plot import PEN_DOWN_MM_S, PEN_UP_MM_S, plot_svg
from sketchify.core.output.plot_settings import from_json, length_mm, plot_settings
from sketchify.core.output.svg import to_svg
from sketchify.core.paths import parse_path, transformed
from sketchify.core.photo.geometry import Placement

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


def test_paths_are_reversed_whole_and_exactly():
    path = parse_path("m1,2 l3,4 h5 v-2 z m 10 10 q 1 1 2 0 t 2 0 s 1 1 4 4")
    assert [s.kind for s in path] == ["L", "L", "L", "Z", "Q", "Q", "C"]
    turned = reverse(path)
    assert ends(turned) == ends(path)[::-1] == ((19.0, 16.0), (1.0, 2.0))
    assert pen_down_length(turned) == pytest.approx(pen_down_length(path))
    assert reverse(turned)[4:] == path[4:]  # the open subpath comes back as it was
    # The closing line, drawn first now, is a plain line: the lines drawn are the same.
    assert turned[3].kind == "L" and turned[3].points == ((1.0, 2.0), (9.0, 4.0))
    assert geometry(path_text(turned)) == geometry(path_text(path))
    assert path_text(turned).count("M") == 2
    # A subpath starting where the other ended keeps its moveto both ways round.
    joined = parse_path("M 0 0 L 10 0 M 10 0 L 10 10 Z")
    assert path_text(reverse(joined)) == "M 10 0 L 10 10 L 10 0 M 10 0 L 0 0"
    assert [s.opens for s in reverse(reverse(joined))] == [s.opens for s in joined]


def test_arcs_are_drawn_backwards_with_the_other_sweep_and_scale_with_the_paper():
    half_circle = parse_path("M 10 0 a 10 10 0 0 1 -20 0")
    assert pen_down_length(half_circle) == pytest.approx(math.pi * 10, rel=1e-3)
    (turned,) = reverse(half_circle)
    assert turned.start == (-10.0, 0.0) and turned.arc == (10.0, 10.0, 0.0, False, False)
    assert path_text(reverse(half_circle)) == "M -10 0 A 10 10 0 0 0 10 0"
    on_paper = transformed(half_circle, (2.0, 0.0, 0.0, 2.0, 5.0, 0.0))
    assert on_paper[0].start == (25.0, 0.0) and on_paper[0].arc[:2] == (20.0, 20.0)
    assert pen_down_length(on_paper) == pytest.approx(2 * pen_down_length(half_circle))
    # Radii too small to reach the end grow until they do (the SVG rule): a half ellipse.
    assert pen_down_length(parse_path("M 0 0 A 1 1 0 0 1 30 0")) == pytest.approx(
        math.pi * 15, rel=1e-3)
    assert pen_down_length(parse_path("M 0 0 A 0 5 0 0 1 30 0")) == pytest.approx(30)  # a line


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
    assert from_json(json.loads('{"page": "A5", "pen_mm": 0.7}')) == plot_settings(
        page="A5", pen_mm=0.7)


@pytest.mark.parametrize(("data", "said"), [
    ({"size_mm": 0}, "more than 0"),
    ({"size_mm": -5}, "more than 0"),
    ({"size_mm": "150"}, "must be a number"),
    ({"size_mm": True}, "must be a number"),
    ({"pen_mm": float("inf")}, "at most"),
    ({"pen_mm": 0.049}, "from 0.05 to 5 mm"),
    ({"pen_mm": 50}, "from 0.05 to 5 mm"),
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


@pytest.mark.parametrize("pen", [0.01, 10])
def test_stored_settings_keep_a_pen_an_older_release_took(pen):
    # 0.3.0 took any positive pen: a job's stored settings read back as they were stored.
    data = {"size_mm": 100.0, "pen_mm": pen, "margin_mm": 0.0}
    with pytest.raises(InputError, match=r"from 0\.05 to 5 mm"):
        from_json(data)
    assert from_json(data, stored=True).as_json() == data
    for bad in (0, -1, "1", float("inf")):  # what no release stored is still refused
        with pytest.raises(InputError, match="the pen width must be"):
            from_json({**data, "pen_mm": bad}, stored=True)


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
    whole = [p for p in paths if p.get("d").count("M") == 2]
    assert len(whole) == 1 and same_geometry([geometry(whole[0].get("d"))], [geometry(locked)])
    assert all(p.get("stroke-width") == "0.5" for p in paths)


def test_a_foreign_or_broken_svg_is_refused_naming_the_svg():
    broken = sketch_svg(2).replace(' d="M', ' d="M 1 B 5 5 M', 1)
    empty = sketch_svg(2).replace(' d="M', ' d="" data-was="M', 1)
    for text in ("<svg", '<svg xmlns="http://www.w3.org/2000/svg"/>', broken, empty):
        with pytest.raises(InputError) as err:
            plot_svg(text, plot_settings())
        assert err.value.field == "svg"


def test_pen_down_length_is_within_a_thousandth_of_the_curve_length():
    # Random cubics anywhere in a 224 px square, loops and cusps included, against a
    # 100 000-chord measure of the same curve.
    rng = np.random.default_rng(0)
    for control in rng.uniform(0, 224, (200, 4, 2)):
        measured = pen_down_length(parse_path("M {} {} C {} {} {} {} {} {}".format(
            *control.ravel())))
        t = np.linspace(0.0, 1.0, 100_001)[:, None]
        points = ((1 - t) ** 3 * control[0] + 3 * (1 - t) ** 2 * t * control[1]
                  + 3 * (1 - t) * t**2 * control[2] + t**3 * control[3])
        fine = np.hypot(*np.diff(points, axis=0).T).sum()
        assert measured == pytest.approx(fine, rel=1e-3)
