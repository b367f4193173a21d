"""The photos `sketchify evaluate` reads: one sub-folder per class. Torch-free, so that a bad
folder is reported at once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sketchify.core.commands.preflight import PhotoJob, find_photos, output_paths
from sketchify.core.errors import InputError


def class_name(folder: Path) -> str:
    """The class a folder holds: its name with ``_`` read as a space ("tennis_racket")."""
    return folder.name.replace("_", " ").strip()


def plan_dataset(root: Path, out_dir: Path, counts: Sequence[int]) -> list[PhotoJob]:
    """One job per photo, labelled with its class, sketching into ``out_dir/<folder>/``."""
    if not root.is_dir():
        raise InputError(f"{root} is not a folder of class folders.", field="dataset")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    names = [class_name(folder) for folder in folders]
    if len(set(names)) < 2:
        raise InputError(f"{root} needs at least two class folders (one per class, holding its "
                         f"photos); found {len(set(names))}.", field="dataset")
    if len(set(names)) < len(names):
        raise InputError(f"Two folders of {root} give the same class name; rename one.",
                         field="dataset")
    jobs = []
    for folder, name in zip(folders, names, strict=True):
        photos, _ = find_photos([folder])
        jobs += [PhotoJob(photo, output_paths(photo, counts, out_dir=out_dir / folder.name),
                          label=name)
                 for photo in photos]
    return jobs
