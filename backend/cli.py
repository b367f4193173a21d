"""The `sketchify` command: a small dispatcher over subcommands."""

from __future__ import annotations

import argparse

from sketchify.backend.serve import add_serve_command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sketchify", description="Photo to line sketch.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_serve_command(subparsers)
    args = parser.parse_args(argv)
    return args.func(args)
