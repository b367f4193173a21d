"""Masks through the real engine (tiny random-weight CLIP models, a tiny u2net-shaped ONNX
model): white background in the target, every stroke starting on the object, provenance."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from tiny_mask_model import write_tiny_u2net

from sketchify.core.config import SketchConfig
from sketchify.core.engine import Sketcher
from sketchify.core.errors import InputError, WeightsError
from sketchify.core.method.starts import saliency_map
from sketchify.core.output import provenance
from sketchify.core.photo.image import load_image
from sketchify.core.photo.mask import ObjectMask, file_mask
from sketchify.core.photo.mask_model import SalientObjectModel, extra_problem

WIDTH, HEIGHT = 120, 80
OBJECT = (20, 16, 68, 64)  # the ellipse's box in photo pixels


def busy_photo() -> Image.Image:
    """A flat grey ellipse on a background full of edges (random coloured blocks)."""
    rng = np.random.default_rng(3)
    blocks = rng.integers(0, 256, size=(HEIGHT // 4, WIDTH // 4, 3), dtype=np.uint8)
    img = Image.fromarray(blocks.repeat(4, axis=0).repeat(4, axis=1), mode="RGB")
    ImageDraw.Draw(img).ellipse(OBJECT, fill=(90, 90, 90))
    return img


def ellipse_mask() -> bytes:
    mask = Image.new("L", (WIDTH, HEIGHT), 0)
    ImageDraw.Draw(mask).ellipse(OBJECT, fill=255)
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def sketcher(tiny_models, tmp_path_factory) -> Sketcher:
    onnx_file = write_tiny_u2net(tmp_path_factory.mktemp("u2net") / "tiny-u2net.onnx")
    return Sketcher(device="cpu", loss_model=str(tiny_models.loss_config),
                    loss_weights=str(tiny_models.loss_weights),
                    saliency_model=str(tiny_models.saliency_config),
                    saliency_weights=str(tiny_models.saliency_weights), mask_model=onnx_file)


def first_points_on(mask: ObjectMask, starts: dict[int, torch.Tensor], placement) -> np.ndarray:
    """For every start stroke, whether its first point lies on an object pixel of the photo."""
    points = torch.cat([s[:, :, 0].reshape(-1, 2) for s in starts.values()]).double()
    photo = placement.to_image(points).floor().long().numpy()
    inside = (photo[:, 0] >= 0) & (photo[:, 0] < WIDTH) & (photo[:, 1] >= 0) & (
        photo[:, 1] < HEIGHT)
    on = np.zeros(len(photo), dtype=bool)
    on[inside] = mask.pixels[photo[inside, 1], photo[inside, 0]]
    return on


def test_every_stroke_starts_on_the_object_and_the_background_is_white(sketcher):
    picture = busy_photo()
    mask = file_mask(ellipse_mask(), picture.size)
    target = sketcher.target(picture, mask)
    config = SketchConfig(seeds=3, seed=7)
    starts = sketcher.starts(target, (4, 16, 64), config)
    assert first_points_on(mask, starts, target.placement).all()

    # Canvas pixels well away from the object (Lanczos rings ~3 photo pixels) are pure white.
    near = torch.nn.functional.max_pool2d(target.mask[None, None], 23, 1, 11)[0, 0].bool()
    photo_box = torch.zeros(224, 224, dtype=torch.bool)
    photo_box[37:187] = True  # 120x80 photo -> 224x149 centred, rows 37.3 .. 186.7
    background = photo_box & ~near
    assert background.sum() > 10_000
    assert torch.allclose(target.image[:, background], torch.ones(1), atol=1e-6)
    assert target.mask.sum() > 0.9 * np.pi * 24 * 24 * (224 / 120) ** 2

    # Without the mask the same photo starts strokes on its busy background: the check bites.
    plain = sketcher.target(picture, None)
    assert plain.image[:, background].min() < 0.5
    assert not first_points_on(mask, sketcher.starts(plain, (64,), config), plain.placement).all()


def test_the_fallback_for_too_few_salient_pixels_starts_on_the_object(sketcher):
    # The object is a blank card on the busy background: no edge on it, so (almost) no salient
    # pixel, and the start points come from the fallback.
    picture = busy_photo()
    ImageDraw.Draw(picture).rectangle((70, 10, 110, 70), fill="white")
    pixels = np.zeros((HEIGHT, WIDTH), dtype=bool)
    pixels[10:71, 70:111] = True
    mask = ObjectMask("file", pixels)
    target = sketcher.target(picture, mask)
    salient = int((saliency_map(target, sketcher.saliency_model) > 0).sum())
    assert salient < 64 <= target.mask.sum()
    starts = sketcher.starts(target, (64,), SketchConfig(seeds=2, seed=1))
    assert first_points_on(mask, starts, target.placement).all()


def test_sketch_with_a_file_mask_records_it(sketcher):
    config = SketchConfig(steps=2, seeds=1, augmentations=1)
    result = sketcher.sketch(busy_photo(), strokes=4, config=config, mask_image=ellipse_mask())
    meta = provenance.read(result.svg(4))
    assert meta["mask"] == "file" and meta["strokes"] == 4
    plain = sketcher.sketch(busy_photo(), strokes=4, config=config)
    assert provenance.read(plain.svg(4))["mask"] == "none"


def test_sketch_refuses_a_mask_and_a_conflicting_mode(sketcher):
    with pytest.raises(InputError) as error:
        sketcher.sketch(busy_photo(), strokes=4, mask="alpha", mask_image=ellipse_mask())
    assert error.value.field == "mask"


def test_auto_mask_runs_the_u2net_shaped_model(sketcher):
    picture = Image.new("RGB", (WIDTH, HEIGHT), (235, 235, 235))
    ImageDraw.Draw(picture).ellipse(OBJECT, fill=(20, 20, 20))
    mask = sketcher.object_mask(picture, "auto")
    expected = file_mask(ellipse_mask(), picture.size).pixels
    assert mask.mode == "auto" and (mask.pixels == expected).mean() > 0.97
    config = SketchConfig(steps=2, seeds=1, augmentations=1)
    result = sketcher.sketch(picture, strokes=4, config=config, mask="auto")
    assert provenance.read(result.svg(4))["mask"] == "auto"
    target = sketcher.target(load_image(picture), mask)
    starts = sketcher.starts(target, (16,), SketchConfig(seeds=2))
    assert first_points_on(mask, starts, target.placement).all()


def test_a_flat_salient_map_finds_no_object(tmp_path):
    model = SalientObjectModel(write_tiny_u2net(tmp_path / "flat.onnx", weight=0.0))
    with pytest.raises(InputError, match="found no object") as error:
        model.mask(Image.new("RGB", (40, 30), "white"))
    assert error.value.field == "mask"


def test_a_file_that_is_no_onnx_model_is_one_clear_error(tmp_path):
    bad = tmp_path / "u2net.onnx"
    bad.write_bytes(b"this is not a protobuf")
    with pytest.raises(WeightsError, match="could not be loaded as an ONNX model"):
        SalientObjectModel(bad).mask(Image.new("RGB", (40, 30)))
    with pytest.raises(WeightsError, match="Mask model file not found"):
        SalientObjectModel(tmp_path / "missing.onnx")


def test_without_the_extra_auto_says_how_to_install_it(monkeypatch, tmp_path):
    # None in sys.modules is how Python marks a module that cannot be imported.
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert "pip install 'sketchify-clipasso[mask]'" in extra_problem()
    model = SalientObjectModel(write_tiny_u2net(tmp_path / "m.onnx"))
    assert model.problem() == extra_problem()
    with pytest.raises(WeightsError, match=r"onnxruntime not installed"):
        model.mask(Image.new("RGB", (40, 30)))


def test_a_model_that_is_not_downloaded_is_reported_without_network(monkeypatch, tmp_path):
    monkeypatch.setenv("U2NET_HOME", str(tmp_path))  # rembg's cache: empty
    problem = SalientObjectModel().problem()
    assert problem.startswith("The u2net model for mask 'auto' is not downloaded yet")
    assert "https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2net.onnx" in problem
    assert str(tmp_path) in problem and "--mask-model FILE" in problem
    cached = tmp_path / "u2net.onnx"
    write_tiny_u2net(cached)
    assert SalientObjectModel().problem() is None
    assert SalientObjectModel().ensure() == cached
