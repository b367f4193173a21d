"""Masks through a real `sketchify serve --mask-model FILE` process on 127.0.0.1."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator

import pytest
from backend_helpers import Server, png_bytes, sketchify_command
from PIL import Image, ImageDraw
from tiny_mask_model import write_tiny_u2net

from sketchify.core.output import provenance

pytest_plugins = ["backend_fixtures"]


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_args) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("serve-masks")
    onnx_file = write_tiny_u2net(root / "tiny-u2net.onnx")
    running = Server(root / "data", tiny_model_args, "--mask-model", str(onnx_file))
    yield running
    running.stop()


def post(server: Server, mask_image: bytes | None = None, **fields: str):
    files = {"image": ("picture.png", png_bytes())}
    if mask_image is not None:
        files["mask_image"] = ("mask.png", mask_image)
    data = {"preset": "draft", "seeds": "1", "steps": "2", "strokes": "4", **fields}
    return server.http.post(f"{server.url}/v1/sketches", files=files, data=data, timeout=30)


def test_refusals_are_422_json_naming_the_field_over_real_http(server):
    jpeg = io.BytesIO()
    Image.new("RGB", (64, 48), "white").save(jpeg, format="JPEG")
    files = {"image": ("photo.jpg", jpeg.getvalue())}
    alpha = server.http.post(f"{server.url}/v1/sketches", files=files, data={"mask": "alpha"},
                             timeout=30)
    assert alpha.status_code == 422
    assert alpha.json()["field"] == "mask" and "no alpha channel" in alpha.json()["error"]
    wrong = post(server, mask_image=png_bytes(32, 32))
    assert wrong.status_code == 422 and wrong.json()["field"] == "mask_image"
    assert not any((server.data_dir / "jobs").iterdir())  # nothing stored


def test_auto_and_file_masks_run_to_done(server):
    mask = Image.new("L", (64, 48), 0)
    ImageDraw.Draw(mask).ellipse((16, 12, 48, 36), fill=255)
    out = io.BytesIO()
    mask.save(out, format="PNG")
    for mode, response in (("auto", post(server, mask="auto")),
                           ("file", post(server, mask_image=out.getvalue()))):
        assert response.status_code == 202, response.text
        job = server.finished(response.json()["id"])
        assert job["status"] == "done", job
        svg = server.http.get(server.url + job["links"]["svg"]["4"], timeout=30)
        assert provenance.read(svg.content)["mask"] == mode
        if mode == "file":
            stored = server.data_dir / "jobs" / job["id"] / "mask"
            assert stored.read_bytes() == out.getvalue()


def test_a_missing_mask_model_stops_serve_with_one_line(tmp_path, tiny_model_args):
    args = [*sketchify_command(), "serve", "--port", "0", "--data-dir", str(tmp_path / "d"),
            "--device", "cpu", "--mask-model", str(tmp_path / "absent.onnx")]
    for name, value in tiny_model_args.items():
        args += [f"--{name.replace('_', '-')}", value]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    # The error is one line, after the start-up's only progress line so far.
    loading, error = done.stderr.strip().splitlines()
    assert "sketchify.backend.serve: loading the models (" in loading
    assert error == f"sketchify: error: Mask model file not found: {tmp_path / 'absent.onnx'}."
