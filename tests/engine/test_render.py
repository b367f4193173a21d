"""The stroke rasterizer against a supersampled reference, finite differences and its own
dense (unculled) evaluation, plus its edge cases."""

import math

import pytest
import torch

from sketchify.core.errors import InputError
from sketchify.core.method.render import rasterize, rasterize_dense


def random_strokes(gen, shape, size, step, dtype=torch.float64):
    """CLIPasso-like strokes: a random start, then a random walk of +-step px per point."""
    start = torch.rand(*shape, 1, 2, generator=gen, dtype=dtype) * size
    walk = (torch.rand(*shape, 3, 2, generator=gen, dtype=dtype) * 2 - 1) * step
    return torch.cat([start, start + walk.cumsum(-2)], -2)


def bezier(points, u):
    """Points on cubics [N, 4, 2] at parameters u [U] -> [N, U, 2]."""
    u = u[:, None]
    weights = torch.cat([(1 - u) ** 3, 3 * u * (1 - u) ** 2, 3 * u**2 * (1 - u), u**3], 1)
    return weights @ points


def distance(points, curve):
    """Exact distance from points [M, 2] to the polyline curve [U, 2] -> [M]."""
    points, curve = points.float(), curve.float()  # float32 is plenty for a 0.001 px answer
    a, e = curve[:-1], curve.diff(dim=0)
    out = []
    for chunk in points.split(4096):
        p = chunk[:, None] - a
        t = ((p * e).sum(-1) / e.square().sum(-1).clamp_min(1e-30)).clamp(0, 1)
        out.append((p - t[..., None] * e).norm(dim=-1).amin(-1))
    return torch.cat(out)


def supersampled(points, half_width, opacity, size, samples=16, segments=64):
    """Reference image: `samples` x `samples` binary samples per pixel, each inked iff it lies
    within half_width of a finely flattened curve, composited per sample, then averaged.

    Only pixels whose centre is within half a pixel diagonal of the stroke's edge are sampled
    one by one: by the triangle inequality the others are all inked or all blank."""
    axis = torch.arange(size, dtype=torch.float64) + 0.5
    centres = torch.stack(torch.meshgrid(axis, axis, indexing="xy"), -1).reshape(-1, 2)
    sub = (torch.arange(samples, dtype=torch.float64) + 0.5) / samples - 0.5
    sub = torch.stack(torch.meshgrid(sub, sub, indexing="xy"), -1).reshape(-1, 2)
    image = torch.ones(size * size, samples * samples, dtype=torch.float64)
    curves = bezier(points.double(), torch.linspace(0, 1, segments + 1, dtype=torch.float64))
    for curve, radius, alpha in zip(curves, half_width.tolist(), opacity.tolist(), strict=True):
        lo, hi = curve.amin(0) - radius - 1, curve.amax(0) + radius + 1
        near = ((centres > lo) & (centres < hi)).all(-1).nonzero()[:, 0]
        d = distance(centres[near], curve)
        inside = near[d <= radius - 0.5**0.5]
        edge = near[(d - radius).abs() < 0.5**0.5]
        spots = (centres[edge, None] + sub).reshape(-1, 2)
        inked = (distance(spots, curve) <= radius).reshape(len(edge), -1)
        image[inside] *= 1 - alpha
        image[edge] *= 1 - alpha * inked.double()
    return image.mean(-1).reshape(size, size)


@pytest.mark.parametrize(
    ("count", "step", "seed"),
    [(1, 5.6, 0), (4, 12.0, 1), (16, 5.6, 2), (64, 5.6, 3), (24, 20.0, 4)],
)
def test_matches_supersampled_reference(count, step, seed):
    size = 64
    gen = torch.Generator().manual_seed(seed)
    points = random_strokes(gen, (count,), size, step)
    half_width = 0.6 + 2 * torch.rand(count, generator=gen, dtype=torch.float64)
    opacity = 0.3 + 0.7 * torch.rand(count, generator=gen, dtype=torch.float64)
    opacity[::2] = 1.0
    ours = rasterize(points.float(), half_width.float(), opacity.float(), size).double()
    ref = supersampled(points, half_width, opacity, size)
    ink = (1 - ref).sum().item()
    assert ink > 5
    assert (ours - ref).abs().sum().item() <= 0.03 * ink
    assert abs((1 - ours).sum().item() - ink) <= 0.01 * ink


