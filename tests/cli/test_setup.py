"""What a new user's setup meets: the CLIP flags' environment variables (named once, used by
sketch, evaluate, serve and worker), and a torch/torchvision pair that does not match."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import CAT, QUICK

from sketchify.backend.cli import build_parser, main
from sketchify.core.commands.cli import MODEL_VARIABLES

pytest_plugins = ["cli_fixtures"]

# Each command with the least it needs to parse.
COMMANDS = {
    "sketch": ["sketch", "cat.jpg"],
    "evaluate": ["evaluate", "photos", "-o", "out"],
    "serve": ["serve"],
    "worker": ["worker", "--broker", "redis://127.0.0.1:6379/0"],
}


def attribute(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_takes_the_models_from_the_environment_and_a_flag_wins(command,
                                                                             monkeypatch):
    for variable in MODEL_VARIABLES.values():
        monkeypatch.setenv(variable, f"from-{variable}")
    args = build_parser().parse_args(COMMANDS[command])
    for flag, variable in MODEL_VARIABLES.items():
        assert getattr(args, attribute(flag)) == f"from-{variable}"
    args = build_parser().parse_args([*COMMANDS[command], "--loss-weights", "given.bin"])
    assert args.loss_weights == "given.bin"
    assert args.saliency_weights == "from-SKETCHIFY_SALIENCY_WEIGHTS"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_without_the_variables_the_defaults_are_the_published_models(command, monkeypatch):
    for variable in MODEL_VARIABLES.values():
        monkeypatch.delenv(variable, raising=False)
    args = build_parser().parse_args(COMMANDS[command])
    assert (args.loss_model, args.loss_weights, args.saliency_model, args.saliency_weights) == (
        "RN101", "openai", "ViT-B-32", "openai")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_shows_each_flag_with_its_variable(command, capsys):
    assert main([command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for flag, variable in MODEL_VARIABLES.items():
        assert flag in text and f"${variable}" in text, (command, flag)


def test_a_sketch_with_the_models_named_only_in_the_environment(tiny_models, tmp_path,
                                                                monkeypatch):
    photo = Path(shutil.copy(CAT, tmp_path / "cat.jpg"))
    for flag, variable in MODEL_VARIABLES.items():
        monkeypatch.setenv(variable, str(getattr(tiny_models, {
            "--loss-model": "loss_config", "--loss-weights": "loss_weights",
            "--saliency-model": "saliency_config", "--saliency-weights": "saliency_weights",
        }[flag])))
    assert main(["sketch", str(photo), "--strokes", "4", *QUICK]) == 0
    assert (tmp_path / "cat.4.svg").read_text().count("<path") == 4


def test_a_mismatched_torchvision_is_one_sentence_naming_both_versions(tmp_path):
    # What a torchvision built for another torch raises when open_clip imports it.
    fake = tmp_path / "site" / "torchvision"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        'raise RuntimeError("operator torchvision::nms does not exist")\n')
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    command = shutil.which("sketchify", path=os.path.dirname(sys.executable))
    done = subprocess.run([command, "sketch", str(CAT), "-o", str(tmp_path / "cat.svg")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    torch, vision = (importlib.metadata.version(n) for n in ("torch", "torchvision"))
    assert f"torch {torch} and torchvision {vision} are not a matching pair" in lines[0]
    assert "pip install --force-reinstall torch torchvision" in lines[0]
    assert not (tmp_path / "cat.svg").exists()
