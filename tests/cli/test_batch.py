"""`sketchify sketch PHOTO... | DIR`: one model load, skips, failures that let the rest go on."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest
from cli_helpers import ASTRONAUT, CAT, QUICK

from sketchify.backend.cli import main
from sketchify.core.commands import bars, batch
from sketchify.core.config import Execution, Models, preset
from sketchify.core.engine import Sketcher
from sketchify.core.output import provenance

pytest_plugins = ["cli_fixtures"]


@pytest.fixture
def folder(tmp_path) -> Path:
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(CAT, photos / "cat.jpg")
    shutil.copy(ASTRONAUT, photos / "astronaut.jpg")
    return photos


def sketch(*args: str | Path, models: list[str]) -> int:
    return main(["sketch", *map(str, args), *QUICK, *models])


def test_a_folder_with_a_bad_file_sketches_the_rest_and_exits_1(folder, tmp_path, models,
                                                                 capsys):
    (folder / "broken.jpg").write_text("not a photo")
    out = tmp_path / "out" / "new"
    assert sketch(folder, "--strokes", "4,8", "--out-dir", out, models=models) == 1
    stdout, stderr = capsys.readouterr()
    written = sorted(p.name for p in out.iterdir())
    assert written == ["astronaut.4.svg", "astronaut.8.svg", "cat.4.svg", "cat.8.svg"]
    assert sorted(Path(line).name for line in stdout.splitlines()) == written
    lines = stderr.splitlines()
    assert lines[0].startswith("sketchify: 3 photos, strokes 4,8, preset draft")
    assert lines[1] == (f"sketchify: {folder / 'broken.jpg'}: The data is not an image "
                        "Sketchify can read (supported formats: BMP, GIF, JPEG, MPO, PNG, "
                        "TIFF, WEBP).")
    assert lines[2].startswith("sketchify: 2 done, 0 skipped (up to date), 1 failed, in ")
    assert len(lines) == 3
    assert not (folder / "cat.4.svg").exists()


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.svg")}


def test_a_second_run_skips_what_is_up_to_date_without_loading_models(folder, models, capsys,
                                                                      monkeypatch):
    (folder / "astronaut.jpg").unlink()  # one photo is a batch too, when given as a folder
    assert sketch(folder, "--strokes", "4", models=models) == 0
    before = mtimes(folder)
    assert sorted(before) == ["cat.4.svg"]
    capsys.readouterr()
    with monkeypatch.context() as patch:
        patch.setattr(Sketcher, "__init__", lambda *a, **k: pytest.fail("models loaded"))
        assert sketch(folder, "--strokes", "4", models=models) == 0
    assert mtimes(folder) == before
    stdout, stderr = capsys.readouterr()
    assert stdout == ""
    assert stderr.startswith("sketchify: 0 done, 1 skipped (up to date), 0 failed, in ")
    # Other settings sketch it again; so does --force with the same settings.
    assert sketch(folder, "--strokes", "4", "--seed", "7", models=models) == 0
    again = mtimes(folder)
    assert again != before
    assert sketch(folder, "--strokes", "4", "--seed", "7", "--force", models=models) == 0
    assert mtimes(folder) != again


def test_only_the_missing_counts_are_sketched(folder, models, capsys):
    (folder / "astronaut.jpg").unlink()
    assert sketch(folder, "--strokes", "4", models=models) == 0
    before = mtimes(folder)
    capsys.readouterr()
    assert sketch(folder, "--strokes", "4,8", models=models) == 0
    stdout, stderr = capsys.readouterr()
    assert stdout.splitlines() == [str(folder / "cat.8.svg")]
    assert "1 photo, strokes 8," in stderr
    assert mtimes(folder)["cat.4.svg"] == before["cat.4.svg"]


def test_an_interrupted_sketch_is_done_again(folder, models, capsys):
    assert sketch(folder, "--strokes", "4", models=models) == 0
    svg = folder / "cat.4.svg"
    data = provenance.read(svg.read_text())
    marked = svg.read_text().replace(json.dumps(data["version"]),
                                     json.dumps(data["version"]) + ', "canceled": true')
    assert provenance.read(marked)["canceled"] is True
    svg.write_text(marked)
    capsys.readouterr()
    assert sketch(folder, "--strokes", "4", models=models) == 0
    stdout, stderr = capsys.readouterr()
    assert stdout.splitlines() == [str(svg)]
    assert "1 done, 1 skipped" in stderr
    assert "canceled" not in provenance.read(svg.read_text())


def test_ctrl_c_ends_the_batch_after_writing_the_current_photo(folder, models, monkeypatch,
                                                             capsys):
    def interrupting(self, p):
        if p.step == 1:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(bars.ProgressBars, "show", interrupting)
    assert main(["sketch", str(folder), "--strokes", "4", "--steps", "50", "--device", "cpu",
                 *models]) == 130
    stdout, stderr = capsys.readouterr()
    assert stdout.splitlines() == [str(folder / "astronaut.4.svg")]  # the first, sorted
    assert not (folder / "cat.4.svg").exists()
    assert "interrupted at step 1 of 50" in stderr
    assert "1 done, 0 skipped (up to date), 0 failed, in " in stderr and "Ctrl-C" in stderr


@pytest.mark.parametrize(("extra", "said"), [
    (["-o", "one.svg"], "-o names the SVG of one photo"),
    (["--sheet", "s.png"], "--sheet draws one photo"),
])
def test_single_photo_flags_are_refused_for_a_batch(folder, models, capsys, no_models, extra,
                                                    said):
    assert sketch(folder, *extra, models=models) == 2
    err = capsys.readouterr().err
    assert said in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in folder.iterdir()) == ["astronaut.jpg", "cat.jpg"]


def test_colliding_photos_are_refused_before_anything_runs(folder, tmp_path, models, capsys,
                                                           no_models):
    (tmp_path / "other").mkdir()
    shutil.copy(CAT, tmp_path / "other" / "cat.jpg")
    out = tmp_path / "out"
    assert sketch(folder, tmp_path / "other", "--out-dir", out, models=models) == 2
    err = capsys.readouterr().err
    assert "cat.jpg would both be written to" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_a_missing_photo_fails_the_batch_at_once(folder, models, capsys, no_models):
    assert sketch(folder, folder / "gone.jpg", models=models) == 2
    assert capsys.readouterr().err.strip() == (
        f"sketchify: error: Image file not found: {folder / 'gone.jpg'}.")


def test_the_provenance_the_batch_expects_is_what_the_engine_writes(tiny_models):
    models = Models(str(tiny_models.loss_config), str(tiny_models.loss_weights),
                    str(tiny_models.saliency_config), str(tiny_models.saliency_weights))
    request = batch.Request("cpu", "auto", {"steps": 2, "seeds": 2, "seed": 5, "prompt": "a cat"},
                            models, execution=Execution(precision="fp32"))
    sketcher = Sketcher("cpu", models.loss_model, models.loss_weights, models.saliency_model,
                        models.saliency_weights)
    config = batch.config_from(request, sketcher.device)
    assert config == preset("draft", steps=2, seeds=2, seed=5, prompt="a cat")
    result = sketcher.sketch(CAT, (3,), config, execution=request.execution)
    labels = batch.model_labels(models)
    assert labels == sketcher.models
    wanted = batch.expected_provenance(config, 3, labels, sketcher.device,
                                       execution=request.execution)
    assert provenance.settings_match(result.provenance(3), wanted)
    assert not provenance.settings_match(result.provenance(3), {**wanted, "steps": 3})