def test_gradients_match_finite_differences():
    gen = torch.Generator().manual_seed(5)
    points = random_strokes(gen, (3,), 14, 3.0).requires_grad_()
    half_width = torch.tensor([1.3, 0.8, 2.1], dtype=torch.float64, requires_grad=True)
    opacity = torch.tensor([0.9, 0.6, 0.75], dtype=torch.float64, requires_grad=True)
    weights = torch.rand(14, 14, generator=gen, dtype=torch.float64)

    def loss(p, w, o):
        return (rasterize(p, w, o, 14) * weights).sum()

    assert torch.autograd.gradcheck(loss, (points, half_width, opacity), eps=1e-6, atol=1e-5)


def test_gradient_through_fully_inked_pixels_is_exact_and_finite():
    # Stroke 0 fully covers the middle pixel with opacity 1 (a factor of exactly 0): its
    # opacity gradient there is minus the product of the other strokes' factors.
    points = torch.tensor(
        [
            [[2.0, 8.5], [6.0, 8.5], [10.0, 8.5], [14.0, 8.5]],
            [[8.5, 2.0], [8.5, 6.0], [8.5, 10.0], [8.5, 14.0]],
            [[2.0, 2.0], [6.0, 6.0], [10.0, 10.0], [14.0, 14.0]],
        ],
        dtype=torch.float64,
    )
    points.requires_grad_()
    half_width = torch.tensor([1.5, 0.4, 1.5], dtype=torch.float64, requires_grad=True)
    opacity = torch.tensor([1.0, 0.5, 1.0], dtype=torch.float64, requires_grad=True)
    image = rasterize(points, half_width, opacity, 16)
    assert image[8, 8].item() == 0.0
    grads = torch.autograd.grad(image[8, 8], (points, half_width, opacity))
    others = rasterize(points[1:2], half_width[1:2], opacity[1:2], 16)[8, 8]
    # Strokes 0 and 2 both zero the pixel: each one's gradient is 0, as is stroke 1's.
    assert torch.equal(grads[2], torch.zeros(3, dtype=torch.float64))
    pair = rasterize(points[:2], half_width[:2], opacity[:2], 16)
    (g_opacity,) = torch.autograd.grad(pair[8, 8], opacity)
    assert g_opacity[0].item() == pytest.approx(-others.item(), rel=1e-12)
    assert g_opacity[1].item() == 0.0
    rasterize(points, half_width, opacity, 16).sum().backward()
    for tensor in (points, half_width, opacity):
        assert torch.isfinite(tensor.grad).all()


def scene_with_edge_cases(dtype):
    gen = torch.Generator().manual_seed(7)
    points = random_strokes(gen, (3, 2, 10), 40, 8.0, dtype)
    points[0, 0, 0] = torch.tensor([[-30.0, -30], [-25, -20], [-20, -28], [-33, -31]])  # off
    points[0, 0, 1] = torch.tensor([[-3.0, 10], [10, 12], [20, 35], [45, 50]])  # partly off
    points[1, 1, 2] = torch.tensor([17.3, 21.8]).expand(4, 2)  # a dot
    points[2, 0, 3] = torch.tensor([[0.0, 0], [40, 0], [0, 40], [40, 40]])  # whole canvas
    return points


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-10), (torch.float32, 2e-3)])
def test_culled_equals_dense(dtype, tol):
    points = scene_with_edge_cases(dtype).requires_grad_()
    half_width = torch.linspace(0.3, 3.0, 10, dtype=dtype).requires_grad_()  # broadcast
    opacity = torch.full((3, 1, 10), 0.8, dtype=dtype).requires_grad_()
    weights = torch.rand(40, 36, generator=torch.Generator().manual_seed(8), dtype=dtype)
    results = []
    for render in (rasterize, rasterize_dense):
        image = render(points, half_width, opacity, (40, 36))
        assert image.shape == (3, 2, 40, 36)
        grads = torch.autograd.grad((image * weights).sum(), (points, half_width, opacity))
        results.append((image, *grads))
    # A dot's control points tie for nearest, so how its gradient splits among them is
    # arbitrary; their sum (moving the dot) is not.
    for grads in results:
        grads[1][1, 1, 2] = grads[1][1, 1, 2].sum(0) / 4
    for culled, dense in zip(*results, strict=True):
        scale = dense.abs().max().item()
        assert (culled - dense).abs().max().item() <= tol * max(scale, 1)
    assert results[0][0].min().item() < 0.05  # there is ink


