"""Devices and CLIP loading: tiny models through the real code path, and every way weights can
be missing or wrong, without ever touching the internet."""

from __future__ import annotations

import shutil
import socket
import time

import open_clip
import pytest
import torch
from huggingface_hub import constants as hub_constants

from sketchify.core.clip.fast_resnet import fold_loss_model
from sketchify.core.clip.models import clip_mean_std, load_clip, normalize, resolve_device
from sketchify.core.errors import InputError, WeightsError


def mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


# --- devices ----------------------------------------------------------------------------------


def test_auto_prefers_cuda_then_mps_then_cpu():
    expected = "cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device() == resolve_device("auto")


def test_explicit_cpu():
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name", ["banana", "cuda:x", "tpu"])
def test_unknown_device_is_an_input_error(name):
    with pytest.raises(InputError) as info:
        resolve_device(name)
    assert info.value.field == "device"


def test_unavailable_cuda_is_an_input_error():
    with pytest.raises(InputError, match="not available"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


@pytest.mark.skipif(mps_available(), reason="this machine has MPS")
def test_unavailable_mps_is_an_input_error():
    with pytest.raises(InputError, match="not available"):
        resolve_device("mps")


# --- loading from files -----------------------------------------------------------------------


def test_tiny_models_load_frozen_in_eval_mode(tiny_models):
    for config, weights in (
        (tiny_models.loss_config, tiny_models.loss_weights),
        (tiny_models.saliency_config, tiny_models.saliency_weights),
    ):
        model = load_clip(str(config), str(weights), "cpu")
        assert not model.training
        assert all(not p.requires_grad for p in model.parameters())
        # The loader folds a ResNet's BatchNorms into its convolutions
        # (tests/engine/test_speed_paths.py checks that is the same function): compare with the
        # saved weights folded alike.
        expected = open_clip.create_model(config.stem)
        expected.load_state_dict(torch.load(weights, weights_only=True))
        saved = fold_loss_model(expected.eval()).state_dict()
        assert model.state_dict().keys() == saved.keys()
        for key, value in model.state_dict().items():
            assert torch.equal(value, saved[key]), key


def test_the_architectures_are_the_real_kinds(tiny_models):
    loss = load_clip(str(tiny_models.loss_config), str(tiny_models.loss_weights))
    saliency = load_clip(str(tiny_models.saliency_config), str(tiny_models.saliency_weights))
    assert type(loss.visual).__name__ == "ModifiedResNet"
    assert type(saliency.visual).__name__ == "VisionTransformer"
    assert saliency.visual.grid_size == (7, 7)


def test_same_model_twice_is_the_same_object(tiny_models, monkeypatch):
    first = load_clip(str(tiny_models.loss_config), str(tiny_models.loss_weights), "cpu")
    monkeypatch.chdir(tiny_models.loss_weights.parent)
    again = load_clip(
        tiny_models.loss_config.name, tiny_models.loss_weights.name, torch.device("cpu")
    )
    assert again is first


def test_images_get_gradients_but_weights_do_not(tiny_models):
    model = load_clip(str(tiny_models.loss_config), str(tiny_models.loss_weights))
    images = torch.rand(2, 3, 224, 224, requires_grad=True)
    model.encode_image(normalize(images, model)).square().sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())


def test_normalize_uses_the_clip_statistics(tiny_models):
    model = load_clip(str(tiny_models.loss_config), str(tiny_models.loss_weights))
    mean, std = clip_mean_std(model)
    assert mean == pytest.approx(open_clip.OPENAI_DATASET_MEAN)
    assert std == pytest.approx(open_clip.OPENAI_DATASET_STD)
    images = torch.tensor(mean).view(3, 1, 1).expand(2, 3, 4, 4)
    assert normalize(images, model).abs().max() < 1e-6


def test_missing_weights_file_is_named(tiny_models, tmp_path):
    missing = tmp_path / "gone.pt"
    started = time.monotonic()
    with pytest.raises(WeightsError, match=r"Weights file not found: .*gone\.pt\."):
        load_clip(str(tiny_models.loss_config), str(missing))
    assert time.monotonic() - started < 2


def test_checkpoint_of_another_model_is_a_weights_error(tiny_models):
    with pytest.raises(WeightsError, match=r"sketchify-tiny-vit\.pt could not be loaded as"):
        load_clip(str(tiny_models.loss_config), str(tiny_models.saliency_weights))


def test_garbage_checkpoint_is_a_weights_error(tiny_models, tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(
        WeightsError, match=r"garbage\.pt could not be loaded .*not a readable PyTorch"
    ):
        load_clip(str(tiny_models.loss_config), str(garbage))


def test_unknown_model_name_is_an_input_error():
    with pytest.raises(InputError, match="Unknown CLIP model 'RN9000'") as info:
        load_clip("RN9000", "openai", role="loss")
    assert info.value.field == "loss_model"


def test_unreadable_model_config_is_an_input_error(tmp_path):
    config = tmp_path / "broken.json"
    config.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="Cannot read the model config"):
        load_clip(str(config), "openai")


def test_unknown_pretrained_tag_lists_the_known_ones():
    with pytest.raises(WeightsError, match=r"neither a weights file nor a pretrained tag.*openai"):
        load_clip("RN101", "no-such-tag")


# --- pretrained tags and the Hugging Face cache, offline ----------------------------------------


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_uncached_tag_while_offline_says_what_to_download(empty_hub_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(WeightsError) as info:
        load_clip("ViT-B-32", "openai", role="saliency")
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert "\n" not in message and message.count(". ") == 0 and message.endswith(".")
    assert "ViT-B-32 'openai'" in message
    assert "open_clip_pytorch_model.bin" in message
    assert "timm/vit_base_patch32_clip_224.openai" in message
    assert "--saliency-weights FILE" in message


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_hub_fails_fast(empty_hub_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    started = time.monotonic()
    with pytest.raises(WeightsError, match=f"Cannot reach {endpoint}") as info:
        load_clip("RN101", "openai", role="loss")
    assert time.monotonic() - started < 10
    assert "timm/resnet101_clip.openai" in str(info.value)
    assert "--loss-weights FILE" in str(info.value)


def test_tag_weights_come_from_the_hub_cache(tiny_models, empty_hub_cache, monkeypatch):
    # Pretend the tiny ViT has a pretrained tag on the hub and its file is already cached.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tag_cfg = {"hf_hub": "sketchify-test/tiny-vit/", "mean": (0.5,) * 3, "std": (0.25,) * 3}
    real = open_clip.get_pretrained_cfg
    monkeypatch.setattr(
        open_clip,
        "get_pretrained_cfg",
        lambda model, tag: tag_cfg if tag == "tinytag" else real(model, tag),
    )
    repo = empty_hub_cache / "models--sketchify-test--tiny-vit"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    shutil.copy(tiny_models.saliency_weights, snapshot / "open_clip_pytorch_model.bin")

    model = load_clip(str(tiny_models.saliency_config), "tinytag")
    saved = torch.load(tiny_models.saliency_weights, weights_only=True)
    assert torch.equal(model.visual.conv1.weight, saved["visual.conv1.weight"])
    assert clip_mean_std(model) == ((0.5,) * 3, (0.25,) * 3)
