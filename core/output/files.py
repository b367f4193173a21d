"""Writing files atomically, with the permissions of any file the user creates: readers see
the old file or the whole new one, never a torn write."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def write_all(files: dict[Path, str | bytes], *, durable: bool = False) -> None:
    """Write every file or none: each goes to a temporary file beside it, then all are renamed
    into place. Missing folders are made first. ``durable``: the data and the new names are on
    the disk before this returns, so that even a crash leaves the old file or the whole new one.
    """
    temps: dict[Path, Path] = {}
    try:
        for path, content in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            temp, f = _create_beside(path)
            temps[path] = temp
            with f:
                f.write(content.encode("utf-8") if isinstance(content, str) else content)
                if durable:
                    f.flush()
                    os.fsync(f.fileno())
        for path, temp in temps.items():
            os.replace(temp, path)
        if durable:
            for folder in {path.parent for path in files}:
                fsync_dir(folder)
    finally:
        for temp in temps.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)


def fsync_dir(path: Path) -> None:
    if os.name == "posix":  # a directory entry is durable only once its directory is synced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _create_beside(path: Path):
    """A new hidden file in ``path``'s folder, created exclusively (never an existing file).
    open() asks for mode 0666 and the umask takes its share (0644 under the usual 022), as for
    any file the user creates; tempfile.mkstemp would make every result private (0600)."""
    while True:
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return temp, open(temp, "xb")
        except FileExistsError:
            continue
