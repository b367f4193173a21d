"""Command-line checks that need no torch, so that a usage error answers at once.

Importing torch and open_clip takes seconds; a mistyped stroke count, preset, device or path
must not wait for it. Everything here runs before the engine is imported: the argparse types of
the flags, finding the photos, and planning (and checking) where every SVG will go.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sketchify.core import config
from sketchify.core.config import NAMED_MASK_MODES, PHOTO_SUFFIXES
from sketchify.core.errors import InputError
from sketchify.core.output.plot_settings import PlotSettings, length_mm, pen_width, plot_settings

if TYPE_CHECKING:
    from sketchify.core.given.strokes import Start

_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def stroke_counts(text: str) -> tuple[int, ...]:
    """The argparse type of ``--strokes``: "16,4,8" -> (4, 8, 16)."""
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"takes whole numbers separated by commas, got {text!r}") from None
    try:
        return config.stroke_counts(counts)
    except InputError as exc:  # argparse puts the flag's name before its message
        message = str(exc).rstrip(".")
        raise argparse.ArgumentTypeError(message[0].lower() + message[1:]) from None


def positive_int(text: str) -> int:
    """The argparse type of ``--steps`` and ``--seeds``."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return value


def device_name(text: str) -> str:
    """The argparse type of ``--device``: the spelling only (whether it exists needs torch)."""
    if not _DEVICE.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"unknown device {text!r}; use auto, cpu, cuda, cuda:N or mps")
    return text


def find_photos(paths: Sequence[Path]) -> tuple[list[Path], bool]:
    """The photos the command line names, a folder giving its photos one level deep (by
    suffix; hidden files are left out), and whether this is a batch (a folder or several)."""
    photos: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file()
                           and not p.name.startswith(".") and p.suffix.lower() in PHOTO_SUFFIXES)
            if not found:
                raise InputError(f"The folder {path} holds no photos "
                                 f"({', '.join(sorted(PHOTO_SUFFIXES))}).", field="image")
            photos += found
        elif path.is_file():
            photos.append(path)
        else:
            raise InputError(f"Image file not found: {path}.", field="image")
    seen: set[Path] = set()
    unique = []
    for photo in photos:  # the same photo named twice is sketched once
        if photo.resolve() not in seen:
            seen.add(photo.resolve())
            unique.append(photo)
    return unique, len(paths) > 1 or any(p.is_dir() for p in paths)


@dataclass
class PhotoJob:
    """One photo and the SVG each stroke count goes to; ``todo``: the counts still to sketch."""

    photo: Path
    outputs: dict[int, Path]
    todo: tuple[int, ...] = field(default=())
    label: str = ""  # evaluate's class name


def output_paths(photo: Path, counts: Iterable[int], output: Path | None = None,
                 out_dir: Path | None = None) -> dict[int, Path]:
    """Where each count's SVG goes: ``output`` (several counts: ``out.16.svg``), else
    ``<stem>.<count>.svg`` in ``out_dir`` or beside the photo."""
    counts = tuple(counts)
    if output is not None:
        if len(counts) == 1:
            return {counts[0]: output}
        return {n: output.with_name(f"{output.stem}.{n}{output.suffix or '.svg'}") for n in counts}
    folder = out_dir if out_dir is not None else photo.parent
    return {n: folder / f"{photo.stem}.{n}.svg" for n in counts}


def check_outputs(jobs: Sequence[PhotoJob], made_inside: Path | None = None) -> None:
    """Refuse, before anything runs, two photos that would write the same file, and output
    folders that cannot be written. Only folders inside ``made_inside`` (``--out-dir``) may
    be missing: they are made when the first SVG is written."""
    owners: dict[Path, Path] = {}
    for job in jobs:
        for path in job.outputs.values():
            other = owners.setdefault(Path(os.path.abspath(path)), job.photo)
            if other != job.photo:
                raise InputError(
                    f"{other} and {job.photo} would both be written to {path}; rename one of "
                    "them or sketch them into different folders (--out-dir).", field="output")
    root = Path(os.path.abspath(made_inside)) if made_inside is not None else None
    for folder in sorted({path.parent for path in owners}):
        may_make = root is not None and (folder == root or root in folder.parents)
        check_folder(folder, may_make=may_make, field="output")


def check_folder(folder: Path, *, may_make: bool = False, field: str) -> None:
    """``folder`` is a writable folder (or, with ``may_make``, can be made inside one)."""
    existing = folder
    while may_make and not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.exists():
        raise InputError(f"The output folder {folder} does not exist.", field=field)
    if not existing.is_dir():
        raise InputError(f"Cannot write into {folder}: {existing} is not a folder.", field=field)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"Cannot write into {folder}: {existing} is not writable.", field=field)


def check_photo(photo: Path) -> None:
    """A single photo is an image Sketchify reads (its header, by Pillow), said with its name:
    a text file renamed .jpg answers here rather than after torch has loaded."""
    from sketchify.core.photo.image import check_header  # Pillow and numpy, no torch

    try:
        check_header(photo)
    except InputError as exc:
        raise InputError(f"{photo}: {exc}", field=exc.field) from None


def read_start(path: Path | None, lock: bool, photo: Path, counts: Sequence[int],
               batch: bool) -> Start | None:
    """``--start FILE.svg [--lock]``: every path of an SVG laid over the one photo, read and
    checked against it (its size after EXIF orientation, the counts asked) before torch loads."""
    from sketchify.core.given.strokes import from_svg
    from sketchify.core.photo.image import oriented_size  # Pillow, no torch

    if path is None:
        if lock:
            raise InputError("--lock locks the strokes of --start; give --start FILE.svg too.",
                             field="start")
        return None
    if batch:
        raise InputError("--start draws over one photo; give it a single photo.", field="start")
    try:
        size = oriented_size(photo)
        start = from_svg(path.read_bytes(), *size, lock=lock)
        start.check(*size, counts)
    except OSError as exc:
        raise InputError(f"--start {path}: cannot read it ({exc.strerror or exc}).",
                         field="start") from None
    except InputError as exc:
        if exc.field != "start":
            raise
        raise InputError(f"--start {path}: {exc}.", field="start") from None
    return start


def check_mask_option(value: str, batch: bool) -> None:
    """``--mask none|alpha|auto|FILE``: a mask image must exist, and it masks one photo."""
    if value in NAMED_MASK_MODES:
        return
    if batch:
        raise InputError("--mask FILE masks one photo; for several photos use --mask alpha or "
                         "--mask auto.", field="mask")
    if not Path(value).is_file():
        raise InputError(f"Mask image not found: {value} (--mask takes none, alpha, auto or "
                         "the path of a mask image).", field="mask_image")


def plot_option(plot: bool, size: str | None, page: str | None, pen: str | None
                ) -> PlotSettings | None:
    """``--plot`` with its ``--size``/``--page`` and ``--pen``, checked; None without --plot."""
    given = [flag for flag, value in (("--size", size), ("--page", page), ("--pen", pen))
             if value is not None]
    if not plot:
        if given:
            raise InputError(f"{given[0]} sizes the plot-ready SVG: add --plot.", field="plot")
        return None
    if size is not None and page is not None:
        raise InputError("--size and --page both size the drawing: give one of them.",
                         field="plot")
    size_mm = None if size is None else length_mm(size, "--size")
    pen_mm = None if pen is None else pen_width(length_mm(pen, "--pen"), "--pen")
    return plot_settings(size_mm=size_mm, page=page, pen_mm=pen_mm)
