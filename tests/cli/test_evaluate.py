"""`sketchify evaluate`: the recognition arithmetic on hand-made embeddings, and the command end
to end on tiny random-weight models (whose figures mean nothing, and the command says so)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from cli_helpers import ASTRONAUT, CAT, QUICK

from sketchify.backend.cli import main
from sketchify.core.commands import evaluate
from sketchify.core.commands.dataset import class_name, plan_dataset
from sketchify.core.config import Models
from sketchify.core.engine import Sketcher
from sketchify.core.errors import InputError

pytest_plugins = ["cli_fixtures"]

# Three classes along the axes; a sketch's embedding says which class it looks like.
CLASSES = torch.eye(3)


def test_top1_top3_and_cosine_by_hand():
    sketches = torch.tensor([[1.0, 0.1, 0.0],  # class 0, and seen as 0: right
                             [0.0, 0.0, 2.0],  # class 1, seen as 2 then 1: top-3 only
                             [0.2, 0.9, 0.0],  # class 1, seen as 1: right
                             [3.0, 0.0, 0.0]])  # class 2, seen as 0 (1 ties with 2): top-3 only
    labels = torch.tensor([0, 1, 1, 2])
    photos = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 5.0]])
    figures = evaluate.zero_shot(sketches, photos, labels, CLASSES)
    assert figures["sketches"] == 4
    assert figures["top1"] == pytest.approx(2 / 4)
    assert figures["top3"] == pytest.approx(4 / 4)  # with three classes, top-3 is everything
    cosines = [1 / (1.01 ** 0.5), 0.0, 0.9 / (0.85 ** 0.5), 0.0]
    assert figures["cosine"] == pytest.approx(sum(cosines) / 4)


def test_more_classes_than_three_and_ties_count_against_the_sketch():
    classes = torch.eye(5)
    sketches = torch.tensor([[0.0, 0.0, 0.0, 0.5, 1.0],  # class 3: second best -> top-3
                             [1.0, 1.0, 1.0, 0.0, 0.2],  # class 4: fourth -> wrong
                             [1.0, 1.0, 0.0, 0.0, 0.0]])  # class 0, tied with 1 -> top-3 only
    labels = torch.tensor([3, 4, 0])
    figures = evaluate.zero_shot(sketches, sketches, labels, classes)
    assert figures["top1"] == 0.0
    assert figures["top3"] == pytest.approx(2 / 3)
    assert figures["cosine"] == pytest.approx(1.0)  # each sketch against itself
    # Scale does not matter: the embeddings are normalized.
    assert evaluate.zero_shot(7 * sketches, sketches, labels, 3 * classes) == figures


def test_class_names_and_the_data_set_plan(tmp_path):
    assert class_name(Path("tennis_racket")) == "tennis racket"
    data = tmp_path / "data"
    for folder, photo in (("tabby_cat", CAT), ("astronaut", ASTRONAUT)):
        (data / folder).mkdir(parents=True)
        shutil.copy(photo, data / folder)
    (data / ".cache").mkdir()
    jobs = plan_dataset(data, tmp_path / "out", (4, 16))
    assert [(j.label, j.photo.name) for j in jobs] == [("astronaut", "astronaut.jpg"),
                                                       ("tabby cat", "cat.jpg")]
    assert jobs[1].outputs == {4: tmp_path / "out" / "tabby_cat" / "cat.4.svg",
                               16: tmp_path / "out" / "tabby_cat" / "cat.16.svg"}
    (data / "tabby cat").mkdir()
    with pytest.raises(InputError, match="same class name"):
        plan_dataset(data, tmp_path / "out", (4,))


def test_the_published_weights_are_told_from_the_rest(tiny_models):
    def report(**flags: str) -> dict:
        return evaluate.weights_report(Models(**flags))

    assert report() == {"loss_model": "RN101 openai", "saliency_model": "ViT-B-32 openai",
                        "published": True}
    assert report(saliency_model="ViT-B-32-quickgelu")["published"]
    assert not report(saliency_weights="laion2b_s34b_b79k")["published"]
    assert not report(loss_model="RN50")["published"]
    assert not report(saliency_model=str(tiny_models.saliency_config),
                      saliency_weights=str(tiny_models.saliency_weights))["published"]


@pytest.fixture
def data(tmp_path) -> Path:
    root = tmp_path / "data"
    for folder, photo in (("tabby_cat", CAT), ("astronaut", ASTRONAUT)):
        (root / folder).mkdir(parents=True)
        shutil.copy(photo, root / folder)
    return root


def test_evaluate_end_to_end_then_again_without_sketching(data, tmp_path, models, capsys,
                                                         monkeypatch):
    out, report = tmp_path / "sketches", tmp_path / "figures.json"
    argv = ["evaluate", str(data), "-o", str(out), "--strokes", "2,3", "--json", str(report),
            *QUICK, *models]
    assert main(argv) == 0
    stdout, stderr = capsys.readouterr()
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.svg")) == [
        "astronaut/astronaut.2.svg", "astronaut/astronaut.3.svg",
        "tabby_cat/cat.2.svg", "tabby_cat/cat.3.svg"]
    figures = json.loads(report.read_text())
    assert figures["weights"] == {
        "loss_model": "sketchify-tiny-rn.json sketchify-tiny-rn.pt",
        "saliency_model": "sketchify-tiny-vit.json sketchify-tiny-vit.pt", "published": False}
    assert figures["prompt"] == "a sketch of a {}."
    assert figures["classes"] == ["astronaut", "tabby cat"]
    assert set(figures["counts"]) == {"2", "3"}
    for count in figures["counts"].values():
        assert set(count) == {"top1", "top3", "cosine", "sketches"}
        assert count["sketches"] == 2 and count["top1"] in (0.0, 0.5, 1.0)
        assert count["top3"] == 1.0 and -1 <= count["cosine"] <= 1
    assert "not the published OpenAI weights" in stderr
    table = stdout.splitlines()[-3:]
    assert table[0].split() == ["strokes", "sketches", "top-1", "top-3", "cosine"]
    assert table[1].split()[:2] == ["2", "2"]

    # The figures are the classifier's on the SVGs: the same without sketching anything.
    with monkeypatch.context() as patch:
        patch.setattr(Sketcher, "sketch", lambda *a, **k: pytest.fail("sketched again"))
        assert main(argv) == 0
    assert "0 done, 2 skipped (up to date)" in capsys.readouterr().err
    assert json.loads(report.read_text()) == figures


def test_evaluate_reports_a_bad_photo_and_scores_the_rest(data, tmp_path, models, capsys):
    (data / "astronaut" / "broken.png").write_text("not a photo")
    out = tmp_path / "sketches"
    assert main(["evaluate", str(data), "-o", str(out), "--strokes", "2", *QUICK, *models]) == 1
    stdout, stderr = capsys.readouterr()
    assert "broken.png: The data is not an image" in stderr
    assert stdout.splitlines()[-1].split()[:2] == ["2", "2"]  # two sketches scored
