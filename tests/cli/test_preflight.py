"""Usage errors answer at once: the checks that run before torch is imported."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import CAT
from PIL import Image

from sketchify.core import config
from sketchify.core.commands.preflight import PhotoJob, check_outputs, find_photos, output_paths
from sketchify.core.errors import InputError


def test_a_folder_is_searched_for_the_formats_the_cli_reads():
    extensions = Image.registered_extensions()
    assert {extensions[s] for s in config.PHOTO_SUFFIXES} <= config.PHOTO_FORMATS


# Each case: (argv, what the one line says). A fresh interpreter runs them all and reports,
# after each, whether torch or open_clip had been imported.
USAGE_ERRORS = [
    (["sketch", "nothere.jpg"], "Image file not found: nothere.jpg."),
    (["sketch", "{cat}", "--strokes", "0"], "stroke counts must be whole numbers from 1 to 256"),
    (["sketch", "{cat}", "--preset", "fast"], "invalid choice: 'fast'"),
    (["sketch", "{cat}", "--precision", "bf16"], "invalid choice: 'bf16'"),
    (["sketch", "{cat}", "-o", "/nope/x.svg"], "The output folder /nope does not exist."),
    (["sketch", "{cat}", "--device", "tpu"], "unknown device 'tpu'"),
    (["sketch", "{cat}", "--steps", "many"], "must be a whole number of at least 1"),
    (["sketch", "{empty}"], "holds no photos"),
    (["sketch", "{text}"], "notes.jpg: The data is not an image Sketchify can read"),
    (["sketch", "{cat}", "{cat2}", "-o", "x.svg"], "for several photos use --out-dir"),
    (["sketch", "{cat}", "{cat2}", "--out-dir", "{out}"], "would both be written to"),
    (["sketch", "{cat}", "--sheet", "{out}/x.gif"], "--sheet writes a PNG image"),
    (["sketch", "{cat}", "--size", "10cm"], "--size sizes the plot-ready SVG: add --plot"),
    (["sketch", "{cat}", "--pen", "0.3mm"], "--pen sizes the plot-ready SVG: add --plot"),
    (["sketch", "{cat}", "--page", "A4"], "--page sizes the plot-ready SVG: add --plot"),
    (["sketch", "{cat}", "--plot", "--size", "0mm"], "--size must be more than 0"),
    (["sketch", "{cat}", "--plot", "--pen", "0"], "--pen must be more than 0"),
    (["sketch", "{cat}", "--plot", "--size", "-3cm"],
     "--size takes a positive length in mm, cm or in (such as 150mm), got '-3cm'"),
    (["sketch", "{cat}", "--plot", "--pen", "-.5"], "--pen takes a positive length"),
    (["sketch", "{cat}", "--plot", "--pen", "0.01"], "--pen must be from 0.05 to 5 mm"),
    (["sketch", "{cat}", "--plot", "--pen", "1cm"],
     "--pen must be from 0.05 to 5 mm (a plotter pen's width), got 10."),
    (["sketch", "{cat}", "--plot", "--size", "15ft"], "mm, cm or in (such as 150mm), got '15ft'"),
    (["sketch", "{cat}", "--plot", "--page", "B5"], "unknown page 'B5'; use A3, A4, A5, A6"),
    (["sketch", "{cat}", "--plot", "--page", "A4", "--size", "9cm"], "give one of them"),
    (["sketch", "{cat}", "--lock"], "--lock locks the strokes of --start"),
    (["sketch", "{cat}", "--start", "nothere.svg"], "--start nothere.svg: cannot read it"),
    (["sketch", "{cat}", "--start", "{broken}"], "not a readable SVG document"),
    (["sketch", "{cat}", "--start", "{blank}"], "has no <path> that draws anything"),
    (["sketch", "{cat}", "--start", "{bad_path}"], "--start"),
    (["sketch", "{cat}", "--start", "{far}"], "more than one photo size outside"),
    (["sketch", "{cat}", "--start", "{far_arc}"], "more than one photo size outside"),
    (["sketch", "{cat}", "--start", "{huge_arc}"],
     "--start {huge_arc}: <path> 1: path data: an arc"),
    (["sketch", "{cat}", "--start", "{no_arc}"], "has no <path> that draws anything"),
    (["sketch", "{cat}", "--start", "{bad_transform}"], "<path> 1: unreadable transform"),
    (["sketch", "{cat}", "--start", "{huge_turn}"], "--start {huge_turn}: <path> 1: unreadable"),
    (["sketch", "{cat}", "--strokes", "1,8", "--start", "{start}"], "smallest count asked is 1"),
    (["sketch", "{cat}", "{cat2}", "--start", "{start}"], "--start draws over one photo"),
    (["evaluate", "{empty}", "-o", "{out}"], "needs at least two class folders"),
    (["evaluate", "{cat}", "-o", "{out}"], "is not a folder of class folders"),
]

PROBE = """
import json, sys
from sketchify.backend.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    code = main(argv)
    results.append([code, "torch" in sys.modules or "open_clip" in sys.modules])
