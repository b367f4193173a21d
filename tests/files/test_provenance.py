"""Provenance inside every SVG, and durations as people read them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from sketchify.core.config import preset
from sketchify.core.engine import Sketcher
from sketchify.core.errors import InputError
from sketchify.core.output import provenance
from sketchify.core.output.svg import parse_svg
from sketchify.core.timing.durations import about

CAT = Path(__file__).parents[2] / "examples" / "cat.jpg"


@pytest.fixture(scope="module")
def result(tiny_models):
    sketcher = Sketcher("cpu", str(tiny_models.loss_config), str(tiny_models.loss_weights),
                        str(tiny_models.saliency_config), str(tiny_models.saliency_weights))
    return sketcher.sketch(CAT, (4, 8), preset("auto", "cpu", steps=3, seeds=2, seed=10))


def test_every_svg_carries_its_provenance(result):
    for count in (4, 8):
        text = result.svg(count)
        data = provenance.read(text)
        assert data == json.loads(json.dumps(result.provenance(count)))
        assert data["format"] == provenance.FORMAT and data["strokes"] == count
        assert data["preset"] == "draft" and data["steps"] == 3 and data["steps_run"] == 3
        assert data["first_seed"] == 10 and data["seed"] in (10, 11) and data["seeds"] == 2
        assert data["loss"] == pytest.approx(result.sketches[count].loss, rel=1e-5)
        assert data["mask"] == "none" and data["prompt"] is None and data["width"] == 3.0
        assert data["precision"] == "fp32"  # what `auto` ran on the CPU
        # model file names only, never a path of this machine
        assert data["loss_model"] == "sketchify-tiny-rn.json sketchify-tiny-rn.pt"
        assert "/" not in data["loss_model"] + data["saliency_model"]
        strokes, _, _ = parse_svg(text)  # the metadata does not disturb reading the strokes
        assert len(strokes) == count


def test_metadata_element_is_svg_metadata(result):
    root = etree.fromstring(result.svg(4).encode())
    (found,) = root.findall("{http://www.w3.org/2000/svg}metadata")
    assert found.get("id") == "sketchify" and json.loads(found.text)["strokes"] == 4


def test_model_labels():
    assert provenance.model_label("RN101", "openai") == "RN101 openai"
    assert provenance.model_label("RN101-quickgelu", "/home/me/models/rn101.bin") == (
        "RN101-quickgelu rn101.bin")
    assert provenance.model_label("C:\\m\\cfg.json", "C:\\m\\w.pt") == "cfg.json w.pt"


def test_settings_match_ignores_outcomes(result):
    wanted = result.provenance(4)
    other = {**wanted, "loss": 99.0, "seed": 11, "steps_run": 1, "version": "9.9"}
    assert provenance.settings_match(other, wanted)
    assert not provenance.settings_match({**wanted, "steps": 4}, wanted)
    assert not provenance.settings_match({**wanted, "mask": "alpha"}, wanted)
    assert not provenance.settings_match({**wanted, "precision": "fp16"}, wanted)
    assert not provenance.settings_match(None, wanted)


def test_a_sketch_from_before_precision_was_recorded_is_up_to_date(result):
    wanted = result.provenance(4)
    older = {k: v for k, v in wanted.items() if k != "precision"}
    assert provenance.settings_match(older, wanted)
    assert not provenance.settings_match({**older, "steps": 4}, wanted)
    # Made with the default precision, so not what an explicit precision asks for.
    assert not provenance.settings_match(older, wanted, defaults=())


def test_a_format_1_sketch_matches_only_when_no_plot_is_wanted(result):
    wanted = result.provenance(4)
    assert wanted["plot"] is None and wanted["format"] == 2
    older = {k: v for k, v in wanted.items() if k not in ("precision", "plot")} | {"format": 1}
    assert provenance.settings_match(older, wanted)
    plotted = {**wanted, "plot": {"size_mm": 150.0, "pen_mm": 0.5, "margin_mm": 0.0}}
    assert not provenance.settings_match(older, plotted, defaults=("precision",))
    assert not provenance.settings_match(wanted, plotted)  # format 2 records its plot
    assert provenance.settings_match(plotted, plotted)


def test_svg_without_metadata_has_none():
    assert provenance.read('<svg xmlns="http://www.w3.org/2000/svg"/>') is None


@pytest.mark.parametrize("text", [
    '{"format": 3, "version": "9.0"}',  # written by a newer release
    '{"format": "1"}', '{"version": "0.2.0"}', "[1]", "not json",
])
def test_newer_or_malformed_provenance_is_refused(text):
    svg = ('<svg xmlns="http://www.w3.org/2000/svg"><metadata id="sketchify">'
           f"{text}</metadata></svg>")
    with pytest.raises(InputError) as err:
        provenance.read(svg)
    assert err.value.field == "svg"
    if "9.0" in text:
        assert "newer Sketchify" in str(err.value)


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "unknown"), (float("nan"), "unknown"), (-1, "unknown"), (0, "less than 1 s"),
    (35, "about 35 s"), (59.4, "about 59 s"), (60, "about 1 min"), (240, "about 4 min"),
    (3569, "about 59 min"), (3600, "about 1 h"), (5400, "about 1.5 h"), (17870, "about 5 h"),
    (36000, "about 10 h"),
])
def test_about(seconds, text):
    assert about(seconds) == text


def test_an_svg_from_before_the_start_was_recorded_matches_only_no_start():
    """Format 1 (release 0.2.0) had no `start`: it was made without one."""
    wanted = {"preset": "draft", "strokes": 4, "precision": "fp32", "start": None}
    older = {"format": 1, "preset": "draft", "strokes": 4, "precision": "fp32"}
    assert provenance.settings_match(older, wanted)
    given = {"given": 1, "locked": 1, "sha256": "0" * 64}
    assert not provenance.settings_match(older, {**wanted, "start": given})
    assert provenance.settings_match({**older, "format": 2, "start": given},
                                     {**wanted, "start": given})
    assert not provenance.settings_match({**older, "format": 2, "start": None},
                                         {**wanted, "start": given})
