"""Paired augmentation and the CLIP loss terms."""

from __future__ import annotations

import pytest
import torch

from sketchify.core.clip.models import load_clip
from sketchify.core.method.augment import augment_pair, sample_warps
from sketchify.core.method.losses import ClipLoss


@pytest.fixture(scope="module")
def loss_model(tiny_models):
    return load_clip(str(tiny_models.loss_config), str(tiny_models.loss_weights), "cpu")


def gray_scene() -> torch.Tensor:
    img = torch.ones(224, 224)
    img[50:170, 70:120] = 0.1
    img[100:110, :] = 0.5
    return img


def test_warps_are_reproducible_and_in_range():
    a = sample_warps(6, 224, torch.Generator().manual_seed(3))
    b = sample_warps(6, 224, torch.Generator().manual_seed(3))
    c = sample_warps(6, 224, torch.Generator().manual_seed(4))
    assert a == b and a != c
    for w in a:
        assert round(0.8**0.5 * 224) - 1 <= w.side <= 224
        assert 0 <= w.top <= 224 - w.side and 0 <= w.left <= 224 - w.side
        assert all(0 <= v < 224 for corner in w.endpoints for v in corner)


def test_sketch_and_photo_get_identical_warps():
    scene = gray_scene()
    sketches = torch.stack([scene, 1 - scene])  # two runs sharing the warps
    image = scene.expand(3, -1, -1)
    warps = sample_warps(3, 224, torch.Generator().manual_seed(0))
    sketch_views, photo_views = augment_pair(sketches, image, warps, 224)
    assert sketch_views.shape == (4 * 2, 1, 224, 224) and photo_views.shape == (3, 3, 224, 224)
    # view-major rows: run 0 of every augmented view equals the photo under the same warp
    torch.testing.assert_close(sketch_views[2::2], photo_views[:, :1], atol=1e-5, rtol=0)
    assert not torch.allclose(photo_views[0], photo_views[1])


def test_augmentation_is_differentiable_and_fills_black():
    sketches = gray_scene()[None].clone().requires_grad_()
    warps = sample_warps(2, 224, torch.Generator().manual_seed(1))
    views, _ = augment_pair(sketches, torch.ones(3, 224, 224), warps, 224)
    views.sum().backward()
    assert sketches.grad.abs().sum() > 0
    # As the reference's RandomPerspective(fill=0): what comes from outside the canvas is
    # black, at the very same pixels of the blank sketch and the white photo.
    blank, photo = augment_pair(torch.ones(1, 224, 224), torch.ones(3, 224, 224), warps, 224)
    assert blank[0].min() == 1  # the clean view is untouched
    assert (blank[1:] == 0).float().mean() > 0.01
    torch.testing.assert_close(blank[1:], photo[:, :1])


def test_loss_is_zero_for_the_photo_itself_and_grows_with_difference(loss_model):
    scene = gray_scene()
    loss = ClipLoss(loss_model, scene.expand(3, -1, -1))
    same = loss.terms(loss.encode(augment_pair(scene[None], scene, [], 224)[0]), loss.clean)
    assert same["geometric"].abs().max() < 1e-6 and same["semantic"].abs().max() < 1e-5
    blank = torch.ones(1, 224, 224)
    differ = loss.terms(loss.encode(augment_pair(blank, scene, [], 224)[0]), loss.clean)
    assert differ["total"].item() > 1e-3 * same["total"].abs().item() + 1e-9
    assert set(differ) == {"geometric", "semantic", "total"}


def test_prompt_and_weights_shape_the_terms(loss_model):
    scene = gray_scene()
    loss = ClipLoss(loss_model, scene.expand(3, -1, -1), geometric_weights=(0, 0, 0, 1, 0),
                    semantic_weight=0.0, prompt="a cat", prompt_weight=2.0)
    terms = loss.terms(loss.encode(augment_pair(scene[None], scene, [], 224)[0]), loss.clean)
    assert set(terms) == {"geometric", "semantic", "text", "total"}
    assert terms["semantic"].abs().max() == 0 and terms["text"].item() > 0
    torch.testing.assert_close(terms["total"], terms["geometric"] + terms["text"])
