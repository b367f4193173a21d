"""Weights: every missing file named in one message, OpenAI's own checkpoints recognised."""

from __future__ import annotations

import hashlib
import logging
import shutil
import warnings
from pathlib import Path

import open_clip
import pytest
import torch
from cli_helpers import CAT
from huggingface_hub import constants as hub_constants
from open_clip.transformer import QuickGELU

from sketchify.backend.cli import main
from sketchify.core.clip import models
from sketchify.core.clip.models import load_clip, openai_release
from sketchify.core.engine import Sketcher
from sketchify.core.errors import WeightsError

RN101_URL = "https://huggingface.co/timm/resnet101_clip.openai/resolve/main/open_clip_pytorch_model.bin"
VIT_URL = ("https://huggingface.co/timm/vit_base_patch32_clip_224.openai/resolve/main/"
           "open_clip_pytorch_model.bin")


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No network and an empty Hugging Face cache."""
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    return cache


def test_both_missing_models_are_named_in_one_message(offline, capsys):
    assert main(["sketch", str(CAT), "-o", str(offline / "cat.svg"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    message = err.strip()
    assert message.startswith("sketchify: error: The RN101 'openai' and ViT-B-32 'openai' weights "
                              "are not cached and HF_HUB_OFFLINE is set: ")
    assert f"download {RN101_URL} and pass it with --loss-weights FILE and --loss-model " \
           "RN101-quickgelu; " in message
    assert f"download {VIT_URL} and pass it with --saliency-weights FILE and --saliency-model " \
           "ViT-B-32-quickgelu; " in message
    assert message.endswith(f"or run once online to cache them in {offline}.")
    assert list(offline.iterdir()) == []


def test_a_missing_file_and_a_missing_download_are_named_together(offline, tiny_models):
    with pytest.raises(WeightsError) as info:
        Sketcher("cpu", "RN101", "/nonexistent/rn101.pt", "ViT-B-32", "openai")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("Weights file not found: /nonexistent/rn101.pt. The ViT-B-32 ")
    assert VIT_URL in message


def test_an_unreachable_hub_is_asked_once_for_both_models(offline, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    asked = []

    def no_answer(url, **kwargs):
        asked.append(url)
        raise ConnectionError("no route to host")

    monkeypatch.setattr("huggingface_hub.file_download.get_hf_file_metadata", no_answer)
    with pytest.raises(WeightsError) as info:
        Sketcher("cpu")
    assert str(info.value).startswith("Cannot reach https://huggingface.co to download the "
                                      "RN101 'openai' and ViT-B-32 'openai' weights: download ")
    assert len(asked) == 1


def test_a_model_that_loads_is_not_loaded_when_the_other_is_missing(tiny_models, monkeypatch,
                                                                   tmp_path):
    weights = Path(shutil.copy(tiny_models.loss_weights, tmp_path))  # not loaded before
    created = []
    real = open_clip.create_model
    monkeypatch.setattr(open_clip, "create_model",
                        lambda *a, **k: created.append(a) or real(*a, **k))
    gone = tiny_models.saliency_weights.with_name("gone.pt")
    with pytest.raises(WeightsError, match=r"Weights file not found: .*gone\.pt"):
        Sketcher("cpu", str(tiny_models.loss_config), str(weights),
                 str(tiny_models.saliency_config), str(gone))
    assert created == []  # every file is looked for before any model is built


@pytest.fixture(scope="module")
def torchscript_file(tiny_models, tmp_path_factory) -> Path:
    """The tiny RN saved as OpenAI saved theirs: a traced TorchScript archive of the network as
    trained (load_clip's own models have their BatchNorms folded)."""
    load_clip(str(tiny_models.loss_config), str(tiny_models.loss_weights))  # registers the name
    model = open_clip.create_model(tiny_models.loss_config.stem,
                                   pretrained=str(tiny_models.loss_weights)).eval()
    path = tmp_path_factory.mktemp("jit") / "tiny-rn-jit.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.trace is deprecated; OpenAI's files are not
        traced = torch.jit.trace(model, (torch.rand(1, 3, 224, 224),
                                         torch.zeros(1, 77, dtype=torch.long)),
                                 check_trace=False, strict=False)
    traced.save(str(path))
    return path


def quick_gelu(model: torch.nn.Module) -> bool:
    return any(isinstance(m, QuickGELU) for m in model.modules())


def test_a_torchscript_checkpoint_gets_quickgelu_and_its_tensors(tiny_models, torchscript_file,
                                                                 capsys, caplog):
    with caplog.at_level(logging.WARNING), warnings.catch_warnings():
        warnings.simplefilter("error")
        model = load_clip(str(tiny_models.loss_config), str(torchscript_file))
    assert caplog.records == []  # open_clip's "initialized randomly" is not the user's news
    saved = torch.load(tiny_models.loss_weights, weights_only=True)
    assert torch.equal(model.token_embedding.weight, saved["token_embedding.weight"])
    assert quick_gelu(model)
    assert capsys.readouterr().err == ""  # no library warnings on the user's terminal
    # A bare state dict cannot tell: it loads with the config's own activation.
    plain = load_clip(str(tiny_models.loss_config), str(tiny_models.loss_weights))
    assert not quick_gelu(plain)
    # The archive's own tensors, folded as any loss model is: the same as from the state dict.
    assert torch.equal(model.visual.conv1.weight, plain.visual.conv1.weight)
    assert not torch.equal(model.visual.conv1.weight, saved["visual.conv1.weight"])


def test_a_torchscript_checkpoint_of_another_model_is_refused(tiny_models, torchscript_file):
    with pytest.raises(WeightsError, match="do not match this model's architecture"):
        load_clip(str(tiny_models.saliency_config), str(torchscript_file))


def test_the_published_openai_sums_are_known():
    # The sums OpenAI's download addresses carry (and its loader checks), as in openai/CLIP.
    sums = models.openai_sums()
    assert sums["8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599"] == "RN101"
    assert sums["40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af"] == "ViT-B-32"


def test_which_weights_are_the_published_ones(tiny_models, monkeypatch):
    assert openai_release("RN101", "openai") == "RN101"
    assert openai_release("ViT-B-32-quickgelu", "openai") == "ViT-B-32"
    assert openai_release("RN101", "yfcc15m") is None
    assert openai_release(str(tiny_models.loss_config), "/nonexistent/RN101.pt") is None
    assert openai_release(str(tiny_models.loss_config), str(tiny_models.loss_weights)) is None
    digest = hashlib.sha256(tiny_models.loss_weights.read_bytes()).hexdigest()
    monkeypatch.setattr(models, "openai_sums", lambda: {digest: "RN101"})
    assert openai_release("RN101", str(tiny_models.loss_weights)) == "RN101"
