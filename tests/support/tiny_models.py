"""Tiny random-weight CLIP models for tests and benchmarks of the plumbing.

They have the real architectures (a ModifiedResNet like RN101 for the loss, a ViT with a 7x7
patch grid like ViT-B/32 for saliency) at toy widths and RANDOM weights: they exercise every
code path in milliseconds but see nothing. Never present their output as a real sketch.

    python tests/support/tiny_models.py OUTDIR   # writes the configs and weights, prints paths
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NamedTuple

import open_clip
import torch

# A small text tower too: open_clip always builds one, and prompts go through it. The real
# vocabulary size is kept so the real tokenizer's ids fit.
_TEXT = {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}

LOSS_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 224, "layers": [1, 1, 1, 1], "width": 8, "patch_size": None},
    "text_cfg": _TEXT,
}
SALIENCY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 224, "layers": 2, "width": 32, "head_width": 16, "patch_size": 32},
    "text_cfg": _TEXT,
}


class TinyModels(NamedTuple):
    loss_config: Path
    loss_weights: Path
    saliency_config: Path
    saliency_weights: Path


def write_model(directory: Path, name: str, config: dict, seed: int) -> tuple[Path, Path]:
    """Write ``name.json`` (an open_clip model config) and ``name.pt`` (random weights)."""
    config_path = directory / f"{name}.json"
    weights_path = directory / f"{name}.pt"
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    open_clip.add_model_config(config_path)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = open_clip.create_model(name)
    torch.save(model.state_dict(), weights_path)
    return config_path, weights_path


def make_tiny_models(directory: str | Path) -> TinyModels:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    loss = write_model(directory, "sketchify-tiny-rn", LOSS_CONFIG, seed=1)
    saliency = write_model(directory, "sketchify-tiny-vit", SALIENCY_CONFIG, seed=2)
    return TinyModels(*loss, *saliency)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/support/tiny_models.py OUTDIR")
    for field, path in make_tiny_models(sys.argv[1])._asdict().items():
        print(f"{field}={path}")
