"""Per-step time of a 16-stroke draft-like run without a start, with 4 of its 16 strokes locked,
and with 16 moving strokes over 4 locked ones (the composite's own cost), in one process.

Uses the REAL RN101 size with RANDOM weights (benchmarks/step.py's models; ``--tiny`` for the
suite's tiny models, a smoke test, no timing): the compute is real, the sketches meaningless.
Repetitions are interleaved (A B C A B C ...) and medians taken.

    python benchmarks/start.py [--tiny] [--steps 8] [--repeats 3] [--cpu-clock]

``--cpu-clock``: one thread, timed by this process's CPU seconds, which stay close to a
dedicated core's time while other work shares the machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import step
from step import EXAMPLES, cpu_name, median, random_models, starts_for, step_times

from sketchify.core.clip.models import load_clip
from sketchify.core.config import preset
from sketchify.core.given.canvas import place, with_widths
from sketchify.core.given.strokes import from_items
from sketchify.core.photo.image import load_image
from sketchify.core.photo.target import make_target

# Four locked strokes over the astronaut (photo px): a line, a cubic, a quadratic, an arc.
LOCKED = [{"d": "M 100 100 L 400 150", "locked": True},
          {"d": "M 80 400 C 150 250 300 250 380 400", "locked": True},
          {"d": "M 200 50 Q 260 150 320 60", "locked": True},
          {"d": "M 150 300 A 60 40 20 1 1 260 320", "locked": True}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny random models (no timing)")
    parser.add_argument("--steps", type=int, default=8, help="steps per run (default 8)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per variant (default 3)")
    parser.add_argument("--cpu-clock", action="store_true",
                        help="one thread, timed in CPU seconds")
    args = parser.parse_args()
    if args.cpu_clock:
        torch.set_num_threads(1)
        step.clock = time.process_time
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        models = random_models(Path(folder), args.tiny)
        model = load_clip(models.loss_model, models.loss_weights, torch.device("cpu"))
    picture = load_image(EXAMPLES / "astronaut.jpg")
    target = make_target(picture)
    # Draft's schedule, every step run (no early stop), one seed.
    config = replace(preset("draft"), steps=args.steps, patience=None)
    start = with_widths(from_items(LOCKED), target.placement, config.half_width)
    background = place(start, target.placement).background.to(target.image)
    image = target.image

    def starts(n: int) -> dict[int, torch.Tensor]:
        return starts_for((n,), config.seeds, torch.Generator().manual_seed(7))

    variants = {
        "16 strokes, no start": (starts(16), None),
        "16 strokes, 4 of them locked (12 move)": (starts(12), background),
        "16 moving strokes over 4 locked": (starts(16), background),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, (rows, drawn) in variants.items():
            times[name] += step_times(model, image, rows, config, background=drawn)
    print(f"{'tiny' if args.tiny else 'RN101 (random weights)'} on {cpu_name()}, "
          f"{torch.get_num_threads()} threads, {'CPU' if args.cpu_clock else 'wall'} "
          f"seconds; draft schedule (seeds {config.seeds}, "
          f"augmentations {config.augmentations}), {args.steps} steps x {args.repeats} runs "
          "each, interleaved; median per step:")
    base = median(times["16 strokes, no start"])
    for name, values in times.items():
        print(f"  {name}: {median(values):.4f} s  (x{median(values) / base:.3f})")


if __name__ == "__main__":
    main()
