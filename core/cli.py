"""`sketchify sketch PHOTO`: one SVG per stroke count, written atomically beside the photo."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sketchify.core.errors import InputError

if TYPE_CHECKING:
    from sketchify.core.optimize import Progress

CANCELED_EXIT = 130  # the shell's code for "stopped by Ctrl-C"


def add_sketch_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "sketch",
        help="turn a photo into SVG sketches",
        description="Turn a photo into abstract line sketches (CLIPasso), one SVG per stroke "
        "count. On a CPU use --preset draft: the full method takes a long time there.",
    )
    parser.add_argument("photo", type=Path, help="the photo (JPEG, PNG, WebP, ...)")
    parser.add_argument("--strokes", default="16", help="stroke counts, e.g. 4,8,16,32")
    parser.add_argument(
        "--preset", default="auto",
        help="auto (default: standard on a GPU, draft on a CPU), draft, standard or best")
    parser.add_argument("--steps", type=int, help="optimization steps (overrides the preset)")
    parser.add_argument("--seeds", type=int, help="independent starts to choose the best from")
    parser.add_argument("--seed", type=int, help="random seed (same seed, same SVG on CPU)")
    parser.add_argument("--prompt", help="optional text the sketch should also match")
    parser.add_argument(
        "--mask", default="none", metavar="none|alpha|auto|FILE",
        help="object mask, background turned white: none (default), alpha (the photo's own "
        "transparency), auto (salient-object network, needs the [mask] extra) or a mask image")
    add_model_arguments(parser)
    parser.add_argument(
        "-o", "--output", type=Path,
        help="SVG path; with several counts the count goes before the suffix (out.16.svg)",
    )
    parser.set_defaults(run=run_sketch)
    return parser


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The device and model flags every command that loads a Sketcher shares."""
    parser.add_argument("--device", default="auto",
                        help="auto, cpu, cuda, cuda:N or mps (default auto)")
    parser.add_argument("--loss-model", default="RN101", help="open_clip name or config JSON")
    parser.add_argument("--loss-weights", default="openai", help="pretrained tag or file")
    parser.add_argument("--saliency-model", default="ViT-B-32", help="open_clip name or JSON")
    parser.add_argument("--saliency-weights", default="openai", help="pretrained tag or file")
    parser.add_argument("--mask-model", metavar="FILE",
                        help="u2net ONNX file for --mask auto (default: rembg's cache)")


def sketcher_from_args(args: argparse.Namespace):  # -> Sketcher, imported lazily
    """Load the models named by ``add_model_arguments`` flags (once, for many sketches)."""
    from sketchify.core.engine import Sketcher

    return Sketcher(
        device=args.device,
        loss_model=args.loss_model,
        loss_weights=args.loss_weights,
        saliency_model=args.saliency_model,
        saliency_weights=args.saliency_weights,
        mask_model=args.mask_model,
    )


def parse_counts(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise InputError(
            f"--strokes takes whole numbers separated by commas, got {text!r}.", field="strokes"
        ) from None


def output_paths(photo: Path, output: Path | None, counts: tuple[int, ...]) -> dict[int, Path]:
    if output is None:
        return {n: photo.with_name(f"{photo.stem}.{n}.svg") for n in counts}
    if len(counts) == 1:
        return {counts[0]: output}
    return {n: output.with_name(f"{output.stem}.{n}{output.suffix or '.svg'}") for n in counts}


def run_sketch(args: argparse.Namespace) -> int:
    # The engine (open_clip, models) loads only when the command actually runs.
    from sketchify.core.engine import stroke_counts
    from sketchify.core.image import load_image
    from sketchify.core.mask import mask_option
    from sketchify.core.presets import preset, resolve_preset

    counts = stroke_counts(parse_counts(args.strokes))
    overrides = {
        name: getattr(args, name)
        for name in ("steps", "seeds", "seed", "prompt")
        if getattr(args, name) is not None
    }
    resolve_preset(args.preset, "cpu")  # an unknown name fails before the models load
    photo = load_image(args.photo)
    paths = output_paths(args.photo, args.output, counts)
    for path in paths.values():
        if not path.parent.is_dir():
            raise InputError(f"The output folder {path.parent} does not exist.", field="output")
    mask = mask_option(args.mask, args.photo, photo, args.mask_model)  # before CLIP loads

    sketcher = sketcher_from_args(args)
    config = preset(args.preset, sketcher.device, **overrides)
    if sketcher.device.type == "cpu" and config.preset != "draft" and sys.stderr.isatty():
        print("sketchify: running on the CPU, where the CLIP loss is slow; "
              "--preset draft finishes in minutes.", file=sys.stderr)
    cancel = threading.Event()
    with _progress_bar(config.steps) as show, _ctrl_c_sets(cancel):
        result = sketcher.sketch(photo, counts, config, progress=show, cancel=cancel, mask=mask)

    _write_all({paths[n]: result.svg(n) for n in counts})
    for n in counts:
        print(paths[n])
    if result.canceled:
        print(
            f"sketchify: interrupted at step {result.steps} of {config.steps}; "
            "wrote the best strokes found so far.",
            file=sys.stderr,
        )
        return CANCELED_EXIT
    return 0


@contextlib.contextmanager
def _progress_bar(total: int) -> Iterator:
    """A tqdm bar with ETA on a terminal; silent otherwise."""
    from tqdm import tqdm

    with tqdm(total=total, unit="step", disable=not sys.stderr.isatty()) as bar:

        def show(p: Progress) -> None:
            bar.update(p.step - bar.n)
            bar.set_postfix(loss=f"{p.losses['total']:.4g}", refresh=False)

        yield show


@contextlib.contextmanager
def _ctrl_c_sets(event: threading.Event) -> Iterator[None]:
    """The first Ctrl-C asks the optimizer to stop after this step; a second one aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame) -> None:
        event.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _write_all(files: dict[Path, str]) -> None:
    """Write every file or none: each goes to a temporary file beside it, then all are renamed."""
    temps: dict[Path, str] = {}
    try:
        for path, text in files.items():
            fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            temps[path] = temp
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
        for path, temp in temps.items():
            os.replace(temp, path)
    finally:
        for temp in temps.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
