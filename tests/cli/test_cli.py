"""`sketchify sketch PHOTO` end to end, in-process, with tiny random-weight models."""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
from pathlib import Path

import pytest
from cli_helpers import QUICK
from lxml import etree

from sketchify.backend.cli import main
from sketchify.core.commands import bars, batch
from sketchify.core.optimize import Progress
from sketchify.core.output import provenance

RELEASE_0_2_0 = Path(__file__).parents[1] / "fixtures" / "release-0.2.0"

pytest_plugins = ["cli_fixtures"]
SVG = "{http://www.w3.org/2000/svg}"


def run(photo: Path, *extra: str, models: list[str]) -> int:
    return main(["sketch", str(photo), *QUICK, *models, *extra])


def paths_in(svg: Path) -> list:
    root = etree.parse(str(svg)).getroot()
    assert root.tag == f"{SVG}svg"
    assert (root.get("width"), root.get("height")) == ("451", "300")
    return root.findall(f".//{SVG}path")


def test_writes_one_svg_per_count_beside_the_photo(photo, models, capsys):
    assert run(photo, "--strokes", "4,8", models=models) == 0
    out, err = capsys.readouterr()
    # No progress bar when stderr is not a terminal: only the estimate.
    assert err.startswith("sketchify: cat.jpg, strokes 4,8, preset draft (2 steps, 1 seed) on cpu")
    assert len(err.splitlines()) == 1
    for n in (4, 8):
        svg = photo.with_name(f"cat.{n}.svg")
        assert len(paths_in(svg)) == n
        assert str(svg) in out.splitlines()
    assert sorted(p.name for p in photo.parent.iterdir()) == ["cat.4.svg", "cat.8.svg", "cat.jpg"]


def test_the_largest_seed_the_api_takes_sketches(photo, models):
    # Each run's seed is derived from it and must still be one torch accepts (below 2**64).
    assert run(photo, "--strokes", "4", "--seed", str(2**63 - 1), models=models) == 0
    assert len(paths_in(photo.with_name("cat.4.svg"))) == 4


def test_the_precision_asked_is_run_recorded_and_redone_when_changed(photo, models, tmp_path):
    out = ["--strokes", "4", "--out-dir", str(tmp_path)]
    svg = tmp_path / "cat.4.svg"
    assert run(photo, *out, models=models) == 0
    assert provenance.read(svg.read_bytes())["precision"] == "fp32"  # `auto` on a CPU
    made = svg.stat().st_mtime_ns
    # A batch (the photo's folder) asking for what auto ran finds it up to date; one asking
    # for another precision does it again.
    batch_run = ["sketch", str(photo.parent), *QUICK, *models, *out, "--precision"]
    assert main([*batch_run, "fp32"]) == 0
    assert svg.stat().st_mtime_ns == made
    assert main([*batch_run, "fp16"]) == 0
    assert provenance.read(svg.read_bytes())["precision"] == "fp16"


def test_an_svg_from_release_0_2_0_is_redone_only_for_an_explicit_precision(
        photo, models, tmp_path):
    svg = tmp_path / "cat.4.svg"
    shutil.copy(RELEASE_0_2_0 / "cat.4.svg", svg)
    assert "precision" not in provenance.read(svg.read_bytes())
    made = svg.stat().st_mtime_ns
    batch_run = ["sketch", str(photo.parent), *QUICK, *models, "--strokes", "4",
                 "--out-dir", str(tmp_path)]
    assert main(batch_run) == 0  # `auto`, what that release ran: up to date
    assert svg.stat().st_mtime_ns == made
    assert main([*batch_run, "--precision", "fp32"]) == 0  # asked explicitly: made anew
    assert provenance.read(svg.read_bytes())["precision"] == "fp32"


def test_output_path_single_and_several_counts(photo, models, tmp_path):
    assert run(photo, "--strokes", "4", "-o", str(tmp_path / "one.svg"), models=models) == 0
    assert len(paths_in(tmp_path / "one.svg")) == 4
    assert run(photo, "--strokes", "2,3", "-o", str(tmp_path / "many.svg"), models=models) == 0
    assert len(paths_in(tmp_path / "many.2.svg")) == 2
    assert len(paths_in(tmp_path / "many.3.svg")) == 3


