"""The README's front door stays true: its Python snippet runs, its commands parse, and its
quick-start sketch, without network, ends in one message naming every missing file."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from cli_helpers import CAT

from sketchify.backend.cli import build_parser

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    return README[start:README.index("\n## ", start + 1)]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def commands(text: str) -> list[str]:
    """The `sketchify ...` command lines of the shell blocks, continuations joined."""
    joined = "\n".join(blocks(text, "sh")).replace("\\\n", " ")
    return [line.split("  #")[0].strip() for line in joined.splitlines()
            if line.startswith("sketchify ")]


def test_the_python_snippet_runs(tiny_models, tmp_path, monkeypatch, capsys):
    (code,) = blocks(section("Python"), "python")
    # Tiny random-weight models where the README names the real files, and two steps.
    for old, new in [
        ('"RN101-quickgelu"', repr(str(tiny_models.loss_config))),
        ('str(models / "rn101.bin")', repr(str(tiny_models.loss_weights))),
        ('"ViT-B-32-quickgelu"', repr(str(tiny_models.saliency_config))),
        ('str(models / "vitb32.bin")', repr(str(tiny_models.saliency_weights))),
        ('device="auto"', 'device="cpu"'),
        ('preset("draft")', 'preset("draft", steps=2)'),
    ]:
        assert code.count(old) == 1, old
        code = code.replace(old, new)
    (tmp_path / "examples").mkdir()
    shutil.copy(CAT, tmp_path / "examples" / "cat.jpg")
    monkeypatch.chdir(tmp_path)
    names: dict = {}
    exec(compile(code, "README.md", "exec"), names)
    points = names["result"].sketches[16].strokes.points
    assert isinstance(points, torch.Tensor) and points.shape == (16, 4, 2)
    assert (tmp_path / "examples" / "cat.16.svg").read_text().count("<path") == 16
    assert capsys.readouterr().out.splitlines()[-1] == "2 2 0.0"  # the progress lambda


def test_the_files_the_quick_start_writes_are_ignored_by_git():
    text = section("Quick start") + section("Python")
    written = set(re.findall(r"examples/[\w.]+\.(?:svg|png)", text))
    assert {"examples/cat.16.svg", "examples/cat.sheet.png"} <= written
    done = subprocess.run(["git", "check-ignore", *sorted(written)], cwd=ROOT,
                          capture_output=True, text=True)
    assert sorted(done.stdout.split()) == sorted(written)


def test_both_install_commands_are_given():
    (shell,) = blocks(section("Quick start"), "sh")
    lines = [line for line in shell.splitlines() if not line.startswith("#")]
    assert ("pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu "
            "&& pip install -e .") in lines
    assert "pip install -e ." in lines


def test_every_documented_command_parses(monkeypatch):
    found = commands(README)
    assert len(found) >= 6
    for line in found:
        if "PHOTO" in line or "[" in line:  # the synopsis, not a command
            continue
        argv = [os.path.expanduser(a) for a in shlex.split(line)[1:]]
        if argv[0] not in ("sketch", "evaluate", "serve"):
            continue
        try:
            build_parser().parse_args(argv)
        except SystemExit as exc:
            pytest.fail(f"{line!r} does not parse ({exc})")


def test_the_quick_start_sketch_names_every_missing_file_offline(tmp_path):
    (sketch,) = [c for c in commands(section("Quick start")) if c.startswith("sketchify sketch")]
    (tmp_path / "examples").mkdir()
    shutil.copy(CAT, tmp_path / "examples" / "cat.jpg")
    (tmp_path / "hub").mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")}
    executable = shutil.which("sketchify", path=os.path.dirname(sys.executable))
    done = subprocess.run([executable, *shlex.split(sketch)[1:]], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for address in ("https://huggingface.co/timm/resnet101_clip.openai/",
                    "https://huggingface.co/timm/vit_base_patch32_clip_224.openai/"):
        assert address in lines[0]
    assert sorted(p.name for p in (tmp_path / "examples").iterdir()) == ["cat.jpg"]
