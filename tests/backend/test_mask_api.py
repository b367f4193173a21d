"""The `mask` and `mask_image` fields of POST /v1/sketches through Flask's test client, with
jobs run by the real engine on tiny models (and a tiny u2net-shaped model for `auto`)."""

from __future__ import annotations

import base64
import io
import sys
from typing import Any

import pytest
from backend_helpers import png_bytes, wait_for
from PIL import Image, ImageDraw
from tiny_mask_model import write_tiny_u2net

from sketchify.backend.app import create_app
from sketchify.backend.storage.jobs import FINISHED
from sketchify.core.engine import Sketcher
from sketchify.core.output import provenance

pytest_plugins = ["backend_fixtures"]
FAST = {"preset": "draft", "steps": "2", "seeds": "1", "strokes": "4"}
U2NET_URL = "https://github.com/danielgatis/rembg/releases/download/v0.0.0/u2net.onnx"


def encode(img: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


def disc_mask(size: tuple[int, int] = (64, 48)) -> bytes:
    """The disc of backend_helpers.png_bytes() as a white-on-black mask."""
    width, height = size
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).ellipse((width // 4, height // 4, 3 * width // 4, 3 * height // 4),
                                 fill=255)
    return encode(mask)


def cut_out() -> bytes:
    picture = Image.new("RGBA", (64, 48), (0, 0, 0, 0))
    ImageDraw.Draw(picture).ellipse((16, 12, 48, 36), fill=(30, 30, 30, 255))
    return encode(picture)


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory) -> str:
    return str(write_tiny_u2net(tmp_path_factory.mktemp("u2net") / "tiny-u2net.onnx"))


@pytest.fixture
def make_app(tmp_path, tiny_model_args):
    apps = []

    def make(mask_model: str | None = None):
        sketcher = Sketcher(device="cpu", mask_model=mask_model, **tiny_model_args)
        app = create_app({"DATA_DIR": tmp_path / f"data{len(apps)}", "SKETCHERS": [sketcher],
                          "PROGRESS_EVERY_S": 0.0})
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["sketchify"].close()


@pytest.fixture
def client(make_app, onnx_file):
    return make_app(onnx_file).test_client()


def submit(client, image: bytes | None = None, mask_image: bytes | None = None,
           headers: dict | None = None, **fields: Any):
    data: dict[str, Any] = {**FAST, **fields}
    data["image"] = (io.BytesIO(png_bytes() if image is None else image), "picture.png")
    if mask_image is not None:
        data["mask_image"] = (io.BytesIO(mask_image), "mask.png")
    return client.post("/v1/sketches", data=data, headers=headers or {},
                       content_type="multipart/form-data")


def submit_json(client, body: dict[str, Any]):
    body = {"image": base64.b64encode(png_bytes()).decode(), **FAST, **body}
    return client.post("/v1/sketches", json=body)


def finished_svg(client, response) -> dict[str, Any]:
    """The provenance of the finished job's 4-stroke SVG."""
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["id"]

    def check():
        job = client.get(f"/v1/sketches/{job_id}").get_json()
        return job if job["status"] in FINISHED else None

    job = wait_for(check)
    assert job["status"] == "done", job
    return provenance.read(client.get(job["links"]["svg"]["4"]).data)


def refused(response, field: str) -> str:
    assert response.status_code == 422, response.get_data(as_text=True)
    body = response.get_json()
    assert body["field"] == field and "\n" not in body["error"]
    return body["error"]


def stored_jobs(client) -> list:
    return client.application.extensions["sketchify"].store.jobs()


# -- accepted ----------------------------------------------------------------------------------

def test_a_multipart_mask_image_is_stored_and_used(client):
    response = submit(client, mask_image=disc_mask())
    assert response.get_json()["params"]["mask"] == "file"
    assert finished_svg(client, response)["mask"] == "file"
    store = client.application.extensions["sketchify"].store
    job_id = response.get_json()["id"]
    assert store.read_mask(job_id) == disc_mask()
    assert (store.job_dir(job_id) / "mask").read_bytes() == disc_mask()