def test_svgs_get_the_permissions_of_any_user_file(photo, models):
    previous = os.umask(0o022)
    try:
        assert run(photo, "--strokes", "2", models=models) == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE(photo.with_name("cat.2.svg").stat().st_mode) == 0o644


def test_the_estimate_comes_before_the_first_step(photo, models, monkeypatch):
    events = []
    estimate = batch.estimate_line
    monkeypatch.setattr(batch, "estimate_line",
                        lambda *a: events.append("estimate") or estimate(*a))
    show = bars.ProgressBars.show
    monkeypatch.setattr(bars.ProgressBars, "show",
                        lambda self, p: events.append("step") or show(self, p))
    assert run(photo, "--strokes", "2", models=models) == 0
    assert events == ["estimate", "step", "step"]


def test_the_estimate_counts_every_view_of_every_step():
    from sketchify.core.commands.preflight import PhotoJob
    from sketchify.core.config import preset

    config = preset("standard", steps=10)
    jobs = [PhotoJob(Path("a.jpg"), {}, todo=(4, 8))]
    # 10 steps x 2 counts x 3 seeds x (1 + 4 augmentations) views at 0.1 s: 30 s.
    line = batch.estimate_line(config, "cpu", jobs, 10 * 2 * 3 * 5 * 0.1, False)
    assert "a.jpg, strokes 4,8, preset standard (10 steps, 3 seeds) on cpu: about 30 s" in line
    assert "--preset draft finishes in minutes" in line  # not draft, on a CPU
    draft = batch.estimate_line(preset("draft"), "cuda", jobs, 120, True)
    assert "1 photo, strokes 4,8" in draft and "up to about 2 min." in draft


def progress(eta_s: float) -> Progress:
    return Progress(step=8, total=2000, fraction=0.004, losses={"total": 0.43},
                    elapsed_s=10.0, eta_s=eta_s, best={})


@pytest.mark.parametrize(("eta_s", "said"), [(35, "about 35 s left"), (240, "about 4 min left"),
                                             (17870, "about 5 h left")])
def test_the_bar_says_the_time_left_as_people_do(eta_s, said):
    assert bars.photo_postfix(progress(eta_s)) == f"loss 0.43, {said}"


class Terminal:
    """A stderr that says it is a terminal, so that the bars draw."""

    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


def test_the_bars_draw_on_a_terminal_with_the_time_left():
    screen = Terminal()
    shown = bars.ProgressBars(photos=3, stream=screen)
    shown.start("cat.jpg", 2000, queued_s=600)
    shown.show(progress(240))
    shown.photo.refresh()
    shown.overall.refresh()
    shown.finish()
    shown.close()
    assert "cat.jpg" in screen.text and "8/2000 steps" in screen.text
    assert "about 4 min left" in screen.text  # the photo: its own ETA
    assert "about 14 min left" in screen.text  # the batch: 4 min + 10 min queued
    assert "1/3 photos" in screen.text
    assert "<" not in screen.text  # tqdm's raw "[00:12<03:40]" is gone