def test_batch_items_render_independently():
    points = scene_with_edge_cases(torch.float32)
    together = rasterize(points, 1.5, 1.0, 40)
    alone = rasterize(points[2, 1], 1.5, 1.0, 40)
    # Each stroke is flattened as finely as its own curvature asks, whatever else the batch
    # holds: the images agree up to rounding.
    torch.testing.assert_close(together[2, 1], alone, rtol=0, atol=1e-6)
    assert (1 - alone).sum() > 1  # there is ink


def test_degenerate_stroke_is_a_round_dot():
    points = torch.tensor([20.3, 19.6]).expand(1, 4, 2)
    image = rasterize(points, 3.0, 1.0, 40)
    assert (1 - image).sum().item() == pytest.approx(math.pi * 9, rel=0.03)
    ys, xs = torch.nonzero(image < 0.5, as_tuple=True)
    assert (xs.float() + 0.5 - 20.3).abs().max() <= 3.0
    assert (ys.float() + 0.5 - 19.6).abs().max() <= 3.0


def test_no_strokes_gives_white_and_still_differentiates():
    points = torch.zeros(2, 0, 4, 2, requires_grad=True)
    image = rasterize(points, torch.zeros(2, 0), torch.zeros(2, 0), (5, 7))
    assert image.shape == (2, 5, 7)
    assert torch.equal(image, torch.ones(2, 5, 7))
    image.sum().backward()
    assert points.grad.shape == (2, 0, 4, 2)


def test_strokes_off_canvas_leave_it_white():
    points = torch.tensor(
        [[[-50.0, 10], [-40, 12], [-30, 11], [-20, 14]], [[80.0, 80], [90, 90], [95, 85], [99, 99]]]
    )
    assert torch.equal(rasterize(points, 2.0, 1.0, 32), torch.ones(32, 32))


def test_same_input_same_image():
    gen = torch.Generator().manual_seed(9)
    points = random_strokes(gen, (32,), 64, 6.0, torch.float32)
    assert torch.equal(rasterize(points, 1.5, 1.0, 64), rasterize(points, 1.5, 1.0, 64))


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"points": torch.tensor([[[0.0, 0], [1, 1], [math.nan, 2], [3, 3]]])}, "points", "NaN"),
        ({"half_width": torch.tensor([math.inf])}, "half_width", "infinite"),
        ({"opacity": torch.tensor([1.5])}, "opacity", "[0, 1]"),
        ({"half_width": torch.tensor([-1.0])}, "half_width", "negative"),
        ({"points": torch.zeros(3, 2)}, "points", "[..., N, 4, 2]"),
        ({"half_width": torch.ones(3)}, "half_width", "broadcast"),
        ({"size": (0, 5)}, "size", "positive"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, field, words):
    args = {
        "points": torch.ones(1, 4, 2),
        "half_width": torch.ones(1),
        "opacity": torch.ones(1),
        "size": 8,
    } | kwargs
    with pytest.raises(InputError, match=None) as error:
        rasterize(**args)
    assert error.value.field == field
    assert words in str(error.value)
