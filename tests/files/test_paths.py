"""The one path-data parser: every command, relative and absolute, implicit repeats, several
subpaths; exact lines and quadratics, arcs within 0.1 px, one fitted cubic; transforms."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from sketchify.core.errors import InputError
from sketchify.core.given.strokes import from_svg
from sketchify.core.paths import (
    ARC_TOLERANCE,
    bounds,
    cubics,
    exact,
    fit_cubic,
    parse_path,
    parse_transform,
    path_data,
    transformed,
)


def bezier(c, t):
    c = np.asarray(c, dtype=np.float64)
    t = np.asarray(t)[:, None]
    u = 1 - t
    return u**3 * c[0] + 3 * t * u * u * c[1] + 3 * t * t * u * c[2] + t**3 * c[3]


def ends(d: str) -> list[tuple]:
    return [(s.kind, s.points) for s in parse_path(d)]


@pytest.mark.parametrize(("relative", "absolute"), [
    ("m 1 2 l 3 4 5 6", "M 1 2 L 4 6 L 9 12"),
    ("m 1 2 3 4", "M 1 2 L 4 6"),  # pairs after a moveto are lines
    ("M1,2h3v4H0V0z", "M 1 2 L 4 2 L 4 6 L 0 6 L 0 0 L 1 2"),
    ("m 0 0 c 1 1 2 2 3 3 s 2 2 3 3", "M 0 0 C 1 1 2 2 3 3 C 4 4 5 5 6 6"),
    ("M0 0 q 5 5 10 0 t 10 0", "M 0 0 Q 5 5 10 0 Q 15 -5 20 0"),
    ("M 0 0 S 5 5 6 6", "M 0 0 C 0 0 5 5 6 6"),  # S without a C before: the first control
    ("M 0 0 L 1 1 m 4 4 l 1 1", "M 0 0 L 1 1 M 5 5 L 6 6"),
    ("M1-2.5.5.5e1", "M 1 -2.5 L 0.5 5"),
])
def test_relative_commands_and_repeats_read_as_absolute(relative, absolute):
    got, want = ends(relative), ends(absolute)
    assert [p for _, p in got] == [p for _, p in want]


def test_z_closes_the_subpath_and_writes_back_as_z():
    segments = parse_path("M 0 0 L 5 0 L 5 5 z m 1 1 l 1 0")
    assert [s.kind for s in segments] == ["L", "L", "Z", "L"]
    assert segments[3].points == ((1.0, 1.0), (2.0, 1.0))  # after z, relative to the start
    assert parse_path(path_data(segments)) == segments
    # A subpath that starts where the last one ended keeps its moveto: Z closes to it.
    joined = parse_path("M0 0 L 10 0 M 10 0 L 10 10 Z")
    assert path_data(joined, exact) == "M 0 0 L 10 0 M 10 0 L 10 10 Z"
    assert joined[-1].points == ((10.0, 10.0), (10.0, 0.0))
    assert parse_path(path_data(joined)) == joined
    assert transformed(joined, (2.0, 0.0, 0.0, 2.0, 0.0, 0.0))[1].opens


def test_arcs_with_compact_flags_and_their_exact_write_back():
    (arc,) = parse_path("M10 0a10 10 0 0110 10")
    assert arc.arc == (10.0, 10.0, 0.0, False, True) and arc.end == (20.0, 10.0)
    assert parse_path(path_data([arc], exact)) == [arc]


@pytest.mark.parametrize("d", [
    "M 0 0 A 300 100 30 1 1 400 50", "M 10 10 A 5 8 -20 0 0 20 5", "M 0 0 a 2 2 0 1 0 1 0",
    "M 0 0 A 1 1 0 0 1 500 0",  # radii too small: scaled up to a half ellipse
])
def test_arcs_become_cubics_within_a_tenth_of_a_pixel(d):
    (arc,) = parse_path(d)
    rx, ry, angle, large, sweep = arc.arc
    pieces = cubics([arc])
    assert pieces[0][0] == arc.start and pieces[-1][3] == arc.end
    points = np.concatenate([bezier(c, np.linspace(0, 1, 101)) for c in pieces])
    # Distance to the ellipse through both ends, found from the pieces' own first point:
    # the centre that SVG's endpoint form implies, computed independently here.
    phi = math.radians(angle)
    rot = np.array([[math.cos(phi), -math.sin(phi)], [math.sin(phi), math.cos(phi)]])
    (x1, y1), (x2, y2) = arc.start, arc.end
    p = rot.T @ np.array([(x1 - x2) / 2, (y1 - y2) / 2])
    grow = max(1.0, (p[0] / rx) ** 2 + (p[1] / ry) ** 2)
    rx, ry = rx * math.sqrt(grow), ry * math.sqrt(grow)
    root = math.sqrt(max(0.0, (rx * rx * ry * ry - rx * rx * p[1] ** 2 - ry * ry * p[0] ** 2)
                         / (rx * rx * p[1] ** 2 + ry * ry * p[0] ** 2)))
    root *= -1 if large == sweep else 1
    centre = rot @ np.array([root * rx * p[1] / ry, -root * ry * p[0] / rx]) + [
        (x1 + x2) / 2, (y1 + y2) / 2]
    ts = np.linspace(0, 2 * math.pi, 200_001)
    ellipse = (rot @ np.stack([rx * np.cos(ts), ry * np.sin(ts)])).T + centre
    for point in points[::7]:
        assert np.min(np.linalg.norm(ellipse - point, axis=1)) <= ARC_TOLERANCE


def test_lines_and_quadratics_become_exact_cubics():
    (line,), (quad,) = cubics(parse_path("M 0 0 L 3 6")), cubics(parse_path("M 0 0 Q 3 6 9 0"))
    assert line == ((0, 0), (1, 2), (2, 4), (3, 6))
    t = np.linspace(0, 1, 11)[:, None]
    exact_quad = (1 - t) ** 2 * [0, 0] + 2 * t * (1 - t) * [3, 6] + t**2 * [9, 0]
    assert np.allclose(bezier(quad, t[:, 0]), exact_quad, atol=1e-12)


def test_a_free_stroke_of_several_segments_is_fitted_to_one_cubic():
    one = ((0.0, 0.0), (10.0, 30.0), (40.0, 30.0), (50.0, 0.0))
    halves = cubics(parse_path("M 0 0 C 5 15 15 22.5 25 22.5 C 35 22.5 45 15 50 0"))
    fitted = fit_cubic(halves)
    assert fitted[0] == one[0] and fitted[3] == one[3]
    # The two halves are a de Casteljau split of `one`: the fit finds it again.
    assert np.allclose(fitted, one, atol=1e-9)
    assert fit_cubic([one]) == one
    # A polyline: the fitted cubic passes near every corner.
    corners = fit_cubic(cubics(parse_path("M 0 0 L 10 8 L 20 10 L 30 8 L 40 0")))
    curve = bezier(corners, np.linspace(0, 1, 1001))
    for corner in ((10, 8), (20, 10), (30, 8)):
        assert np.min(np.linalg.norm(curve - corner, axis=1)) < 1.0


@pytest.mark.parametrize("d", ["L 1 1", "M 0", "M 0 0 L 1", "M 0 0 X 1 1", "M 0 0 L 1 1 junk",
                               "M 0 0 A 1 1 0 2 0 5 5", "M 0 0 L 1e999 0", "M 0 0 L nan 0",
                               "M 0 0 A 1e200 1e200 0 1 1 10 0"])
def test_broken_path_data_is_refused(d):
    with pytest.raises(InputError):
        parse_path(d)


def test_an_arc_made_huge_by_a_transform_is_refused_not_converted_forever():
    (arc,) = transformed(parse_path("M 0 0 A 1 1 0 1 1 1e-100 0"), (1e100, 0, 0, 1e100, 0, 0))
    with pytest.raises(InputError, match="too large to draw"):
        cubics([arc])


def test_an_arc_that_ends_where_it_starts_draws_nothing_as_svg_says():
    assert parse_path("M 5 5 A 1 1 0 0 1 5 5") == []
    (line,) = parse_path("M 5 5 A 1 1 0 0 1 5 5 L 6 6")
    assert line.kind == "L" and line.opens


@pytest.mark.parametrize("d", [
    "M 0 0 A 300 100 30 1 1 400 50", "M 10 10 A 5 8 -20 0 0 20 5", "M 0 0 A 5 5 0 0 1 10 0",
    "M 0 0 A 1e6 1e6 0 0 1 10 0", "M 0 0 A 1e6 1e6 0 1 1 10 0", "M 0 0 A 0 5 0 0 1 10 0",
])
def test_the_bounds_of_an_arc_are_the_box_of_what_it_draws(d):
    (arc,) = parse_path(d)
    points = np.concatenate([bezier(c, np.linspace(0, 1, 201)) for c in cubics([arc])])
    box = np.asarray(bounds(arc))
    low, high = box.min(axis=0), box.max(axis=0)
    slack = ARC_TOLERANCE + 1e-6 * max(1.0, float(np.abs(box).max()))
    assert np.all(points >= low - slack) and np.all(points <= high + slack)
    # Tight: each side of the box is reached by the drawn curve.
    assert np.all(np.abs(points.min(axis=0) - low) <= slack)
    assert np.all(np.abs(points.max(axis=0) - high) <= slack)


def test_transforms_compose_as_svg_says():
    m = parse_transform("translate(10 5) scale(2) rotate(90)")
    (seg,) = transformed(parse_path("M 1 0 L 0 0"), m)
    assert np.allclose(seg.points, ((10, 7), (10, 5)))
    assert np.allclose(parse_transform("rotate(90 5 5)")[4:], (10, 0))
    assert parse_transform("matrix(1,0,0,1,3,4)") == (1, 0, 0, 1, 3, 4)
    for bad in ("translate(1", "spin(3)", "scale(1, 2, 3)"):
        with pytest.raises(InputError):
            parse_transform(bad)


def test_an_arc_under_a_mirror_and_a_stretch_stays_the_same_curve():
    (arc,) = parse_path("M 0 0 A 20 10 30 0 1 25 10")
    m = (-1.5, 0.0, 0.5, 2.0, 3.0, 4.0)
    (moved,) = transformed([arc], m)
    before = np.concatenate([bezier(c, np.linspace(0, 1, 50)) for c in cubics([arc])])
    mapped = before @ np.array([[m[0], m[1]], [m[2], m[3]]]) + m[4:]
    after = np.concatenate([bezier(c, np.linspace(0, 1, 400)) for c in cubics([moved])])
    for point in mapped:
        assert np.min(np.linalg.norm(after - point, axis=1)) < 2 * ARC_TOLERANCE


def test_a_start_svg_maps_its_viewbox_onto_the_photo_and_ignores_the_rest():
    svg = b"""<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>
    <svg xmlns="http://www.w3.org/2000/svg" viewBox="-10 -10 50 25">
      <text>&x;</text><circle r="3"/>
      <g transform="scale(2)"><path d="M 0 0 L 10 5" stroke-width="1"/></g>
      <path d="M 5 5"/>
    </svg>"""
    start = from_svg(svg, 100, 50, lock=True)
    (stroke,) = start.strokes  # the circle is no path; the bare moveto draws nothing
    assert stroke.locked and stroke.segments[0].points == ((20.0, 20.0), (60.0, 40.0))
    assert stroke.width == 4.0
    sized = from_svg(b'<svg xmlns="http://www.w3.org/2000/svg" width="50" height="25">'
                     b'<path d="M 0 0 L 50 25"/></svg>', 100, 50)
    assert sized.strokes[0].segments[0].end == (100.0, 50.0) and not sized.strokes[0].locked


@pytest.mark.parametrize(("own", "group", "width"), [
    ('stroke-width="1cm"', "stroke-width:4", 96 / 2.54),
    ('style="stroke-width:2mm"', "", 96 / 12.7), ('stroke-width="3pt"', "", 4.0),
    ('stroke-width="0.5in"', "", 48.0), ('stroke-width="1pc"', "", 16.0),
    ('stroke-width="inherit"', "stroke-width:4", 4.0), ('stroke-width="2PX"', "", 2.0),
])
def test_a_start_svg_reads_stroke_widths_in_absolute_units(own, group, width):
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 50 25"><g style="{group}">'
           f'<path d="M 0 0 L 10 0" {own}/></g></svg>')
    (stroke,) = from_svg(svg.encode(), 100, 50).strokes  # the photo is twice the viewBox
    assert stroke.width == pytest.approx(2 * width, rel=1e-12)


@pytest.mark.parametrize(("svg", "why"), [
    ('viewBox="0 0 50 25"><path d="M 0 0 L 1 0" stroke-width="1em"/>',
     "<path> 1: stroke-width '1em' is not a length in px, mm, cm, in, pt or pc"),
    ('viewBox="0 0 50 25"><path d="M 0 0 L 1 0" style="stroke-width:5%"/>', "not a length"),
    ('width="0" height="25"><path d="M 0 0 L 1 0"/>', "size 0 x 25 is empty"),
    ('width="50" height="-2mm"><path d="M 0 0 L 1 0"/>', "is empty"),
    ('width="3ft" height="25"><path d="M 0 0 L 1 0"/>', "the SVG's width '3ft' is not a length"),
])
def test_a_start_svg_with_a_size_or_width_that_is_no_length_is_refused(svg, why):
    with pytest.raises(InputError, match=re.escape(why)) as error:
        from_svg(f'<svg xmlns="http://www.w3.org/2000/svg" {svg}</svg>'.encode(), 100, 50)
    assert error.value.field == "start"


def test_a_start_svg_sized_in_mm_covers_the_photo():
    svg = (b'<svg xmlns="http://www.w3.org/2000/svg" width="10mm" height="5mm">'
           b'<path d="M 0 0 L 1 0"/></svg>')
    (stroke,) = from_svg(svg, 100, 50).strokes
    assert stroke.segments[0].end == pytest.approx((100 / (10 * 96 / 25.4), 0.0), rel=1e-12)


def test_a_start_svg_reads_only_drawn_paths_and_the_root_transform():
    hidden = "".join(f'<{tag}><path d="M 0 0 L 9 9"/></{tag}>'
                     for tag in ("defs", "clipPath", "mask", "marker", "symbol", "pattern"))
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 50" '
           f'transform="translate(10 5)">{hidden}<path d="M 0 0 L 10 0"/></svg>')
    (stroke,) = from_svg(svg.encode(), 100, 50).strokes
    assert stroke.segments[0].points == ((10.0, 5.0), (20.0, 5.0))
    nested = (b'<svg xmlns="http://www.w3.org/2000/svg"><svg x="50" viewBox="0 0 10 10">'
              b'<path d="M 0 0 L 10 10"/></svg></svg>')
    with pytest.raises(InputError, match="<path> 1 is inside a nested <svg>"):
        from_svg(nested, 100, 50)
