"""Reading photos safely and the square target: every kind of bad input, orientation, alpha,
and the exact mapping between the photo's pixels and the canvas."""

from __future__ import annotations

import dataclasses
import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from sketchify.core.errors import InputError
from sketchify.core.photo.image import load_image
from sketchify.core.photo.target import Target, make_target


def encode(img: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height; its pixel data is garbage."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", b"not really deflate data")
        + chunk(b"IEND", b"")
    )


def rgb(width: int, height: int, color=(200, 30, 30)) -> Image.Image:
    return Image.new("RGB", (width, height), color)


# --- bad input --------------------------------------------------------------------------------


def test_non_image_bytes_are_rejected():
    with pytest.raises(InputError, match="not an image") as info:
        load_image(b"%PDF-1.4 this is certainly not a picture")
    assert info.value.field == "image"


def test_empty_bytes_are_rejected():
    with pytest.raises(InputError, match="empty"):
        load_image(b"")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file_is_rejected(fmt):
    noise = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise), fmt)
    with pytest.raises(InputError, match="truncated or damaged") as info:
        load_image(data[: len(data) // 2])
    assert info.value.field == "image"


def test_decompression_bomb_header_is_rejected_before_decoding():
    # 100000 x 100000 is far beyond Pillow's own bomb limit.
    with pytest.raises(InputError, match="too large"):
        load_image(png_header_only(100_000, 100_000))


def test_over_large_dimensions_are_rejected_before_decoding():
    # Below Pillow's bomb limit but above ours; the garbage pixel data would fail to decode, so
    # the size message proves the check runs on the header alone.
    with pytest.raises(InputError, match="10000x6000 pixels, more than the limit"):
        load_image(png_header_only(10_000, 6_000))
    with pytest.raises(InputError, match=r"more than the limit of 0\.0001 megapixels"):
        load_image(encode(rgb(20, 10), "PNG"), max_pixels=100)


def test_pillow_image_over_the_limit_is_rejected():
    with pytest.raises(InputError, match="more than the limit"):
        load_image(rgb(20, 10), max_pixels=100)


def test_unsupported_format_is_named():
    with pytest.raises(InputError, match="Unsupported image format ICO") as info:
        load_image(encode(rgb(32, 32), "ICO"))
    assert info.value.field == "image"


def test_format_allow_list_is_respected():
    data = encode(rgb(8, 8), "PNG")
    with pytest.raises(InputError, match="Unsupported image format PNG; use one of JPEG"):
        load_image(data, formats=frozenset({"JPEG"}))


def test_missing_file_is_named(tmp_path):
    missing = tmp_path / "no-such-photo.jpg"
    with pytest.raises(InputError, match=r"no-such-photo\.jpg") as info:
        load_image(missing)
    assert info.value.field == "image"


# --- decoding ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_allowed_formats_load_as_rgb(tmp_path, fmt):
    path = tmp_path / f"photo.{fmt.lower()}"
    rgb(30, 20, (0, 0, 255)).save(path, format=fmt)
    for source in (path, str(path), path.read_bytes()):
        img = load_image(source)
        assert img.mode == "RGB" and img.size == (30, 20)
        r, g, b = img.getpixel((15, 10))
        assert b > 200 and r < 40 and g < 40


def test_exif_orientation_is_applied():
    # Stored landscape, red top half; orientation 6 means "rotate 90 degrees clockwise to view",
    # so the viewer sees a portrait image with the red half on the right.
    stored = np.zeros((40, 80, 3), dtype=np.uint8)
    stored[:20] = (255, 0, 0)
    stored[20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    img = load_image(encode(Image.fromarray(stored), "JPEG", exif=exif, quality=95))
    assert img.size == (40, 80)
    pixels = np.asarray(img).astype(int)
    assert pixels[40, 35, 0] > 200 and pixels[40, 35, 2] < 60  # right: red
    assert pixels[40, 5, 2] > 200 and pixels[40, 5, 0] < 60  # left: blue


def test_alpha_is_composited_on_white():
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    rgba[:, :5] = (0, 0, 0, 0)  # transparent black -> white
    rgba[:, 5:] = (0, 0, 0, 128)  # half-transparent black -> mid grey
    img = load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert img.mode == "RGB"
    assert img.getpixel((2, 2)) == (255, 255, 255)
    assert all(abs(c - 127) <= 1 for c in img.getpixel((7, 7)))


def test_grey_with_alpha_is_composited_on_white():
    la = Image.fromarray(np.stack([np.zeros((6, 6), np.uint8)] * 2, axis=-1), "LA")
    assert load_image(encode(la, "PNG")).getpixel((3, 3)) == (255, 255, 255)


def test_palette_transparency_is_composited_on_white():
    img = Image.new("P", (6, 6), 0)
    img.putpalette([0, 0, 0, 10, 200, 10] + [0] * 762)
    img.putpixel((1, 1), 1)
    loaded = load_image(encode(img, "PNG", transparency=0))
    assert loaded.getpixel((4, 4)) == (255, 255, 255)  # transparent index
    assert loaded.getpixel((1, 1)) == (10, 200, 10)


def test_animated_gif_gives_its_first_frame():
    frames = [rgb(8, 8, (255, 0, 0)), rgb(8, 8, (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    r, _, b = load_image(data).getpixel((4, 4))
    assert r > 200 and b < 40


def test_sixteen_bit_grey_is_scaled_not_clipped():
    grey = Image.fromarray(np.full((4, 4), 32768, dtype=np.uint16))
    r, g, b = load_image(encode(grey, "PNG")).getpixel((1, 1))
    assert r == g == b and abs(r - 128) <= 1


# --- target -----------------------------------------------------------------------------------


def dark_centroid(image: torch.Tensor) -> torch.Tensor:
    ink = 1 - image.mean(dim=0)
    ys, xs = torch.meshgrid(
        torch.arange(image.shape[1]) + 0.5, torch.arange(image.shape[2]) + 0.5, indexing="ij"
    )
    return torch.stack([(ink * xs).sum(), (ink * ys).sum()]) / ink.sum()


@pytest.mark.parametrize("size", [(451, 300), (300, 451), (224, 224), (97, 31), (5000, 1200)])
def test_placement_maps_image_points_to_where_they_land(size):
    width, height = size
    pixels = np.full((height, width, 3), 255, dtype=np.uint8)
    radius = max(1, max(size) // 80)
    x, y = int(width * 0.3), int(height * 0.7)
    x0, x1 = max(0, x - radius), min(width, x + radius + 1)
    y0, y1 = max(0, y - radius), min(height, y + radius + 1)
    pixels[y0:y1, x0:x1] = 0
    target = make_target(Image.fromarray(pixels))
    blob_centre = torch.tensor([(x0 + x1) / 2, (y0 + y1) / 2], dtype=torch.float32)
    expected = target.placement.to_canvas(blob_centre)
    assert torch.allclose(dark_centroid(target.image), expected, atol=0.15)


def test_target_is_a_white_padded_square_tensor():
    target = make_target(rgb(300, 100, (0, 0, 0)), canvas=96)
    image = target.image
    assert image.shape == (3, 96, 96) and image.dtype == torch.float32
    assert image.min() >= 0 and image.max() <= 1
    # 300 x 100 -> 100 white rows above and below: the top and bottom thirds stay white
    # (away from the 3-pixel reach of the Lanczos filter).
    assert image[:, :28].min() >= 0.99 and image[:, 68:].min() >= 0.99
    assert image[:, 35:61].max() <= 0.01
    assert (target.placement.width, target.placement.height, target.placement.canvas) == (
        300,
        100,
        96,
    )


def test_target_is_frozen():
    target = make_target(rgb(10, 10))
    assert isinstance(target, Target)
    with pytest.raises(dataclasses.FrozenInstanceError):
        target.image = torch.zeros(3, 224, 224)
