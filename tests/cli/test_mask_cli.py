"""`sketchify sketch --mask ...` end to end, in-process, with tiny random-weight models."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from tiny_mask_model import write_tiny_u2net

from sketchify.backend.cli import main
from sketchify.core.output import provenance

pytest_plugins = ["backend_fixtures"]
CAT = Path(__file__).parents[2] / "examples" / "cat.jpg"  # 451x300, no alpha
U2NET_URL = "https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2net.onnx"


@pytest.fixture
def photo(tmp_path) -> Path:
    return Path(shutil.copy(CAT, tmp_path / "cat.jpg"))


@pytest.fixture
def models(tiny_model_args) -> list[str]:
    """The tiny models as `sketchify sketch` flags (--loss-model FILE ...)."""
    return [arg for name, value in tiny_model_args.items()
            for arg in (f"--{name.replace('_', '-')}", value)]


def sketch(photo: Path, *extra: str, models: list[str]) -> int:
    return main(["sketch", str(photo), "--strokes", "4", "--preset", "draft", "--steps", "2",
                 "--device", "cpu", *models, *extra])


def mask_file(path: Path, size: tuple[int, int] = (451, 300)) -> Path:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).ellipse((100, 50, 350, 250), fill=255)
    mask.save(path)
    return path


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_mask_file_is_used_and_recorded(photo, models, tmp_path):
    assert sketch(photo, "--mask", str(mask_file(tmp_path / "mask.png")), models=models) == 0
    assert provenance.read(photo.with_name("cat.4.svg").read_text())["mask"] == "file"


def test_mask_auto_with_a_local_model_file(photo, models, tmp_path):
    onnx_file = write_tiny_u2net(tmp_path / "tiny-u2net.onnx")
    assert sketch(photo, "--mask", "auto", "--mask-model", str(onnx_file), models=models) == 0
    assert provenance.read(photo.with_name("cat.4.svg").read_text())["mask"] == "auto"


def test_mask_alpha_on_a_photo_with_transparency(models, tmp_path):
    picture = Image.new("RGBA", (120, 80), (0, 0, 0, 0))
    ImageDraw.Draw(picture).ellipse((20, 10, 100, 70), fill=(40, 40, 40, 255))
    picture.save(tmp_path / "cut-out.png")
    assert sketch(tmp_path / "cut-out.png", "--mask", "alpha", models=models) == 0
    svg = (tmp_path / "cut-out.4.svg").read_text()
    assert provenance.read(svg)["mask"] == "alpha"


@pytest.mark.parametrize(("case", "needle"), [
    ("alpha on a JPEG", "no alpha channel"),
    ("missing mask file", "Mask image not found"),
    ("mask of another size", "pixels but the photo is 451x300"),
    ("mask that is no image", "The mask image is unusable"),
    ("mask without object", "marks no object pixel"),
    ("missing mask model", "Mask model file not found"),
])
def test_bad_mask_one_line_exit_2_nothing_written(case, needle, photo, models, tmp_path,
                                                  capsys):
    masks = tmp_path / "masks"
    masks.mkdir()
    extra = {
        "alpha on a JPEG": ["--mask", "alpha"],
        "missing mask file": ["--mask", str(masks / "nothing.png")],
        "mask of another size": ["--mask", str(mask_file(masks / "m.png", (300, 451)))],
        "mask that is no image": ["--mask", str(masks / "m.txt")],
        "mask without object": ["--mask", str(masks / "black.png")],
        "missing mask model": ["--mask", "auto", "--mask-model", str(masks / "no.onnx")],
    }[case]
    (masks / "m.txt").write_text("not an image")
    Image.new("L", (451, 300), 0).save(masks / "black.png")
    before = sorted(photo.parent.iterdir())
    assert sketch(photo, *extra, models=models) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("sketchify: error: ") and needle in err
    assert sorted(photo.parent.iterdir()) == before


def test_offline_auto_fails_fast_before_any_clip_model_loads(photo, tmp_path, monkeypatch,
                                                             capsys):
    monkeypatch.setenv("U2NET_HOME", str(tmp_path / "rembg-cache"))  # nothing cached
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    proxy = f"http://127.0.0.1:{closed_port()}"  # every request fails at once, as offline
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    monkeypatch.setenv("https_proxy", proxy)
    # Weights that do not exist: had they been loaded first, that would be the error.
    absent = ["--loss-weights", str(tmp_path / "rn.pt"), "--saliency-weights",
              str(tmp_path / "vit.pt")]
    started = time.monotonic()
    code = main(["sketch", str(photo), "--mask", "auto", "--device", "cpu", *absent])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "Cannot reach github.com to download the u2net model" in err
    assert U2NET_URL in err and str(tmp_path / "rembg-cache") in err
    assert "--mask-model FILE" in err
    assert elapsed < 15, elapsed  # a probe of at most 5 s, never rembg's retries
    assert not list(photo.parent.glob("*.svg"))