def test_a_base64_mask_image_in_json_also_as_data_uri(client):
    encoded = base64.b64encode(disc_mask()).decode()
    assert finished_svg(client, submit_json(client, {"mask_image": encoded}))["mask"] == "file"
    data_uri = {"mask_image": f"data:image/png;base64,{encoded}", "mask": "file"}
    assert finished_svg(client, submit_json(client, data_uri))["mask"] == "file"


def test_alpha_on_a_photo_with_transparency(client):
    assert finished_svg(client, submit(client, image=cut_out(), mask="alpha"))["mask"] == "alpha"


def test_auto_with_the_server_s_model_file(client):
    assert finished_svg(client, submit(client, mask="auto"))["mask"] == "auto"


def test_no_mask_is_none(client):
    response = submit(client)
    assert response.get_json()["params"]["mask"] == "none"
    assert finished_svg(client, response)["mask"] == "none"
    assert client.application.extensions["sketchify"].store.read_mask(
        response.get_json()["id"]) is None


# -- refused, before anything is stored --------------------------------------------------------

@pytest.mark.parametrize("mask", ["none", "alpha", "auto"])
def test_a_mask_image_with_another_mode_is_422_naming_mask(client, mask):
    assert "mask image was sent too" in refused(submit(client, mask_image=disc_mask(),
                                                       mask=mask), "mask")
    assert stored_jobs(client) == []


def test_alpha_on_a_photo_without_alpha_is_422_naming_mask(client):
    assert "no alpha channel" in refused(submit(client, mask="alpha"), "mask")
    assert stored_jobs(client) == []


@pytest.mark.parametrize(("mask_image", "needle"), [
    (b"no image here", "unusable"),
    (disc_mask((48, 64)), "48x64 pixels but the photo is 64x48"),
    (encode(Image.new("L", (64, 48), 0)), "no object pixel"),
    (encode(Image.new("RGBA", (64, 48), (255, 255, 255, 0))), "no object pixel"),
])
def test_a_bad_mask_image_is_422_naming_mask_image(client, mask_image, needle):
    assert needle in refused(submit(client, mask_image=mask_image), "mask_image")
    assert needle in refused(submit_json(client, {
        "mask_image": base64.b64encode(mask_image).decode()}), "mask_image")
    assert stored_jobs(client) == []
    assert list(client.application.extensions["sketchify"].store.jobs_dir.iterdir()) == []


def test_mask_field_shapes(client):
    refused(submit(client, mask="sky"), "mask")
    refused(submit_json(client, {"mask": 3}), "mask")
    assert "needs a mask image" in refused(submit(client, mask="file"), "mask_image")
    refused(submit_json(client, {"mask_image": "not base64!"}), "mask_image")
    refused(submit_json(client, {"mask_image": 12}), "mask_image")
    form = {**FAST, "image": (io.BytesIO(png_bytes()), "p.png"), "mask_image": "text"}
    assert "file part" in refused(client.post("/v1/sketches", data=form,
                                              content_type="multipart/form-data"), "mask_image")
    assert stored_jobs(client) == []


def test_auto_without_the_extra_is_422_naming_mask(client, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # how Python marks it unimportable
    assert "pip install 'sketchify-clipasso[mask]'" in refused(submit(client, mask="auto"),
                                                               "mask")


def test_auto_without_a_model_is_422_naming_mask(make_app, monkeypatch, tmp_path):
    monkeypatch.setenv("U2NET_HOME", str(tmp_path / "empty-cache"))
    client = make_app(None).test_client()
    message = refused(submit(client, mask="auto"), "mask")
    assert U2NET_URL in message and "--mask-model FILE" in message
    assert stored_jobs(client) == []


def test_idempotency_fingerprint_includes_the_mask(client):
    key = {"Idempotency-Key": "mask-key-1"}
    first = submit(client, mask_image=disc_mask(), headers=key)
    assert first.status_code == 202
    again = submit(client, mask_image=disc_mask(), headers=key)
    assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]
    other = Image.new("L", (64, 48), 255)
    refused(submit(client, mask_image=encode(other), headers=key), "Idempotency-Key")
    refused(submit(client, headers=key), "Idempotency-Key")
