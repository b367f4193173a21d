"""The data folder's disk: atomic file writes, telling a full disk from other failures, and a
small reserve that keeps room for recording jobs' outcomes once the disk has filled up.

A full disk must never turn into a 500 or a job stuck 'running': new work is refused (507)
while free space is under a threshold, and the reserve file is given up at the moment an
outcome (failed, canceled, requeued) cannot be written, so that write still succeeds.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from sketchify.core.output.files import write_all

RESERVE_BYTES = 256 * 1024  # a few dozen SQLite commits: enough to record outcomes
RESERVE_NAME = "disk-reserve"
# The error of a job that ran to its end but whose result did not fit on the disk.
RESULT_NOT_STORED = ("The server's disk is full, so this job's result could not be stored; "
                     "free space on the server and submit it again.")
T = TypeVar("T")


class DiskFullError(OSError):
    """No space left for the data folder; ``str()`` is one sentence for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.ENOSPC, message)

    def __str__(self) -> str:
        return self.strerror


def is_disk_full(error: BaseException) -> bool:
    """An OSError for no space / over quota, or SQLite's SQLITE_FULL."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    if isinstance(error, sqlite3.OperationalError):
        # sqlite_errorcode only exists from Python 3.11; the message is SQLite's own text.
        return getattr(error, "sqlite_errorcode", None) == 13 or "disk is full" in str(error)
    return False


def _megabytes(n: float) -> str:
    return f"{n / 2**20:.1f} MB"


@contextlib.contextmanager
def full_disk_as_error() -> Iterator[None]:
    """Turn any disk-full failure inside into a DiskFullError that says so."""
    try:
        yield
    except DiskFullError:
        raise
    except (OSError, sqlite3.OperationalError) as error:
        if not is_disk_full(error):
            raise
        raise DiskFullError("The server's disk is full (no space left in its data folder); "
                            "free some space there.") from error


def write_atomic(path: Path, data: bytes) -> None:
    """Readers see the old file or the whole new one, never a torn write, even after a crash
    or a full disk (the partial temporary file is removed then)."""
    with full_disk_as_error():
        write_all({path: data}, durable=True)


class DiskSpace:
    """Free space of the data folder, the threshold for new work, and the reserve file."""

    def __init__(self, folder: Path, min_free_bytes: int,
                 reserve_bytes: int = RESERVE_BYTES) -> None:
        self.folder = folder
        self.min_free_bytes = min_free_bytes
        self.reserve_bytes = reserve_bytes
        self.reserve = folder / RESERVE_NAME
        self._lock = threading.Lock()

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.folder).free

    def accepting(self) -> bool:
        """Whether new work fits: the reserve is in place (re-made once there is room again)
        and at least ``min_free_bytes`` are free besides."""
        return self._refusal() is None

    def check(self) -> None:
        """Raise DiskFullError (one sentence: how much is free, how much is needed) when new
        work must be refused."""
        reason = self._refusal()
        if reason is not None:
            raise DiskFullError(reason)

    def _refusal(self) -> str | None:
        with self._lock:
            free = self.free_bytes()
            if not self.reserve.exists():
                if free < self.reserve_bytes + self.min_free_bytes:
                    return self._full(free)
                try:
                    write_atomic(self.reserve, bytes(self.reserve_bytes))
                except DiskFullError:  # something else took the space meanwhile
                    return self._full(self.free_bytes())
                free = self.free_bytes()
            return self._full(free) if free < self.min_free_bytes else None

    def _full(self, free: int) -> str:
        needed = self.min_free_bytes + (0 if self.reserve.exists() else self.reserve_bytes)
        return (f"The server's disk is full ({_megabytes(free)} free in its data folder, "
                f"{_megabytes(needed)} needed); new sketches are refused until space is freed.")

    def essential(self, write: Callable[[], T]) -> T:
        """Run a write that must land (a job's outcome); on a full disk give up the reserve
        and try once more."""
        try:
            return write()
        except DiskFullError:
            # Tried once more even when another write gave up the reserve a moment ago: that
            # space may be what this one needs.
            with self._lock:
                self.reserve.unlink(missing_ok=True)
            return write()
