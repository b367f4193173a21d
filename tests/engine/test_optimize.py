"""The batched CLIPasso optimization, with tiny random-weight models (fast, but they see nothing:
these tests check the mechanics, never the look of a sketch)."""

from __future__ import annotations

import copy
import itertools
import math
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from stroke_starts import random_starts

from sketchify.core.clip.models import load_clip
from sketchify.core.config import (
    PRESETS,
    Execution,
    SketchConfig,
    preset,
    resolve_preset,
    stroke_counts,
)
from sketchify.core.engine import Sketcher
from sketchify.core.errors import InputError, SketchifyError
from sketchify.core.optimize import optimize
from sketchify.core.photo.image import load_image
from sketchify.core.photo.target import make_target

CAT = Path(__file__).parents[2] / "examples" / "cat.jpg"
FAST = SketchConfig(steps=4, seeds=2, augmentations=1, eval_every=2, patience=100)


@pytest.fixture(scope="module")
def sketcher(tiny_models) -> Sketcher:
    return Sketcher(
        device="cpu",
        loss_model=str(tiny_models.loss_config),
        loss_weights=str(tiny_models.loss_weights),
        saliency_model=str(tiny_models.saliency_config),
        saliency_weights=str(tiny_models.saliency_weights),
    )


@pytest.fixture(scope="module")
def target():
    return make_target(load_image(CAT)).image



def test_eval_loss_ends_lower_than_it_starts(sketcher, target):
    config = replace(FAST, steps=12, seeds=1, eval_every=4)
    outcome = optimize(sketcher.loss_model, target, random_starts((8,), 1), config)
    first, last = outcome.history[0][1][8][0], outcome.history[-1][1][8][0]
    assert outcome.history[0][0] == 0 and outcome.history[-1][0] == 12
    assert last < first
    assert outcome.sketches[8].loss <= last


def test_best_seed_per_count_has_the_lowest_loss(sketcher, target):
    config = replace(FAST, seeds=3)
    outcome = optimize(sketcher.loss_model, target, random_starts((4,), 3), config)
    for n in (4,):
        losses = [run.loss for run in outcome.runs[n]]
        assert len(set(losses)) == 3  # the seeds really differ
        assert outcome.sketches[n].loss == min(losses)
        assert outcome.sketches[n].seed == losses.index(min(losses))  # config.seed is 0
        assert all(len(run.strokes) == n for run in outcome.runs[n])


@pytest.fixture(scope="module")
def exact(sketcher, target):
    """The tiny loss model and the target in float64, for comparisons of code paths that must
    agree beyond float32 rounding: in float32, a different batch or chunk size changes the
    kernels' summation order, the loss (1 - cos of near-equal embeddings loses three digits)
    moves by ~1e-4 relative, and Adam's first steps (lr 1 px, nearly sign(gradient)) turn a
    gradient rounded across zero into a 2 px move."""
    return copy.deepcopy(sketcher.loss_model).double(), target.double()


def test_batched_counts_equal_separate_runs(exact):
    model, target = exact
    starts = random_starts((4, 8), 2)
    together = optimize(model, target, starts, FAST)
    for n in (4, 8):
        alone = optimize(model, target, {n: starts[n]}, FAST)
        for a, b in zip(together.runs[n], alone.runs[n], strict=True):
            assert a.loss == pytest.approx(b.loss, rel=1e-9)
            torch.testing.assert_close(a.strokes.points, b.strokes.points, atol=1e-9, rtol=0)


def test_same_seed_gives_the_same_svg(sketcher):
    config = replace(FAST, seeds=1, seed=7)
    first = sketcher.sketch(CAT, (4, 8), config)
    second = sketcher.sketch(CAT, (4, 8), config)
    assert first.svg(8) == second.svg(8) and first.svg(4) == second.svg(4)
    other = sketcher.sketch(CAT, (8,), replace(config, seed=8))
    assert other.svg(8) != first.svg(8)


def test_cancel_stops_within_one_step_with_the_best_so_far(sketcher):
    cancel = threading.Event()
    seen = []

    def progress(p):
        seen.append(p.step)
        if p.step == 3:
            cancel.set()

    result = sketcher.sketch(CAT, (4, 8), replace(FAST, steps=500), progress, cancel)
    assert result.canceled
    assert result.steps == 3 and seen == [1, 2, 3]
    for n in (4, 8):
        assert len(result.sketches[n].strokes) == n
        assert math.isfinite(result.sketches[n].loss)
    assert result.svg(4).count("<path") == 4


def test_cancel_before_start_returns_the_evaluated_start(sketcher):
    cancel = threading.Event()
    cancel.set()
    result = sketcher.sketch(CAT, (4,), FAST, cancel=cancel)
    assert result.canceled and result.steps == 0
    assert math.isfinite(result.sketches[4].loss)


