import io

import numpy as np
import pytest
import torch
from lxml import etree
from PIL import Image

from sketchify.core.errors import InputError
from sketchify.core.method.strokes import Strokes
from sketchify.core.output.svg import SVG_NS, parse_svg, to_svg
from sketchify.core.photo.geometry import Placement

PLACEMENTS = [
    Placement(224, 224),
    Placement(451, 300),
    Placement(300, 451),
    Placement(1, 999),
    Placement(4096, 3001),
    Placement(640, 480, canvas=512),
]


def random_strokes(n: int, seed: int, canvas: int = 224) -> Strokes:
    g = torch.Generator().manual_seed(seed)
    points = torch.rand(n, 4, 2, generator=g) * canvas * 1.2 - 0.1 * canvas
    half_width = 0.5 + 2 * torch.rand(n, generator=g)
    opacity = torch.rand(n, generator=g).clamp(min=0.2)
    opacity[0] = 1.0
    return Strokes(points, half_width, opacity)


@pytest.mark.parametrize("placement", PLACEMENTS, ids=str)
def test_placement_maps_both_ways(placement):
    pts = torch.rand(50, 2, dtype=torch.float64) * torch.tensor([placement.width, placement.height])
    back = placement.to_image(placement.to_canvas(pts))
    assert torch.allclose(back, pts, atol=1e-9)
    # The image's own box lands centred inside the canvas square.
    corners = torch.tensor([[0.0, 0.0], [placement.width, placement.height]], dtype=torch.float64)
    (x0, y0), (x1, y1) = placement.to_canvas(corners).tolist()
    c = placement.canvas
    assert x0 >= 0 and y0 >= 0 and x1 <= c + 1e-9 and y1 <= c + 1e-9
    assert min(x0, y0) == 0 and max(x1, y1) == pytest.approx(c)
    assert abs(x0 - (c - x1)) <= placement.scale + 1e-9
    assert abs(y0 - (c - y1)) <= placement.scale + 1e-9


@pytest.mark.parametrize("placement", PLACEMENTS, ids=str)
def test_round_trip_exact_to_1e4_px(placement):
    strokes = random_strokes(32, seed=placement.width, canvas=placement.canvas)
    parsed, width, height = parse_svg(to_svg(strokes, placement))

    assert (width, height) == (placement.width, placement.height)
    expected = placement.to_image(strokes.points.double())
    assert parsed.points.shape == (32, 4, 2)
    assert (parsed.points - expected).abs().max().item() <= 1e-4
    expected_hw = strokes.half_width.double() / placement.scale
    assert (parsed.half_width - expected_hw).abs().max().item() <= 1e-4
    assert (parsed.opacity - strokes.opacity.double()).abs().max().item() <= 1e-4


def test_svg_structure_overlays_the_image():
    placement = Placement(451, 300)
    text = to_svg(random_strokes(16, seed=1), placement)
    root = etree.fromstring(text.encode())
    assert root.tag == f"{{{SVG_NS}}}svg"
    assert (root.get("width"), root.get("height"), root.get("viewBox")) == (
        "451",
        "300",
        "0 0 451 300",
    )
    paths = root.findall(f"{{{SVG_NS}}}path")
    assert len(paths) == 16
    for path in paths:
        assert path.get("fill") == "none"
        assert path.get("stroke") == "#000"
        assert path.get("stroke-linecap") == "round"
        assert path.get("stroke-linejoin") == "round"
        assert path.get("d").startswith("M ") and " C " in path.get("d")


def test_stroke_width_is_twice_half_width_in_image_pixels():
    placement = Placement(448, 224)  # 2 image px per canvas px
    strokes = Strokes(torch.zeros(1, 4, 2), torch.tensor([1.5]), torch.tensor([1.0]))
    path = etree.fromstring(to_svg(strokes, placement).encode()).find(f"{{{SVG_NS}}}path")
    assert float(path.get("stroke-width")) == pytest.approx(6.0)
    assert path.get("stroke-opacity") is None


def test_empty_sketch_round_trips():
    strokes = Strokes(torch.zeros(0, 4, 2), torch.zeros(0), torch.zeros(0))
    parsed, width, height = parse_svg(to_svg(strokes, Placement(10, 20)))
    assert len(parsed) == 0 and (width, height) == (10, 20)


@pytest.mark.parametrize(
    "text",
    [
        "not xml",
        f'<svg xmlns="{SVG_NS}"/>',
        f'<svg xmlns="{SVG_NS}" width="9" height="9"><path d="M 0 0 L 1"/></svg>',
        f'<svg xmlns="{SVG_NS}" width="9" height="9"><path d="0 0 L 1 1"/></svg>',
        # An arc whose radius would take forever to convert to cubics.
        f'<svg xmlns="{SVG_NS}" width="9" height="9"><path d="M 0 0 A 1e200 1e200 0 1 1 1 0"/>'
        "</svg>",
    ],
)
def test_parse_rejects_what_it_cannot_read(text):
    with pytest.raises(InputError):
        parse_svg(text)


def test_parse_reads_a_locked_path_of_several_segments_as_cubics():
    """A locked stroke is written back as it was given: lines and quadratics read as exact
    cubics, one row per segment, each with the path's width."""
    text = (f'<svg xmlns="{SVG_NS}" width="9" height="9"><path d="M 0 0 L 3 0 Q 6 0 6 3" '
            'stroke-width="2"/><path d="M 1 1 C 2 2 3 3 4 4"/></svg>')
    parsed, _, _ = parse_svg(text)
    assert parsed.points.tolist() == [[[0, 0], [1, 0], [2, 0], [3, 0]],
                                      [[3, 0], [5, 0], [6, 1], [6, 3]],
                                      [[1, 1], [2, 2], [3, 3], [4, 4]]]
    assert parsed.half_width.tolist() == [1, 1, 0.5]


@pytest.mark.parametrize("placement", [Placement(224, 224), Placement(300, 200)], ids=str)
def test_independent_renderer_agrees_with_rasterize(placement):
    """cairosvg draws our SVG text; rasterize draws the same strokes: the pictures must match."""
    cairosvg = pytest.importorskip("cairosvg")
    from sketchify.core.method.render import rasterize

    g = torch.Generator().manual_seed(7)
    start = torch.rand(12, 1, 2, generator=g) * 180 + 22
    points = start + torch.cumsum(torch.rand(12, 4, 2, generator=g) * 30 - 15, dim=1) * (
        torch.arange(4).view(1, 4, 1) > 0
    )
    strokes = Strokes(points, torch.full((12,), 1.5), torch.ones(12))

    png = cairosvg.svg2png(bytestring=to_svg(strokes, placement).encode(), background_color="white")
    cairo = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64) / 255
    assert cairo.shape == (placement.height, placement.width)

    ours = rasterize(
        placement.to_image(points.double()),
        strokes.half_width.double() / placement.scale,
        strokes.opacity.double(),
        (placement.height, placement.width),
    ).numpy()
    ink_cairo, ink_ours = (1 - cairo).sum(), (1 - ours).sum()
    assert ink_ours == pytest.approx(ink_cairo, rel=0.03)
    assert np.abs(cairo - ours).sum() <= 0.06 * ink_cairo