def test_ctrl_c_writes_the_best_so_far_and_says_so(photo, models, monkeypatch, capsys):
    def interrupting(self, p):
        if p.step == 2:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C delivers

    monkeypatch.setattr(bars.ProgressBars, "show", interrupting)
    before = signal.getsignal(signal.SIGINT)
    code = main(["sketch", str(photo), "--strokes", "4", "--steps", "1000", "--seeds", "1",
                 "--device", "cpu", *models])
    assert code == 130
    assert signal.getsignal(signal.SIGINT) is before
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "interrupted at step 2 of 1000" in err[1]
    svg = photo.with_name("cat.4.svg")
    assert len(paths_in(svg)) == 4
    # Marked, so that a later batch does it again rather than skip it as up to date.
    assert provenance.read(svg.read_text())["canceled"] is True


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
        ("bad seeds", ["--seeds", "-1"]),
        ("unknown device", ["--device", "tpu"]),
        ("missing weights", ["--loss-weights", "/nonexistent/rn101.pt"]),
        ("missing output folder", ["-o", "/nonexistent/dir/out.svg"]),
        ("-o and --out-dir", ["-o", "x.svg", "--out-dir", "out"]),
        ("sheet not a png", ["--sheet", "sheet.jpg"]),
        ("missing sheet folder", ["--sheet", "/nonexistent/dir/sheet.png"]),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(case, extra, photo, models, capsys):
    if case == "missing file":
        photo.unlink()
    elif case == "not an image":
        photo.write_text("this is not a photo")
    before = sorted(photo.parent.iterdir())
    assert main(["sketch", str(photo), "--device", "cpu", *models, *extra]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("sketchify")
    assert sorted(photo.parent.iterdir()) == before


def test_a_sheet_shows_the_photo_and_every_count(photo, models, tmp_path):
    from PIL import Image

    from sketchify.core.output.sheet import sheet_size

    sheet = tmp_path / "cat.sheet.png"
    assert run(photo, "--strokes", "4,8,16", "--sheet", str(sheet), models=models) == 0
    with Image.open(sheet) as image:
        assert image.format == "PNG"
        assert image.size == sheet_size(451, 300, 3)
    assert stat.S_IMODE(sheet.stat().st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_plot_writes_millimetres_and_says_the_travel_saved(photo, models, capsys):
    sheet = photo.with_name("sheet.png")
    assert run(photo, "--strokes", "8", "--plot", "--page", "A5", "--pen", "0.03in",
               "--sheet", str(sheet), models=models) == 0
    assert sheet.exists()  # drawn from the sketch's own strokes, in photo pixels
    svg = photo.with_name("cat.8.svg")
    root = etree.parse(str(svg)).getroot()
    assert (root.get("width"), root.get("height"), root.get("viewBox")) == (
        "210mm", "148mm", "0 0 210 148")  # a wide photo: A5 landscape
    paths = root.findall(f"{SVG}path")
    assert len(paths) == 8 and {p.get("stroke-width") for p in paths} == {"0.762"}
    data = provenance.read(svg.read_bytes())
    assert data["plot"] == {"page": "A5", "pen_mm": 0.762, "margin_mm": 10.0}
    line, sheet_line = capsys.readouterr().out.splitlines()
    assert sheet_line == str(sheet)
    said = re.fullmatch(rf"{re.escape(str(svg))}: pen-down (\d+) mm, pen-up travel (\d+) mm -> "
                        r"(\d+) mm, about (\d+) s at 25 mm/s down, 75 mm/s up", line)
    assert said and int(said[3]) <= int(said[2]), line


def test_plot_is_part_of_the_up_to_date_check(photo, models, tmp_path):
    svg = tmp_path / "cat.4.svg"
    batch_run = ["sketch", str(photo.parent), *QUICK, *models, "--strokes", "4",
                 "--out-dir", str(tmp_path)]
    assert main(batch_run) == 0
    assert provenance.read(svg.read_bytes())["plot"] is None
    made = svg.stat().st_mtime_ns
    assert main(batch_run) == 0 and svg.stat().st_mtime_ns == made
    assert main([*batch_run, "--plot"]) == 0  # plot-ready asked: made anew
    assert provenance.read(svg.read_bytes())["plot"]["size_mm"] == 150.0
    made = svg.stat().st_mtime_ns
    assert main([*batch_run, "--plot"]) == 0 and svg.stat().st_mtime_ns == made
    assert main([*batch_run, "--plot", "--size", "10cm"]) == 0
    assert provenance.read(svg.read_bytes())["plot"]["size_mm"] == 100.0


def test_a_release_0_2_0_svg_is_redone_when_a_plot_is_asked(photo, models, tmp_path):
    svg = tmp_path / "cat.4.svg"
    shutil.copy(RELEASE_0_2_0 / "cat.4.svg", svg)
    batch_run = ["sketch", str(photo.parent), *QUICK, *models, "--strokes", "4",
                 "--out-dir", str(tmp_path), "--plot"]
    assert main(batch_run) == 0
    assert provenance.read(svg.read_bytes())["plot"] is not None
