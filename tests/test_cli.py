"""`sketchify sketch` end to end, in-process, with tiny random-weight models."""

from __future__ import annotations

import os
import shutil
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest
from lxml import etree

from sketchify.backend.cli import main
from sketchify.core import cli

CAT = Path(__file__).parent.parent / "examples" / "cat.jpg"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def photo(tmp_path) -> Path:
    return Path(shutil.copy(CAT, tmp_path / "cat.jpg"))


@pytest.fixture
def models(tiny_models) -> list[str]:
    return [
        "--loss-model", str(tiny_models.loss_config),
        "--loss-weights", str(tiny_models.loss_weights),
        "--saliency-model", str(tiny_models.saliency_config),
        "--saliency-weights", str(tiny_models.saliency_weights),
    ]


def run(photo: Path, *extra: str, models: list[str]) -> int:
    argv = ["sketch", str(photo), "--preset", "draft", "--steps", "2", "--device", "cpu"]
    return main([*argv, *models, *extra])


def paths_in(svg: Path) -> list:
    root = etree.parse(str(svg)).getroot()
    assert root.tag == f"{SVG}svg"
    assert (root.get("width"), root.get("height")) == ("451", "300")
    return root.findall(f".//{SVG}path")


def test_writes_one_svg_per_count_beside_the_photo(photo, models, capsys):
    assert run(photo, "--strokes", "4,8", models=models) == 0
    out, err = capsys.readouterr()
    assert err == ""  # no progress bar when stderr is not a terminal
    for n in (4, 8):
        svg = photo.with_name(f"cat.{n}.svg")
        assert len(paths_in(svg)) == n
        assert str(svg) in out
    assert sorted(p.name for p in photo.parent.iterdir()) == ["cat.4.svg", "cat.8.svg", "cat.jpg"]


def test_output_path_single_and_several_counts(photo, models, tmp_path):
    assert run(photo, "--strokes", "4", "-o", str(tmp_path / "one.svg"), models=models) == 0
    assert len(paths_in(tmp_path / "one.svg")) == 4
    assert run(photo, "--strokes", "2,3", "-o", str(tmp_path / "many.svg"), models=models) == 0
    assert len(paths_in(tmp_path / "many.2.svg")) == 2
    assert len(paths_in(tmp_path / "many.3.svg")) == 3


def test_ctrl_c_writes_the_best_so_far_and_says_so(photo, models, monkeypatch, capsys):
    @contextmanager
    def interrupting_bar(total):
        def show(p):
            if p.step == 2:
                os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C delivers

        yield show

    monkeypatch.setattr(cli, "_progress_bar", interrupting_bar)
    before = signal.getsignal(signal.SIGINT)
    code = main(["sketch", str(photo), "--strokes", "4", "--steps", "1000", "--seeds", "1",
                 "--device", "cpu", *models])
    assert code == cli.CANCELED_EXIT
    assert signal.getsignal(signal.SIGINT) is before
    err = capsys.readouterr().err
    assert "interrupted at step 2 of 1000" in err and len(err.splitlines()) == 1
    assert len(paths_in(photo.with_name("cat.4.svg"))) == 4


@pytest.mark.parametrize(
    ("case", "extra"),
    [
        ("missing file", []),
        ("not an image", []),
        ("zero strokes", ["--strokes", "0"]),
        ("too many strokes", ["--strokes", "1000"]),
        ("not a number", ["--strokes", "4,many"]),
        ("unknown preset", ["--preset", "fastest"]),
        ("bad steps", ["--steps", "0"]),
        ("unknown device", ["--device", "tpu"]),
        ("missing weights", ["--loss-weights", "/nonexistent/rn101.pt"]),
        ("missing output folder", ["-o", "/nonexistent/dir/out.svg"]),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(case, extra, photo, models, capsys):
    if case == "missing file":
        photo.unlink()
    elif case == "not an image":
        photo.write_text("this is not a photo")
    before = sorted(photo.parent.iterdir())
    argv = ["sketch", str(photo), "--steps", "2", "--device", "cpu", *models, *extra]
    if case == "bad steps":
        argv.remove("2")
        argv.remove("--steps")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("sketchify")
    assert sorted(photo.parent.iterdir()) == before
