"""The `sketchify` command: a small dispatcher over subcommands."""

from __future__ import annotations

import argparse
import importlib.metadata
import sys

from sketchify.backend.serve import add_serve_command
from sketchify.backend.worker import add_worker_command
from sketchify.core.commands.cli import (
    CANCELED_EXIT,
    add_evaluate_command,
    add_sketch_command,
    negative_lengths_joined,
)
from sketchify.core.errors import SketchifyError
from sketchify.core.output.provenance import package_version

USAGE_ERROR = 2


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (exit 2), like every other bad input."""

    def error(self, message: str) -> None:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="sketchify", description="Photos to editable line sketches.")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {package_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_sketch_command(subparsers)
    add_evaluate_command(subparsers)
    add_serve_command(subparsers)
    add_worker_command(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(
            negative_lengths_joined(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # usage errors and --help: report the code, don't exit
        return exc.code
    try:
        return args.run(args)
    except SketchifyError as exc:
        print(f"sketchify: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except RuntimeError as exc:
        if not is_torch_pair_mismatch(exc):
            raise
        print(f"sketchify: error: {torch_pair_advice()}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        # A second Ctrl-C, or one before the first step: what a batch finished stays written.
        print("sketchify: interrupted; nothing more written.", file=sys.stderr)
        return CANCELED_EXIT


def is_torch_pair_mismatch(exc: RuntimeError) -> bool:
    """What importing a torchvision built for another torch raises (open_clip imports it):
    ``operator torchvision::nms does not exist``, with a 40-line traceback."""
    return "torchvision::" in str(exc) and "does not exist" in str(exc)


def torch_pair_advice() -> str:
    """One sentence naming both installed versions and the fix (read from the packages'
    metadata: torchvision itself cannot be imported)."""
    torch, vision = (importlib.metadata.version(name) for name in ("torch", "torchvision"))
    return (f"torch {torch} and torchvision {vision} are not a matching pair (this torchvision "
            "was built for another torch), so the models cannot load; reinstall both in one "
            "command: pip install --force-reinstall torch torchvision --index-url "
            "https://download.pytorch.org/whl/cpu (leave out --index-url on a machine with an "
            "NVIDIA GPU).")


if __name__ == "__main__":
    sys.exit(main())
