"""`sketchify sketch` and `sketchify evaluate`: their flags, and the checks that run before the
engine (and torch) is imported, so that a usage error answers at once."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sketchify.core.commands.preflight import (
    PhotoJob,
    check_folder,
    check_mask_option,
    check_outputs,
    check_photo,
    device_name,
    find_photos,
    output_paths,
    plot_option,
    positive_int,
    read_start,
    stroke_counts,
)
from sketchify.core.config import (
    EXECUTION_OVERRIDES,
    OVERRIDES,
    PRECISION_NAMES,
    PRESET_NAMES,
    Execution,
    Models,
)
from sketchify.core.errors import InputError
from sketchify.core.output.animation import DEFAULT_SECONDS
from sketchify.core.output.plot_settings import (
    DEFAULT_PEN_MM,
    DEFAULT_SIZE_MM,
    PAGE_MARGIN_MM,
    PAGES_MM,
)

if TYPE_CHECKING:
    from sketchify.core.commands.batch import BatchOutcome, Request
    from sketchify.core.given.strokes import Start
    from sketchify.core.output.plot_settings import PlotSettings

CANCELED_EXIT = 130  # the shell's code for "stopped by Ctrl-C"
FAILED_EXIT = 1  # a batch in which some photo failed


def add_sketch_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "sketch",
        help="turn photos into SVG sketches",
        description="Turn photos into abstract line sketches (CLIPasso), one SVG per stroke "
        "count. Several photos or a folder (read one level deep) make a batch: the models load "
        "once, sketches already made with the same settings are skipped (--force redoes them), "
        "a photo that fails is reported while the rest go on (exit code 1 at the end).",
    )
    parser.add_argument("photos", nargs="+", type=Path, metavar="PHOTO",
                        help="photos (JPEG, PNG, WebP, ...) or folders of photos")
    add_sketch_options(parser, strokes="16")
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "-o", "--output", type=Path, metavar="OUT.svg",
        help="one photo's SVG path; with several counts the count goes before the suffix "
        "(out.16.svg). Default: beside the photo (cat.16.svg)")
    where.add_argument("--out-dir", type=Path, metavar="OUTDIR",
                       help="write <photo stem>.<count>.svg into this folder (made if missing)")
    parser.add_argument("--sheet", type=Path, metavar="PNG",
                        help="also write one PNG showing the photo and each stroke count, "
                        "strokes alone and over the faded photo (one photo only)")
    parser.add_argument(
        "--start", type=Path, metavar="FILE.svg",
        help="start from your own strokes: every <path> of this SVG, laid over the photo (its "
        "viewBox, or width and height, covers the photo), is one stroke of every count, "
        "written first; the rest start as usual, away from them (one photo only)")
    parser.add_argument("--lock", action="store_true",
                        help="keep the --start strokes exactly as drawn (default: they only "
                        "start where the optimization moves them from)")
    parser.add_argument(
        "--animate", type=Path, metavar="FILE.svg",
        help="also write the sketch drawing itself, stroke after stroke in the plotted order, "
        f"as an animated SVG (CSS, {DEFAULT_SECONDS:g} s; one photo only; several counts: "
        "the count goes before the suffix)")
    parser.add_argument(
        "--timelapse", type=Path, metavar="FILE.gif",
        help="also write the optimization as a GIF over the faded photo: the start strokes, "
        "each evaluation, the final strokes (one photo only; several counts as --animate)")
    add_plot_options(parser)
    parser.set_defaults(run=run_sketch)
    return parser


def add_plot_options(parser: argparse.ArgumentParser) -> None:
    """The flags of the plot-ready SVG."""
    plot = parser.add_argument_group("plot-ready SVG (pen plotters)")
    plot.add_argument(
        "--plot", action="store_true",
        help="write the SVG plot-ready instead: in millimetres, every stroke the pen's width, "
        "strokes ordered (and turned) to shorten the pen-up travel; alone: "
        f"{DEFAULT_SIZE_MM:g} mm wide, {DEFAULT_PEN_MM:g} mm pen")
    plot.add_argument("--size", metavar="W[mm|cm|in]",
                      help="the drawing's width (height from the photo's aspect, no margin)")
    plot.add_argument("--page", metavar="|".join(PAGES_MM),
                      help="the paper instead of --size: turned to fit, drawing centred, "
                      f"{PAGE_MARGIN_MM:g} mm margin")
    plot.add_argument("--pen", metavar="WIDTH[mm|cm|in]",
                      help=f"the pen's width (default {DEFAULT_PEN_MM:g} mm)")


LENGTH_FLAGS = ("--size", "--pen")
_NEGATIVE = re.compile(r"-[0-9.]")


def negative_lengths_joined(argv: list[str]) -> list[str]:
    """``argv`` with a negative length glued to its flag (``--size -3cm`` -> ``--size=-3cm``):
    argparse takes ``-3cm`` for an option and says only "expected one argument", where the
    length check names the value."""
    joined: list[str] = []
    for arg in argv:
        if joined and joined[-1] in LENGTH_FLAGS and _NEGATIVE.match(arg):
            joined[-1] = f"{joined[-1]}={arg}"
        else:
            joined.append(arg)
    return joined


def add_evaluate_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "evaluate",
        help="measure how recognizable the sketches are (the paper's protocol)",
        description="Sketch every photo of DIR (one sub-folder per class; the folder name, "
        "with _ read as a space, is the class name) at every stroke count into "
        "OUTDIR/<class>/<photo stem>.<count>.svg, skipping sketches already made with the "
        "same settings, then classify each sketch zero-shot with the saliency model (CLIP "
        "ViT-B/32) among all the class names. Prints top-1 and top-3 accuracy and the mean "
        "sketch-photo cosine per stroke count. With any weights but the published OpenAI ones "
        "the figures mean nothing.",
    )
    parser.add_argument("dataset", type=Path, metavar="DIR", help="one sub-folder per class")
    parser.add_argument("-o", "--output", dest="out_dir", type=Path, required=True,
                        metavar="OUTDIR", help="where the sketches go (made if missing)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures here")
    add_sketch_options(parser, strokes="4,8,16,32")
    parser.set_defaults(run=run_evaluate)
    return parser


def add_sketch_options(parser: argparse.ArgumentParser, strokes: str) -> None:
    """The flags every command that makes sketches shares."""
    parser.add_argument("--strokes", type=stroke_counts, default=strokes, metavar="N,N,...",
                        help=f"stroke counts, e.g. 4,8,16,32 (default {strokes})")
    parser.add_argument(
        "--preset", default="auto", choices=PRESET_NAMES,
        help="auto (default: standard on a GPU, draft on a CPU), draft, standard or best")
    parser.add_argument("--steps", type=positive_int, metavar="N",
                        help="optimization steps (overrides the preset)")
    parser.add_argument("--seeds", type=positive_int, metavar="K",
                        help="independent starts to choose the best from")
    parser.add_argument("--seed", type=int, metavar="S",
                        help="random seed (same seed, same SVG on CPU)")
    parser.add_argument("--prompt", metavar="TEXT",
                        help="optional text the sketch should also match")
    parser.add_argument(
        "--precision", default="auto", choices=PRECISION_NAMES,
        help="the precision CLIP runs in: auto (default: fp16 on CUDA, fp32 elsewhere), fp32 "
        "(float32 throughout) or fp16")
    parser.add_argument("--force", action="store_true",
                        help="in a batch, redo sketches that are already up to date")
    parser.add_argument(
        "--mask", default="none", metavar="none|alpha|auto|FILE",
        help="object mask, background turned white: none (default), alpha (the photo's own "
        "transparency), auto (salient-object network, needs the [mask] extra) or a mask image "
        "(one photo only)")
    add_device_argument(parser)
    add_model_arguments(parser)


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """``--device``, once: the device a command's one Sketcher loads on."""
    parser.add_argument("--device", default="auto", type=device_name, metavar="NAME",
                        help="auto, cpu, cuda, cuda:N or mps (default auto)")