def test_progress_is_monotone_and_complete(sketcher):
    reports = []
    result = sketcher.sketch(CAT, (4, 8), replace(FAST, seeds=1), progress=reports.append)
    assert not result.canceled and result.steps == FAST.steps
    assert [p.step for p in reports] == list(range(1, FAST.steps + 1))
    assert all(p.total == FAST.steps for p in reports)
    fractions = [p.fraction for p in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(b.elapsed_s >= a.elapsed_s for a, b in itertools.pairwise(reports))
    assert reports[-1].eta_s == 0 and all(p.eta_s >= 0 for p in reports)
    assert {n: len(s) for n, s in reports[-1].best.items()} == {4: 4, 8: 8}
    assert set(reports[0].losses) >= {"total", "geometric", "semantic"}


def test_early_stop_ends_the_run(sketcher, target):
    # A huge min_delta means no evaluation ever counts as an improvement.
    config = replace(FAST, steps=200, seeds=1, eval_every=1, patience=3, min_delta=10.0)
    outcome = optimize(sketcher.loss_model, target, random_starts((4,), 1), config)
    assert outcome.steps == 3 and not outcome.canceled


def test_standard_runs_its_whole_schedule_while_the_loss_still_creeps_down(sketcher, target):
    # The paper runs every step: no patience rule may end `standard` while it still improves,
    # even by far less than the 0.1 % per evaluation the old rule asked for.
    config = preset("standard", steps=200, seeds=1)
    assert config.patience is None and preset("best").patience is None
    outcome = optimize(sketcher.loss_model, target, random_starts((4,), 1), config)
    assert outcome.steps == 200 and not outcome.canceled
    evaluated = [step for step, _ in outcome.history]
    assert evaluated == list(range(0, 201, 10))
    losses = [losses[4][0] for _, losses in outcome.history]
    best = [min(losses[: i + 1]) for i in range(len(losses))]
    # still improving at the end: at least 1e-4 relative per evaluation over the last ten
    assert (best[-11] - best[-1]) / best[-11] >= 10 * 1e-4


def test_stopped_runs_stay_where_they_stopped(sketcher, target, monkeypatch):
    """A draft-style run that stops must not coast on Adam's momentum afterwards."""
    snapshots = []

    class Recording(torch.optim.Adam):
        def step(self, closure=None):
            result = super().step(closure)
            snapshots.append(self.param_groups[0]["params"][0].detach().clone())
            return result

    monkeypatch.setattr(torch.optim, "Adam", Recording)
    config = replace(FAST, steps=60, seeds=3, eval_every=2, patience=2, min_delta=5e-4)
    optimize(sketcher.loss_model, target, random_starts((4,), 3), config)
    moves = torch.stack([(b - a).abs().amax(dim=(1, 2, 3)) for a, b in
                         itertools.pairwise(snapshots)])  # [steps - 1, seeds]
    last_move = [max((i for i in range(len(moves)) if moves[i, s] > 0), default=-1)
                 for s in range(3)]
    stopped_early = [s for s in range(3) if last_move[s] < len(moves) - 1]
    assert stopped_early and len(stopped_early) < 3  # one stopped while another went on
    for s in stopped_early:
        assert moves[last_move[s] + 1:, s].abs().max() == 0


def test_photo_is_encoded_once_per_augmentation_not_per_run(sketcher, target):
    rows = []
    hook = sketcher.loss_model.visual.conv1.register_forward_hook(
        lambda module, args, out: rows.append(args[0].shape[0])
    )
    try:
        config = replace(FAST, steps=3, seeds=2, augmentations=2)
        optimize(sketcher.loss_model, target, random_starts((4,), 2), config)
    finally:
        hook.remove()
    runs, views = 2, 1 + 2
    # the clean photo once; per step 2 photo views and the sketches' views; a last clean eval
    assert rows == [1] + [2, runs * views] * 3 + [runs]


def test_width_and_opacity_learn_within_range(sketcher, target):
    config = replace(FAST, seeds=1, optimize_width=True, optimize_opacity=True, width_lr=0.5,
                     opacity_lr=0.2)
    outcome = optimize(sketcher.loss_model, target, random_starts((8,), 1), config)
    strokes = outcome.sketches[8].strokes
    assert not torch.all(strokes.half_width == config.half_width)
    assert strokes.half_width.min() >= 0.25 and strokes.opacity.max() <= 1
    assert strokes.opacity.min() >= 0


def test_prompt_adds_a_text_term(sketcher):
    reports = []
    sketcher.sketch(CAT, (4,), replace(FAST, steps=2, prompt="a cat"), reports.append)
    assert reports[0].losses["text"] > 0


@pytest.mark.parametrize("counts", [0, 1000, (), (4, -1), (2.5,), ("8",)])
def test_bad_stroke_counts(counts):
    with pytest.raises(InputError) as err:
        stroke_counts(counts)
    assert err.value.field == "strokes"


def test_stroke_counts_are_sorted_and_unique():
    assert stroke_counts((16, 4, 16)) == (4, 16)
    assert stroke_counts(8) == (8,)


@pytest.mark.parametrize(
    ("knob", "value"),
    [("steps", 0), ("seeds", 0), ("lr", -1.0), ("augmentations", -1), ("half_width", 0.0),
     ("geometric_weights", (1.0, 1.0)), ("crop_scale", (0.9, 0.5)), ("distortion", 2.0)],
)
def test_bad_config_names_the_knob(knob, value):
    with pytest.raises(InputError) as err:
        SketchConfig(**{knob: value})
    assert err.value.field == knob


@pytest.mark.parametrize(("knob", "value"), [("precision", "bf16"), ("max_batch", 0)])
def test_bad_execution_names_the_knob(knob, value):
    with pytest.raises(InputError) as err:
        Execution(**{knob: value})
    assert err.value.field == knob


def test_a_prompt_without_weight_is_no_loss_term():
    with pytest.raises(InputError) as err:
        SketchConfig(geometric_weights=(0.0,) * 5, semantic_weight=0.0, prompt="x",
                     prompt_weight=0.0)
    assert err.value.field == "geometric_weights"
    SketchConfig(geometric_weights=(0.0,) * 5, semantic_weight=0.0, prompt="x")  # weighted: fine


def test_presets():
    assert preset("standard") == SketchConfig(preset="standard")
    assert preset("standard").steps == 2000 and preset("standard").augmentations == 4
    assert preset("best").seeds > preset("standard").seeds
    assert preset("draft").steps < preset("standard").steps
    assert preset("draft").patience is not None
    assert preset("draft", seed=5).seed == 5 and set(PRESETS) == {"draft", "standard", "best"}
    assert {name: preset(name).preset for name in PRESETS} == {n: n for n in PRESETS}
    with pytest.raises(InputError) as err:
        preset("fast")
    assert err.value.field == "preset"


@pytest.mark.parametrize(("device", "resolved"),
                         [("cpu", "draft"), ("cuda", "standard"), ("cuda:1", "standard"),
                          ("mps", "standard"), (torch.device("cpu"), "draft")])
def test_auto_preset_follows_the_device(device, resolved):
    assert resolve_preset("auto", device) == resolved
    assert preset("auto", device) == PRESETS[resolved]
    assert resolve_preset("best", device) == "best"


def test_auto_preset_needs_a_device():
    with pytest.raises(ValueError):
        preset("auto")


def test_non_resnet_loss_model_is_refused(tiny_models, target):
    vit = load_clip(str(tiny_models.saliency_config), str(tiny_models.saliency_weights), "cpu")
    with pytest.raises(InputError) as err:
        optimize(vit, target, random_starts((4,), 1), replace(FAST, seeds=1))
    assert err.value.field == "loss_model"


def test_divergence_is_an_engine_error_not_an_input_error(sketcher, target):
    starts = random_starts((4,), 1)
    config = replace(FAST, seeds=1, lr=math.inf, eval_every=1)  # the first step goes non-finite
    with pytest.raises(SketchifyError, match="diverged") as err:
        optimize(sketcher.loss_model, target, starts, config)
    assert not isinstance(err.value, InputError)


def test_chunked_clip_forwards_give_the_same_result(exact):
    # float64 (see `exact`): in float32 the chunk size alone moved the loss by 5e-5 relative.
    model, target = exact
    starts = random_starts((4,), 2)
    config = replace(FAST, steps=3)
    whole = optimize(model, target, starts, config)
    chunked = optimize(model, target, starts, config, execution=Execution(max_batch=3))
    assert whole.steps == chunked.steps == 3
    for a, b in zip(whole.runs[4], chunked.runs[4], strict=True):
        assert a.loss == pytest.approx(b.loss, rel=1e-9)
        torch.testing.assert_close(a.strokes.points, b.strokes.points, atol=1e-9, rtol=0)


def test_public_api_is_reexported():
    import sketchify.core as core

    assert core.Sketcher is Sketcher and core.SketchConfig is SketchConfig
    assert core.Execution is Execution
    assert core.preset is preset and core.load_image is load_image
    assert {"Sketcher", "SketchResult", "Progress", "Sketch"} <= set(core.__all__)
    with pytest.raises(AttributeError):
        _ = core.no_such_name
