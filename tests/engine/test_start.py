"""Sketching from given strokes through the real engine (tiny random-weight CLIP models):
locked strokes come back exactly, free ones move, new ones start away from the given ink."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from lxml import etree
from path_geometry import geometry, same_geometry
from PIL import Image, ImageDraw

from sketchify.core.config import SketchConfig
from sketchify.core.engine import Sketcher
from sketchify.core.errors import InputError
from sketchify.core.given.canvas import place, with_widths
from sketchify.core.given.strokes import from_items
from sketchify.core.output import provenance
from sketchify.core.output.plot import plot_svg
from sketchify.core.output.plot_settings import plot_settings
from sketchify.core.output.svg import SVG_NS, parse_svg
from sketchify.core.paths import parse_path
from sketchify.core.photo.geometry import Placement

WIDTH, HEIGHT = 96, 64
LINE = "M 10.25 12.5 L 80.125 50.0625"
CUBIC = "m 20 40 c 10 -30 40 -30 50 0 s 20 10 5 15"
ARC = "M 30 20 A 12 8 15 1 1 60 30"


def photo() -> Image.Image:
    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(img)
    draw.ellipse((20, 10, 70, 55), outline=(20, 20, 20), width=3)
    draw.rectangle((5, 40, 30, 60), fill=(90, 90, 90))
    return img


@pytest.fixture(scope="module")
def sketcher(tiny_models) -> Sketcher:
    return Sketcher(device="cpu", loss_model=str(tiny_models.loss_config),
                    loss_weights=str(tiny_models.loss_weights),
                    saliency_model=str(tiny_models.saliency_config),
                    saliency_weights=str(tiny_models.saliency_weights))


def config(steps: int, seeds: int = 2) -> SketchConfig:
    return SketchConfig(steps=steps, seeds=seeds, augmentations=1, eval_every=5, canvas=64)


def paths(svg: str) -> list[etree._Element]:
    return etree.fromstring(svg.encode()).findall(f"{{{SVG_NS}}}path")


def test_locked_strokes_come_back_exactly_and_free_ones_move(sketcher):
    start = from_items([{"d": LINE, "locked": True}, {"d": CUBIC, "locked": False},
                        {"d": ARC, "locked": True}])
    result = sketcher.sketch(photo(), strokes=6, config=config(50), start=start)
    svg = result.svg(6)
    found = paths(svg)
    assert len(found) == 6
    for element, item in ((found[0], LINE), (found[2], ARC)):
        # float64 all the way: the written path data reads back as the very same numbers
        assert [s.points for s in parse_path(element.get("d"))] == [
            s.points for s in parse_path(item)]
        assert parse_path(element.get("d"))[0].kind == parse_path(item)[0].kind
    assert parse_path(found[2].get("d"))[0].arc == parse_path(ARC)[0].arc
    given = from_items([{"d": CUBIC}]).strokes[0].cubic()
    moved = parse_svg(svg)[0].points
    # Row order of parse_svg: the line (1 row), the free stroke (1 row), then the arc's rows.
    free_now = moved[1]
    assert not torch.allclose(free_now, torch.tensor(given, dtype=torch.float64), atol=0.5)
    record = provenance.read(svg)
    assert record["format"] == provenance.FORMAT == 2
    assert record["start"] == {"given": 3, "locked": 2, "sha256": start.summary()["sha256"]}
    # The locked width is the job's width (none was given), written exactly.
    width = float(found[0].get("stroke-width"))
    assert width == pytest.approx(2 * SketchConfig().half_width / Placement(WIDTH, HEIGHT,
                                                                           64).scale)


def test_the_locked_ink_is_in_every_view_the_optimizer_sees(sketcher, monkeypatch):
    """The loss sees the locked strokes: the rendered sketches are darker where they lie."""
    import sketchify.core.optimize as optimize_module

    seen = []
    real = optimize_module.augment_pair

    def spy(sketches, target, warps, size):
        seen.append(sketches.detach().clone())
        return real(sketches, target, warps, size)

    monkeypatch.setattr(optimize_module, "augment_pair", spy)
    start = from_items([{"d": LINE, "locked": True}])
    sketcher.sketch(photo(), strokes=2, config=config(2), start=start)
    placed = place(with_widths(start, Placement(WIDTH, HEIGHT, 64), SketchConfig().half_width),
                   Placement(WIDTH, HEIGHT, 64))
    ink = placed.background < 0.5
    assert ink.sum() > 20
    for images in seen:
        assert (images[:, ink] < 0.5).all()


def test_new_strokes_start_away_from_the_given_ink(sketcher):
    picture = photo()
    target = sketcher.target(picture, None, 64)
    start = from_items([{"d": "M 20 10 L 20 60 L 70 60 L 70 10 Z", "locked": True},
                        {"d": "M 10 30 L 90 30", "locked": False}])
    placed = with_widths(start, target.placement, SketchConfig().half_width)
    given = place(placed, target.placement)
    starts = sketcher.starts(target, [3, 12], config(1, seeds=3), given)
    assert set(starts) == {2, 11}  # keyed by the strokes that move: the locked one is not
    for rows in starts.values():
        assert torch.equal(rows[:, 0], given.free[None].expand(3, -1, -1, -1)[:, 0])
        firsts = rows[:, 1:, 0].reshape(-1, 2)
        col, row = firsts[:, 0].floor().long(), firsts[:, 1].floor().long()
        assert given.uncovered[row, col].all()
    assert (~given.uncovered).sum() > 100  # the test means something: much ink is given


def test_counts_of_only_given_strokes_and_all_locked(sketcher):
    start = from_items([{"d": LINE, "locked": True}, {"d": ARC, "locked": True}])
    result = sketcher.sketch(photo(), strokes=(2, 3), config=config(3), start=start)
    assert result.steps == 3
    assert len(paths(result.svg(2))) == 2 and len(paths(result.svg(3))) == 3
    only = sketcher.sketch(photo(), strokes=2, config=config(3), start=start)
    assert only.steps == 0  # nothing moves: the start is evaluated, not optimized
    assert np.isfinite(only.sketches[2].loss)
    free = from_items([{"d": LINE}, {"d": CUBIC}])
    assert len(paths(sketcher.sketch(photo(), strokes=2, config=config(2), start=free).svg(2))) == 2


def test_a_count_below_the_given_strokes_and_far_points_are_refused(sketcher, monkeypatch):
    def no_mask(*args, **kwargs):
        raise AssertionError("the object mask ran before the start was checked")

    monkeypatch.setattr(sketcher, "object_mask", no_mask)
    start = from_items([{"d": LINE}, {"d": CUBIC}, {"d": ARC}])
    with pytest.raises(InputError, match="smallest count") as error:
        sketcher.sketch(photo(), strokes=(2, 8), config=config(1), start=start)
    assert error.value.field == "start"
    far = from_items([{"d": f"M 0 0 L {3 * WIDTH} 10"}])
    with pytest.raises(InputError, match="outside"):
        sketcher.sketch(photo(), strokes=4, config=config(1), start=far)
    # Both ends of this arc are on the photo; its sweep is far off it.
    far_arc = from_items([{"d": "M 0 0 A 1e12 1e12 0 1 1 10 0"}])
    with pytest.raises(InputError, match="outside"):
        sketcher.sketch(photo(), strokes=4, config=config(1), start=far_arc, mask="auto")


def test_with_a_mask_new_strokes_start_on_the_object_and_off_the_given_ink(sketcher):
    mask = Image.new("L", (WIDTH, HEIGHT), 0)
    ImageDraw.Draw(mask).rectangle((10, 5, 80, 60), fill=255)
    data = io.BytesIO()
    mask.save(data, format="PNG")
    picture = photo()
    object_mask = sketcher.object_mask(picture, "file", data.getvalue(), picture=picture)
    target = sketcher.target(picture, object_mask, 64)
    start = from_items([{"d": "M 20 10 L 20 55 L 70 55", "locked": True}])
    given = place(with_widths(start, target.placement, SketchConfig().half_width),
                  target.placement)
    starts = sketcher.starts(target, [9], config(1, seeds=2), given)
    firsts = starts[8][:, :, 0].reshape(-1, 2)
    col, row = firsts[:, 0].floor().long(), firsts[:, 1].floor().long()
    assert given.uncovered[row, col].all() and (target.mask[row, col] > 0).all()
    result = sketcher.sketch(picture, strokes=(4, 9), config=config(2), mask=object_mask,
                             start=start)
    assert [len(paths(result.svg(n))) for n in (4, 9)] == [4, 9]


def test_a_start_sketch_plots_whole_paths_at_the_pen(sketcher):
    """The plot of a result whose first path is a locked arc and line: every path ordered and
    turned whole, its geometry unchanged, each at the pen's width, both settings recorded."""
    locked = ARC + " L 85 55"
    start = from_items([{"d": locked, "locked": True}])
    svg = sketcher.sketch(photo(), strokes=8, config=config(3, seeds=1), start=start).svg(8)
    plotted = plot_svg(svg, plot_settings(size_mm=WIDTH, pen_mm=0.3))  # 1 mm per photo pixel
    found = paths(plotted.svg)
    assert len(found) == 8 and {p.get("stroke-width") for p in found} == {"0.3"}
    assert same_geometry([geometry(p.get("d")) for p in found],
                         [geometry(p.get("d")) for p in paths(svg)])
    assert plotted.travel_mm <= plotted.travel_before_mm
    kinds = sorted("".join(s.kind for s in parse_path(p.get("d"))) for p in found)
    assert kinds[0] in ("AL", "LA") and kinds[1:] == ["C"] * 7  # the locked path, new cubics
    (arc,) = [s for p in found for s in parse_path(p.get("d")) if s.kind == "A"]
    forwards = arc.start == pytest.approx((30, 20), abs=1e-4)
    assert forwards or arc.end == pytest.approx((30, 20), abs=1e-4)
    assert arc.arc[:2] == pytest.approx((12, 8)) and arc.arc[3:] == (True, forwards)
    record = provenance.read(plotted.svg)
    assert record["start"] == start.summary() and record["plot"]["pen_mm"] == 0.3