# Each model flag's environment variable: an offline machine names its files once rather than
# on every sketch, evaluate, serve and worker. A flag given wins over its variable.
MODEL_VARIABLES = {
    "--loss-model": "SKETCHIFY_LOSS_MODEL",
    "--loss-weights": "SKETCHIFY_LOSS_WEIGHTS",
    "--saliency-model": "SKETCHIFY_SALIENCY_MODEL",
    "--saliency-weights": "SKETCHIFY_SALIENCY_WEIGHTS",
}


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The model flags every command that loads a Sketcher shares (``models_from`` reads
    them), the four CLIP ones defaulting to their environment variables (``MODEL_VARIABLES``)."""
    default = Models()
    quick = ("; a bare OpenAI checkpoint (a state dict, such as the Hugging Face file) needs "
             "the -quickgelu name ({}-quickgelu); OpenAI's own .pt files are recognised and "
             "get QuickGELU under either name")
    helps = {
        "--loss-model": "the loss model: open_clip model name or config JSON"
                        + quick.format(default.loss_model),
        "--loss-weights": "the loss model's weights: pretrained tag (openai: downloaded once, "
                          "then cached) or a checkpoint file",
        "--saliency-model": "the saliency model: open_clip model name or config JSON"
                            + quick.format(default.saliency_model),
        "--saliency-weights": "the saliency model's weights: pretrained tag or a checkpoint "
                              "file",
    }
    for flag, variable in MODEL_VARIABLES.items():
        fallback = getattr(default, flag[2:].replace("-", "_"))
        parser.add_argument(
            flag, default=os.environ.get(variable) or fallback,
            metavar="NAME|JSON" if flag.endswith("model") else "TAG|FILE",
            help=f"{helps[flag]} (default: ${variable} if set, else {fallback})")
    parser.add_argument("--mask-model", default=default.mask_model, metavar="FILE",
                        help="u2net ONNX file for auto masks (default: rembg's cache)")


def models_from(args: argparse.Namespace) -> Models:
    """The models ``add_model_arguments`` flags name."""
    return Models(args.loss_model, args.loss_weights, args.saliency_model,
                  args.saliency_weights, args.mask_model)


def request_from(args: argparse.Namespace, start: Start | None = None,
                 plot: PlotSettings | None = None) -> Request:
    """What the sketch flags ask of the batch runner (it imports the engine: after the checks);
    ``start``: the strokes of ``--start`` and ``plot``: the plot settings, read by the checks."""
    from sketchify.core.commands.batch import Request

    overrides = {name: getattr(args, name) for name in OVERRIDES
                 if getattr(args, name) is not None}
    execution = Execution(**{name: getattr(args, name) for name in EXECUTION_OVERRIDES
                             if getattr(args, name) is not None})
    return Request(args.device, args.preset, overrides, models_from(args), args.mask, args.force,
                   execution, start, plot)


def run_sketch(args: argparse.Namespace) -> int:
    photos, batch = find_photos(args.photos)
    if not batch:  # a batch reports a photo that is not an image and goes on
        check_photo(photos[0])
    if batch and args.output is not None:
        raise InputError("-o names the SVG of one photo; for several photos use --out-dir.",
                         field="output")
    for flag, path, suffix, what in (("--sheet", args.sheet, ".png", "a PNG image"),
                                     ("--animate", args.animate, ".svg", "an SVG"),
                                     ("--timelapse", args.timelapse, ".gif", "a GIF")):
        check_extra(flag, path, suffix, what, batch)
    check_mask_option(args.mask, batch)
    start = read_start(args.start, args.lock, photos[0], args.strokes, batch)
    plot = plot_option(args.plot, args.size, args.page, args.pen)
    jobs = [PhotoJob(photo, output_paths(photo, args.strokes, args.output, args.out_dir))
            for photo in photos]
    check_outputs(jobs, made_inside=args.out_dir)
    animate, timelapse = ({} if path is None else output_paths(photos[0], args.strokes, path)
                          for path in (args.animate, args.timelapse))
    taken = {os.path.abspath(path) for job in jobs for path in job.outputs.values()}
    for flag, paths in (("--sheet", [args.sheet] if args.sheet else []),
                        ("--animate", animate.values()), ("--timelapse", timelapse.values())):
        for path in paths:
            if os.path.abspath(path) in taken:
                raise InputError(f"{flag} would overwrite {path}, which another output of this "
                                 "run is written to: name another file.", field=flag[2:])
            taken.add(os.path.abspath(path))

    # The engine, torch and the models from here on.
    from sketchify.core.commands import batch as runner

    outcome = runner.run(jobs, request_from(args, start, plot), batch=batch,
                         extras=runner.Extras(args.sheet, animate, timelapse))
    if batch:
        print(outcome.summary(), file=sys.stderr)
    return exit_code(outcome)


def check_extra(flag: str, path: Path | None, suffix: str, what: str, batch: bool) -> None:
    """A file made besides the SVGs (``--sheet``, ``--animate``, ``--timelapse``): of one
    photo, named with its suffix, in a folder that can be written."""
    if path is None:
        return
    field = flag[2:]
    if batch:
        raise InputError(f"{flag} draws one photo; give it a single photo.", field=field)
    if path.suffix.lower() != suffix:
        raise InputError(f"{flag} writes {what}: name it *{suffix}, not {path}.", field=field)
    check_folder(path.parent, field=field)


def exit_code(outcome: BatchOutcome) -> int:
    if outcome.canceled:
        return CANCELED_EXIT
    return FAILED_EXIT if outcome.failed else 0


def run_evaluate(args: argparse.Namespace) -> int:
    from sketchify.core.commands.dataset import plan_dataset  # torch-free: the checks come first

    jobs = plan_dataset(args.dataset, args.out_dir, args.strokes)
    check_mask_option(args.mask, batch=True)
    check_outputs(jobs, made_inside=args.out_dir)
    if args.json is not None:
        check_folder(args.json.parent, field="json")

    from sketchify.core.commands.evaluate import evaluate

    return exit_code(evaluate(jobs, request_from(args), args.strokes, args.json))