print(json.dumps(results))
"""


def test_usage_errors_come_before_torch_is_imported(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "notes.jpg").write_text("a text file renamed .jpg\n")
    svgs = {"start": '<path d="M 1 1 L 9 9"/><path d="M 5 5 A 3 3 0 0 1 9 9"/>',
            "broken": "<svg", "blank": "<rect width='5' height='5'/>",
            "bad_path": '<path d="M 1 1 L 2"/>', "far": '<path d="M 1 1 L 2000 9"/>',
            "far_arc": '<path d="M 0 0 A 1e12 1e12 0 1 1 10 0"/>',
            "huge_arc": '<path d="M 0 0 A 1e200 1e200 0 1 1 10 0"/>',
            "no_arc": '<path d="M 5 5 A 1 1 0 0 1 5 5"/>',
            "bad_transform": '<path d="M 1 1 L 9 9" transform="translate(10-5)"/>',
            "huge_turn": '<g transform="rotate(1e999)"><path d="M 1 1 L 9 9"/></g>'}
    for name, body in svgs.items():
        text = body if name == "broken" else (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 451 300">{body}</svg>')
        (tmp_path / f"{name}.svg").write_text(text)
    names = {"cat": str(CAT), "cat2": str(shutil.copy(CAT, tmp_path / "b")),
             "text": str(tmp_path / "notes.jpg"),
             "empty": str(tmp_path / "empty"), "out": str(tmp_path / "out"),
             **{name: str(tmp_path / f"{name}.svg") for name in svgs}}
    argvs = [[arg.format(**names) for arg in argv] for argv, _ in USAGE_ERRORS]
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argvs)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    results = json.loads(done.stdout)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == len(USAGE_ERRORS), done.stderr  # one line each
    for (argv, said), (code, torch_loaded), line in zip(USAGE_ERRORS, results, lines,
                                                       strict=True):
        assert code == 2, argv
        assert not torch_loaded, argv
        assert line.startswith("sketchify") and said.format(**names) in line, (argv, line)
    assert not (tmp_path / "out").exists()


def test_a_usage_error_answers_well_under_a_few_seconds(tmp_path):
    command = shutil.which("sketchify", path=os.path.dirname(sys.executable))
    started = time.monotonic()
    done = subprocess.run([command, "sketch", "nothere.jpg"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    assert done.returncode == 2
    assert done.stderr == "sketchify: error: Image file not found: nothere.jpg.\n"
    # Importing torch alone takes longer than this on the 2-core machines: the bound can fail.
    assert elapsed < 3, f"{elapsed:.1f} s"


def test_a_folder_is_read_one_level_deep_for_photos(tmp_path):
    for name in ("b.JPG", "a.png", ".hidden.jpg", "notes.txt", "a.16.svg"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "deep.jpg").write_bytes(b"x")
    photos, batch = find_photos([tmp_path])
    assert [p.name for p in photos] == ["a.png", "b.JPG"] and batch
    # A photo named twice is sketched once; two names make a batch, one does not.
    assert find_photos([tmp_path / "a.png", tmp_path / "a.png"]) == ([tmp_path / "a.png"], True)
    assert find_photos([tmp_path / "notes.txt"]) == ([tmp_path / "notes.txt"], False)
    with pytest.raises(InputError, match="Image file not found"):
        find_photos([tmp_path / "a.png", tmp_path / "gone.jpg"])


def test_where_the_svgs_go(tmp_path):
    photo = tmp_path / "cat.jpg"
    assert output_paths(photo, (4, 16)) == {4: tmp_path / "cat.4.svg", 16: tmp_path / "cat.16.svg"}
    assert output_paths(photo, (16,), output=Path("x.svg")) == {16: Path("x.svg")}
    assert output_paths(photo, (4, 16), output=Path("x.svg"))[4] == Path("x.4.svg")
    assert output_paths(photo, (4,), out_dir=Path("o")) == {4: Path("o/cat.4.svg")}


def test_colliding_outputs_are_refused_naming_both_photos(tmp_path):
    jobs = [PhotoJob(tmp_path / d / "cat.jpg", output_paths(tmp_path / d / "cat.jpg", (8,),
                                                       out_dir=tmp_path / "out"))
            for d in ("a", "b")]
    with pytest.raises(InputError) as info:
        check_outputs(jobs, made_inside=tmp_path / "out")
    assert f"{tmp_path}/a/cat.jpg and {tmp_path}/b/cat.jpg would both be written to" in str(
        info.value)
    beside = [PhotoJob(tmp_path / n, output_paths(tmp_path / n, (8,))) for n in ("c.jpg", "c.png")]
    with pytest.raises(InputError, match=r"would both be written to .*c\.8\.svg"):
        check_outputs(beside)


def test_only_the_out_dir_may_be_missing(tmp_path):
    deep = tmp_path / "out" / "class"
    check_outputs([PhotoJob(CAT, {4: deep / "cat.4.svg"})], made_inside=tmp_path / "out")
    with pytest.raises(InputError, match=r"The output folder .* does not exist"):
        check_outputs([PhotoJob(CAT, {4: deep / "cat.4.svg"})])
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="is not a folder"):
        check_outputs([PhotoJob(CAT, {4: tmp_path / "file" / "x.svg"})],
                      made_inside=tmp_path / "file")
