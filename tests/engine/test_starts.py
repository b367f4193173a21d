"""Saliency initialization: XDoG edges, ViT attention (checked against an independent
computation), and sampled start strokes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.color import rgb2gray
from tiny_models import SALIENCY_CONFIG, write_model

from sketchify.core.clip.models import load_clip, normalize
from sketchify.core.method.starts import attention_map, init_strokes, saliency_map, xdog
from sketchify.core.photo.target import make_target


@pytest.fixture(scope="module")
def vit(tiny_models):
    return load_clip(str(tiny_models.saliency_config), str(tiny_models.saliency_weights))


def grey_square(size: int = 160, value: float = 0.5) -> np.ndarray:
    gray = np.ones((size, size))
    gray[40:120, 40:120] = value
    return gray


def test_xdog_marks_the_edges_of_a_shape_as_one():
    edges = xdog(grey_square()).numpy()
    assert set(np.unique(edges)) == {0.0, 1.0}
    # Ink lies on the dark side of the outline: pixels darker than their wide surround.
    inner_ring = np.zeros_like(edges, dtype=bool)
    inner_ring[40:120, 40:120] = True
    inner_ring[44:116, 44:116] = False
    assert edges[inner_ring].mean() > 0.9
    assert edges[60:100, 60:100].sum() == 0  # the flat middle of the square
    outside = np.ones_like(edges, dtype=bool)
    outside[38:122, 38:122] = False
    assert edges[outside].sum() == 0  # the paper


def test_xdog_takes_tensors_and_arrays_alike():
    gray = grey_square()
    assert torch.equal(xdog(gray), xdog(torch.from_numpy(gray).float()))


def test_xdog_of_a_blank_page_has_no_edges():
    assert xdog(np.ones((32, 32))).sum() == 0


# --- attention --------------------------------------------------------------------------------


def reference_attention(model, image: torch.Tensor) -> torch.Tensor:
    """Class-token attention recomputed block by block, without hooks."""
    visual = model.visual
    with torch.no_grad():
        x = visual._embeds(normalize(image[None], model))
        assert visual.transformer.batch_first
        rows = []
        for block in visual.transformer.resblocks:
            h = block.ln_1(x)
            weights = block.attn(h, h, h, need_weights=True, average_attn_weights=False)[1]
            rows.append(weights[0, :, 0, 1:])
            x = block(x)
    return torch.stack(rows).mean(dim=(0, 1))


def check_attention(model, image: torch.Tensor) -> None:
    grid_h, grid_w = model.visual.grid_size
    attention = attention_map(model, image)
    assert attention.shape == image.shape[1:] and attention.dtype == torch.float32
    assert attention.min() == 0 and attention.max() == pytest.approx(1)
    # Patch centres of the upsampled map follow the per-patch attention.
    expected = reference_attention(model, image).view(grid_h, grid_w)
    patch = image.shape[1] // grid_h
    centres = attention[patch // 2 :: patch, patch // 2 :: patch][:grid_h, :grid_w]
    corr = np.corrcoef(centres.flatten().numpy(), expected.flatten().numpy())[0, 1]
    assert corr > 0.9


def test_attention_map_of_the_tiny_vit(vit):
    image = torch.rand(3, 224, 224, generator=torch.Generator().manual_seed(0))
    check_attention(vit, image)
    assert torch.equal(attention_map(vit, image), attention_map(vit, image))


def test_attention_map_leaves_the_model_as_it_was(vit):
    image = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    before = vit.encode_image(normalize(image, vit))
    attention_map(vit, image[0])
    assert all(not b.attn._forward_hooks for b in vit.visual.transformer.resblocks)
    assert all(not b.attn._forward_pre_hooks for b in vit.visual.transformer.resblocks)
    assert torch.equal(vit.encode_image(normalize(image, vit)), before)


def test_attention_map_works_for_another_patch_grid(tmp_path):
    config = {**SALIENCY_CONFIG, "vision_cfg": {**SALIENCY_CONFIG["vision_cfg"], "patch_size": 56}}
    paths = write_model(tmp_path, "sketchify-tiny-vit-4x4", config, seed=3)
    model = load_clip(*map(str, paths))
    assert model.visual.grid_size == (4, 4)
    check_attention(model, torch.rand(3, 224, 224, generator=torch.Generator().manual_seed(2)))


def test_saliency_lives_on_the_edges(vit):
    pixels = np.full((224, 224, 3), 255, dtype=np.uint8)
    pixels[60:160, 70:150] = (40, 90, 160)
    target = make_target(Image.fromarray(pixels))
    saliency = saliency_map(target, vit)
    assert saliency.shape == (224, 224)
    assert saliency.min() >= 0 and saliency.max() > 0
    edges = xdog(rgb2gray(normalize(target.image, vit).permute(1, 2, 0).numpy()))
    assert saliency[edges == 0].sum() == 0


def test_saliency_ignores_the_padding_and_the_photos_own_frame(vit):
    # A wide photo: white padding above and below, and a dark frame the XDoG sees as edges.
    pixels = np.full((100, 300, 3), 200, dtype=np.uint8)
    pixels[:, :4] = pixels[:, -4:] = pixels[:4] = pixels[-4:] = 20
    pixels[30:70, 120:180] = (40, 90, 160)
    target = make_target(Image.fromarray(pixels))
    saliency = saliency_map(target, vit)
    edges = xdog(rgb2gray(normalize(target.image, vit).permute(1, 2, 0).numpy()))

    top, bottom = target.placement.to_canvas(torch.tensor([[0.0, 0.0], [300.0, 100.0]]))[:, 1]
    rows = torch.arange(224) + 0.5
    outside = (rows < top + 2) | (rows > bottom - 2)
    assert edges[outside].sum() > 0  # the frame and padding border are edges...
    assert saliency[outside].sum() == 0  # ...but no stroke may start there
    assert saliency[:, :2].sum() == 0 and saliency[:, -2:].sum() == 0
    assert saliency[~outside].sum() > 0


# --- start strokes ----------------------------------------------------------------------------


def blob_saliency() -> torch.Tensor:
    saliency = torch.zeros(224, 224)
    saliency[40:60, 40:60] = 1.0  # 400 strongly salient pixels
    saliency[150:170, 150:170] = 0.01  # 400 barely salient pixels
    return saliency


def test_init_strokes_is_deterministic_per_generator_state():
    saliency = blob_saliency()
    first = init_strokes(saliency, 16, torch.Generator().manual_seed(7))
    again = init_strokes(saliency, 16, torch.Generator().manual_seed(7))
    other = init_strokes(saliency, 16, torch.Generator().manual_seed(8))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_init_strokes_start_on_distinct_salient_pixel_centres():
    saliency = blob_saliency()
    points = init_strokes(saliency, 64, torch.Generator().manual_seed(0))
    assert points.shape == (64, 4, 2) and points.dtype == torch.float32
    starts = points[:, 0]
    assert torch.all(starts.frac() == 0.5)  # pixel centres
    cols, rows = (starts - 0.5).long().unbind(-1)
    assert torch.all(saliency[rows, cols] > 0)
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) == 64
    # softmax(s / 0.3) favours the strong blob about 27:1 per pixel.
    assert (saliency[rows, cols] == 1.0).float().mean() > 0.8


def test_init_strokes_walk_stays_short():
    canvas, walk = 224, 0.025
    points = init_strokes(blob_saliency(), 32, torch.Generator().manual_seed(3), canvas, walk)
    steps = points[:, 1:] - points[:, :-1]
    assert steps.abs().max() <= walk * canvas
    assert steps.abs().max() > 0.5 * walk * canvas  # the walk really moves
    assert points.min() > -3 * walk * canvas and points.max() < canvas + 3 * walk * canvas


def test_init_strokes_scales_a_smaller_saliency_map_to_the_canvas():
    saliency = torch.zeros(56, 56)
    saliency[10, 20] = 1.0
    points = init_strokes(saliency, 1, torch.Generator().manual_seed(0), canvas=224)
    assert points[0, 0].tolist() == [(20 + 0.5) * 4, (10 + 0.5) * 4]


def test_too_few_salient_pixels_uses_them_all_then_any_others():
    saliency = torch.zeros(32, 32)
    salient = [(3, 4), (10, 20), (30, 1)]
    for row, col in salient:
        saliency[row, col] = 0.5
    points = init_strokes(saliency, 8, torch.Generator().manual_seed(0), canvas=32)
    cols, rows = (points[:, 0] - 0.5).long().unbind(-1)
    picked = set(zip(rows.tolist(), cols.tolist(), strict=True))
    assert len(picked) == 8 and set(salient) <= picked


def test_blank_saliency_still_gives_strokes():
    points = init_strokes(torch.zeros(16, 16), 4, torch.Generator().manual_seed(0), canvas=16)
    assert points.shape == (4, 4, 2) and torch.isfinite(points).all()
