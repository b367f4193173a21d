"""Writing result files atomically, with the permissions of any file the user creates."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

# What open() asks for; the umask takes its share (0644 under the usual 022). tempfile.mkstemp
# would make every result private (0600) whatever the umask says.
FILE_MODE = 0o666


def write_all(files: dict[Path, str | bytes]) -> None:
    """Write every file or none: each goes to a temporary file beside it, then all are renamed
    into place. Missing folders are made first."""
    temps: dict[Path, Path] = {}
    try:
        for path, content in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            temp, fd = _create_beside(path)
            temps[path] = temp
            data = content.encode("utf-8") if isinstance(content, str) else content
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        for path, temp in temps.items():
            os.replace(temp, path)
    finally:
        for temp in temps.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)


def _create_beside(path: Path) -> tuple[Path, int]:
    """A new hidden file in ``path``'s folder, created exclusively (never an existing file)."""
    while True:
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return temp, os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            continue
