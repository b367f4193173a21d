"""Object masks, mode by mode: what counts as the object, and every refusal with its field."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from sketchify.core.errors import InputError
from sketchify.core.method.starts import init_strokes
from sketchify.core.photo.geometry import Placement
from sketchify.core.photo.image import load_image
from sketchify.core.photo.mask import ObjectMask, alpha_mask, file_mask, mask_mode, mask_option
from sketchify.core.photo.target import canvas_mask, make_target, on_white

ORIENTATION = 0x0112


def encode(img: Image.Image, fmt: str = "PNG", **options) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **options)
    return out.getvalue()


def rgba_photo(width: int = 40, height: int = 30) -> Image.Image:
    """Opaque (alpha 200) on the left half, nearly transparent (alpha 100) on the right."""
    img = Image.new("RGBA", (width, height), (200, 30, 30, 200))
    img.paste((30, 30, 200, 100), (width // 2, 0, width, height))
    return img


# -- modes -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("mask", "image", "mode"), [
    (None, None, "none"), ("none", None, "none"), ("alpha", None, "alpha"),
    ("auto", None, "auto"), (None, b"x", "file"), ("file", b"x", "file"),
])
def test_mask_modes(mask, image, mode):
    assert mask_mode(mask, image) == mode


@pytest.mark.parametrize(("mask", "image", "field"), [
    ("none", b"x", "mask"), ("alpha", b"x", "mask"), ("auto", b"x", "mask"),
    ("sky", None, "mask"), ("file", None, "mask_image"),
])
def test_conflicting_or_unknown_modes_name_their_field(mask, image, field):
    with pytest.raises(InputError) as error:
        mask_mode(mask, image)
    assert error.value.field == field


# -- alpha -------------------------------------------------------------------------------------

def test_alpha_at_least_half_is_the_object():
    mask = alpha_mask(encode(rgba_photo()))
    assert mask.mode == "alpha" and mask.size == (40, 30)
    assert mask.pixels[:, :20].all() and not mask.pixels[:, 20:].any()


def test_alpha_threshold_is_exactly_one_half():
    img = Image.new("LA", (4, 1))
    img.putdata([(0, 127), (0, 128), (0, 255), (0, 0)])
    assert alpha_mask(encode(img)).pixels.tolist() == [[False, True, True, False]]


def test_palette_transparency_counts_as_alpha():
    img = Image.new("P", (4, 2), 0)
    img.putpalette([255, 255, 255, 0, 0, 0])
    img.paste(1, (0, 0, 2, 2))
    mask = alpha_mask(encode(img, transparency=0))
    assert mask.pixels[:, :2].all() and not mask.pixels[:, 2:].any()


def test_alpha_on_a_photo_without_alpha_is_refused_naming_mask():
    with pytest.raises(InputError, match="no alpha channel") as error:
        alpha_mask(encode(Image.new("RGB", (8, 8)), "JPEG"))
    assert error.value.field == "mask"


def test_alpha_transparent_everywhere_is_refused_naming_mask():
    with pytest.raises(InputError, match="no object pixel") as error:
        alpha_mask(encode(Image.new("RGBA", (8, 8), (0, 0, 0, 60))))
    assert error.value.field == "mask"


# -- file --------------------------------------------------------------------------------------

def test_file_mask_by_luminance():
    img = Image.new("L", (6, 2), 0)
    img.putdata([0, 127, 128, 255, 40, 200] * 2)
    mask = file_mask(encode(img), (6, 2))
    assert mask.mode == "file"
    assert mask.pixels[0].tolist() == [False, False, True, True, False, True]


def test_file_mask_luminance_of_colours():
    # Pillow's luminance: 0.299 R + 0.587 G + 0.114 B; pure green is light, pure blue dark.
    img = Image.new("RGB", (2, 1))
    img.putdata([(0, 255, 0), (0, 0, 255)])
    assert file_mask(encode(img), (2, 1)).pixels.tolist() == [[True, False]]


def test_file_mask_with_alpha_uses_the_alpha_not_the_colour():
    img = Image.new("RGBA", (4, 1))
    # White but transparent, black but opaque: the alpha decides.
    img.putdata([(255, 255, 255, 0), (0, 0, 0, 255), (0, 0, 0, 128), (255, 255, 255, 127)])
    assert file_mask(encode(img), (4, 1)).pixels.tolist() == [[False, True, True, False]]


def test_sixteen_bit_grey_mask_is_scaled_not_clipped():
    values = np.array([[0, 30000, 40000, 65535]], dtype=np.uint16)
    img = Image.fromarray(values)  # Pillow picks I;16 for uint16
    assert file_mask(encode(img), (4, 1)).pixels.tolist() == [[False, False, True, True]]


def test_file_mask_of_another_size_is_refused_naming_mask_image():
    with pytest.raises(InputError, match=r"8x6 pixels but the photo is 6x8") as error:
        file_mask(encode(Image.new("L", (8, 6), 255)), (6, 8))
    assert error.value.field == "mask_image"


@pytest.mark.parametrize("data", [b"", b"not an image at all", encode(Image.new("L", (6, 8)))[:40]])
def test_a_mask_that_is_no_image_is_refused_naming_mask_image(data):
    with pytest.raises(InputError, match=r"^The mask image is unusable: ") as error:
        file_mask(data, (6, 8))
    assert error.value.field == "mask_image"


def test_a_mask_without_object_pixel_is_refused_naming_mask_image():
    with pytest.raises(InputError, match="no object pixel") as error:
        file_mask(encode(Image.new("L", (6, 8), 127)), (6, 8))
    assert error.value.field == "mask_image"
    with pytest.raises(InputError, match="no object pixel"):
        file_mask(encode(Image.new("RGBA", (6, 8), (255, 255, 255, 10))), (6, 8))


def test_exif_rotated_photo_takes_a_mask_of_its_upright_size():
    # Stored 60x40 landscape, shown rotated a quarter turn (orientation 6): 40x60 upright.
    stored = Image.new("RGB", (60, 40), "white")
    stored.paste((0, 0, 0), (0, 0, 30, 40))  # dark left half as stored = top half upright
    exif = stored.getexif()
    exif[ORIENTATION] = 6
    photo = encode(stored, "JPEG", exif=exif.tobytes())
    picture = load_image(photo)
    assert picture.size == (40, 60)
    upright = Image.new("L", (40, 60), 0)
    upright.paste(255, (0, 0, 40, 30))  # the object is the top half as the photo is shown
    mask = file_mask(encode(upright), picture.size)
    assert mask.pixels[:30].all() and not mask.pixels[30:].any()
    # The dark half of the upright picture is where the mask says the object is.
    grey = np.asarray(picture.convert("L"))
    assert grey[mask.pixels].mean() < 60 < 200 < grey[~mask.pixels].mean()
    with pytest.raises(InputError, match="60x40 pixels but the photo is 40x60") as error:
        file_mask(encode(Image.new("L", (60, 40), 255)), picture.size)
    assert error.value.field == "mask_image"


def test_exif_rotated_photo_with_alpha_rotates_its_mask_too():
    stored = Image.new("RGBA", (60, 40), (0, 0, 0, 255))
    stored.paste((0, 0, 0, 0), (30, 0, 60, 40))  # transparent right half as stored
    exif = stored.getexif()
    exif[ORIENTATION] = 6
    mask = alpha_mask(encode(stored, exif=exif.tobytes()))
    assert mask.size == (40, 60)
    # Rotated a quarter turn clockwise, the stored right half is the bottom half.
    assert mask.pixels[:30].all() and not mask.pixels[30:].any()


def test_cli_mask_option(tmp_path):
    photo = tmp_path / "p.png"
    photo.write_bytes(encode(rgba_photo()))
    picture = load_image(photo)
    assert mask_option("none", photo, picture) is None
    assert mask_option("alpha", photo, picture).mode == "alpha"
    mask_file = tmp_path / "m.png"
    mask_file.write_bytes(encode(Image.new("L", (40, 30), 255)))
    assert mask_option(str(mask_file), photo, picture).pixels.all()
    with pytest.raises(InputError, match="Mask image not found: alhpa") as error:
        mask_option("alhpa", photo, picture)
    assert error.value.field == "mask_image"


# -- applying it -------------------------------------------------------------------------------

def test_background_turns_white_and_the_object_stays():
    picture = Image.new("RGB", (4, 2), (10, 20, 30))
    pixels = np.array([[True, False, True, False], [False, False, True, True]])
    out = np.asarray(on_white(picture, ObjectMask("file", pixels)))
    assert (out[pixels] == (10, 20, 30)).all() and (out[~pixels] == 255).all()


def test_canvas_mask_is_the_photo_pixel_under_each_canvas_pixel_centre():
    pixels = np.zeros((30, 50), dtype=bool)
    pixels[5:20, 10:45] = True
    placement = Placement(50, 30, canvas=224)
    grid = canvas_mask(ObjectMask("file", pixels), placement)
    assert grid.shape == (224, 224) and grid.dtype == torch.float32
    ys, xs = torch.meshgrid(torch.arange(224.0), torch.arange(224.0), indexing="ij")
    centres = torch.stack([xs, ys], dim=-1).double() + 0.5
    photo = placement.to_image(centres).floor().long()
    inside = (photo[..., 0] >= 0) & (photo[..., 0] < 50) & (photo[..., 1] >= 0) & (
        photo[..., 1] < 30)
    expected = torch.zeros(224, 224, dtype=torch.bool)
    col, row = photo[..., 0][inside], photo[..., 1][inside]
    expected[inside] = torch.from_numpy(pixels)[row, col]
    assert torch.equal(grid.bool(), expected)
    assert not grid[:40].any() and not grid[-40:].any()  # the white padding is no object


def test_a_masked_target_is_white_off_the_object_and_carries_the_mask():
    picture = Image.new("RGB", (64, 64), (0, 120, 0))
    pixels = np.zeros((64, 64), dtype=bool)
    pixels[16:48, 16:48] = True
    target = make_target(picture, mask=ObjectMask("file", pixels))
    assert target.mask is not None and target.mask.sum() == 112 * 112
    # Lanczos upscaling (64 -> 224 px) rings 3 photo pixels, 10.5 canvas pixels, past an edge.
    far = ~torch.nn.functional.max_pool2d(target.mask[None, None], 25, 1, 12)[0, 0].bool()
    assert far.sum() > 224 * 224 - 140 * 140
    assert torch.allclose(target.image[:, far], torch.ones(1), atol=1e-6)
    assert torch.allclose(target.image[:, 70:150, 70:150],
                          torch.tensor([0, 120 / 255, 0]).view(3, 1, 1), atol=1e-3)


def test_an_object_too_small_for_the_canvas_is_refused():
    pixels = np.zeros((2000, 2000), dtype=bool)
    pixels[1000, 1000] = True  # one photo pixel: 0.11 canvas pixel, no canvas centre on it
    with pytest.raises(InputError, match="too small") as error:
        make_target(Image.new("RGB", (2000, 2000)), mask=ObjectMask("file", pixels))
    assert error.value.field == "mask_image"


# -- start points ------------------------------------------------------------------------------

def test_fallback_start_points_stay_inside_the_mask():
    saliency = torch.zeros(32, 32)
    saliency[4, 4] = 1.0  # one salient pixel, but off the object
    saliency[20, 20] = 1.0  # and one on it
    allowed = torch.zeros(32, 32)
    allowed[16:24, 16:24] = 1
    strokes = init_strokes(saliency, 40, torch.Generator().manual_seed(0), canvas=32,
                           allowed=allowed)
    first = strokes[:, 0].floor().long()
    assert allowed[first[:, 1], first[:, 0]].all()
    assert len({tuple(p) for p in first.tolist()}) == 40  # distinct pixels while there are enough
    assert [20, 20] in first.tolist()


def test_an_object_smaller_than_the_stroke_count_shares_start_pixels():
    allowed = torch.zeros(32, 32)
    allowed[3, 5] = allowed[30, 2] = 1
    strokes = init_strokes(torch.rand(32, 32), 16, torch.Generator().manual_seed(0), canvas=32,
                           allowed=allowed)
    first = {tuple(p) for p in strokes[:, 0].floor().long().tolist()}
    assert first <= {(5, 3), (2, 30)}


def test_without_a_mask_the_fallback_uses_the_whole_canvas():
    saliency = torch.zeros(32, 32)
    strokes = init_strokes(saliency, 200, torch.Generator().manual_seed(0), canvas=32)
    first = strokes[:, 0].floor().long()
    off = (first[:, 0] < 16) | (first[:, 0] >= 24) | (first[:, 1] < 16) | (first[:, 1] >= 24)
    assert off.any()
