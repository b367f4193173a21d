"""The `--animate` SVG in a real headless Chromium: paused and seeked through the Web
Animations API, later moments show more of the sketch drawn."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sketchify.core.method.strokes import Strokes
from sketchify.core.output.animation import animated_svg
from sketchify.core.output.svg import to_svg
from sketchify.core.photo.geometry import Placement

pytest_plugins = ["backend_fixtures", "browser_fixtures"]
pytestmark = pytest.mark.slow
STROKES = 12

SEEK = """
const animations = document.getAnimations();
for (const animation of animations) {
  animation.pause();
  animation.currentTime = arguments[0];
}
return animations.length;
"""


def ink_at(page, ms: float) -> np.ndarray:
    """The page's pixels (grey, 0 = black) with every animation paused at ``ms``."""
    assert page.driver.execute_script(SEEK, ms) == STROKES  # one animation per stroke
    shot = Image.open(io.BytesIO(page.driver.get_screenshot_as_png())).convert("L")
    return np.asarray(shot, dtype=np.int16)


def test_seeking_the_paused_animation_draws_more_strokes_later(page, tmp_path: Path):
    generator = torch.Generator().manual_seed(5)
    points = 20 + torch.rand(STROKES, 4, 2, generator=generator, dtype=torch.float64) * 184
    sketch = to_svg(Strokes(points, torch.full((STROKES,), 3.0, dtype=torch.float64), 1.0),
                    Placement(451, 300))
    path = tmp_path / "cat.animated.svg"
    path.write_text(animated_svg(sketch))
    page.driver.get(path.as_uri())
    early, late, end = ink_at(page, 1500), ink_at(page, 4500), ink_at(page, 6000)
    dark = [int((shot < 128).sum()) for shot in (early, late, end)]
    assert 0 < dark[0] < dark[1] < dark[2], dark  # ink grows as the drawing goes on
    assert np.abs(early - late).max() > 100  # two different pictures, not noise
    # What is drawn at 1.5 s is still drawn at 4.5 s: strokes only ever appear.
    assert not ((early < 128) & (late > 200)).any()
    before = ink_at(page, 0)
    assert int((before < 128).sum()) == 0  # nothing drawn before the first stroke starts


def test_the_docs_frame_script_shows_part_of_the_drawing(tmp_path: Path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    generator = torch.Generator().manual_seed(7)
    points = 20 + torch.rand(STROKES, 4, 2, generator=generator, dtype=torch.float64) * 184
    sketch = tmp_path / "cat.16.svg"
    sketch.write_text(to_svg(Strokes(points, torch.full((STROKES,), 3.0, dtype=torch.float64),
                                     1.0), Placement(451, 300)))
    shots = {}
    for at in (1.0, 5.0):
        out = tmp_path / f"frame-{at:g}.png"
        done = subprocess.run([sys.executable, str(root / "benchmarks" / "animation_frame.py"),
                               str(sketch), str(out), "--at", str(at)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        shots[at] = np.asarray(Image.open(out).convert("L"))
    assert shots[1.0].shape[1] == 451 and shots[1.0].shape[0] > 300  # the sketch + a caption
    ink = {at: int((shot[:300] < 128).sum()) for at, shot in shots.items()}
    assert 0 < ink[1.0] < ink[5.0], ink
